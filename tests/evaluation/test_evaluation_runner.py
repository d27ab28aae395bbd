"""Tests for t2s.evaluation.runner: parallel scoring, determinism, reports on disk."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from conftest import GOLD_AND_PRED, make_dataset
from t2s.config import EvalConfig
from t2s.errors import DataError, InputError
from t2s.evaluation.inputs import GoldExample, read_gold, read_predictions
from t2s.evaluation.runner import evaluate_predictions, score_examples


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = make_dataset(tmp_path / "data")
    (root / "gold.sql").write_text("".join(f"{g}\t{db}\n" for g, db, _ in GOLD_AND_PRED),
                                   encoding="utf-8")
    (root / "pred.sql").write_text("".join(f"{p}\n" for _, _, p in GOLD_AND_PRED),
                                   encoding="utf-8")
    return root


def _run(dataset: Path, workers: int, **options: object) -> list[dict[str, object]]:
    from t2s.data.spider import load_tables

    gold = read_gold(dataset / "gold.sql")
    preds = read_predictions(dataset / "pred.sql", gold)
    results = score_examples(gold, preds, db_dir=dataset / "database",
                             schemas=load_tables(dataset / "tables.json"),
                             options=EvalConfig(timeout_s=0.5, **options),  # type: ignore[arg-type]
                             workers=workers, progress=False)
    return [r.to_dict() for r in results]


def test_verdicts_and_errors_per_example(dataset: Path) -> None:
    results = _run(dataset, workers=1)
    assert [r["index"] for r in results] == list(range(len(GOLD_AND_PRED)))
    assert [r["execution_match"] for r in results] == [
        True, False, True, True, False, False, False, False, True, False]
    assert [r["error"] for r in results] == [
        None, "wrong_result", None, None, "unknown_column", "unknown_table",
        "empty_prediction", "parse_error", None, "timeout"]
    assert results[0]["exact_match"] is True and results[1]["exact_match"] is False
    assert {r["hardness"] for r in results} <= {"easy", "medium", "hard", "extra"}
    assert all(isinstance(r["category"], str) and r["category"] for r in results)


def test_results_do_not_depend_on_the_number_of_workers(dataset: Path) -> None:
    one = _run(dataset, workers=1)
    two = _run(dataset, workers=2)
    assert one == two


def test_match_only_and_exec_only_leave_the_other_metric_unscored(dataset: Path) -> None:
    match_only = _run(dataset, workers=1, etype="match")
    assert all(r["execution_match"] is None for r in match_only)
    assert all(isinstance(r["exact_match"], bool) for r in match_only)
    exec_only = _run(dataset, workers=1, etype="exec")
    assert all(r["exact_match"] is None for r in exec_only)


def test_evaluate_predictions_writes_both_reports_with_fingerprints(dataset: Path,
                                                                    tmp_path: Path) -> None:
    gold_path, pred_path = dataset / "gold.sql", dataset / "pred.sql"
    gold = read_gold(gold_path)
    out = tmp_path / "out" / "REPORT.json"
    report = evaluate_predictions(
        gold, read_predictions(pred_path, gold), db_dir=dataset / "database",
        tables_path=dataset / "tables.json", options=EvalConfig(timeout_s=0.5), out_path=out,
        gold_path=gold_path, pred_path=pred_path, model={"adapter": "x", "decoding": "greedy"},
        workers=1, progress=False)
    on_disk = json.loads(out.read_text(encoding="utf-8"))
    assert on_disk == report
    assert (tmp_path / "out" / "REPORT.md").read_text(encoding="utf-8").startswith("# Evaluation")
    # atomic writes leave no temporary files behind
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["REPORT.json", "REPORT.md"]
    manifest = report["manifest"]
    assert manifest["data"]["gold"]["sha256"] == hashlib.sha256(gold_path.read_bytes()).hexdigest()
    assert set(manifest["data"]["databases"]) == {"shop", "shelf"}
    assert manifest["flags"] == {"etype": "all", "keep_distinct": False, "timeout_s": 0.5,
                                 "max_rows": 100_000, "max_result_bytes": 64 * 1024 * 1024}
    assert manifest["model"] == {"adapter": "x", "decoding": "greedy"}
    summary = report["summary"]
    assert summary["count"] == len(GOLD_AND_PRED)
    assert {k: summary["execution"][k] for k in ("correct", "accuracy")} == {
        "correct": 4, "accuracy": 0.4}
    low, high = summary["execution"]["ci95"]
    assert low < 0.4 < high
    assert summary["errors"]["timeout"] == 1
    assert set(summary["by_database"]) == {"shop", "shelf"}


def test_a_memory_bomb_is_scored_result_too_large_and_the_run_completes(dataset: Path,
                                                                       tmp_path: Path) -> None:
    gold = read_gold(dataset / "gold.sql")
    bomb = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 5000) "
            "SELECT zeroblob(1000000) FROM n")
    preds = [bomb, *[g.gold for g in gold[1:]]]
    report = evaluate_predictions(gold, preds, db_dir=dataset / "database",
                                  tables_path=dataset / "tables.json",
                                  options=EvalConfig(max_result_bytes=16 * 1024 * 1024),
                                  out_path=tmp_path / "REPORT.json", workers=1, progress=False)
    first = report["examples"][0]
    assert first["execution_match"] is False and first["error"] == "result_too_large"
    assert report["summary"]["errors"]["result_too_large"] == 1
    assert all(e["execution_match"] for e in report["examples"][1:])
    assert (tmp_path / "REPORT.json").is_file()


def test_evaluate_predictions_checks_inputs_before_scoring(dataset: Path) -> None:
    gold = read_gold(dataset / "gold.sql")
    with pytest.raises(InputError, match="9 predictions for 10 gold"):
        evaluate_predictions(gold, ["SELECT 1"] * 9, db_dir=dataset / "database",
                             tables_path=dataset / "tables.json", progress=False)
    missing = [*gold[:2], GoldExample(2, "nowhere", "SELECT 1", None, "2", 3)]
    with pytest.raises(InputError, match=r"gold:3: db_id 'nowhere' is not in .*tables\.json"):
        evaluate_predictions(missing, ["SELECT 1"] * 3, db_dir=dataset / "database",
                             tables_path=dataset / "tables.json", progress=False)


def test_spider_dev_sample_is_deterministic_across_workers(spider_dir: Path) -> None:
    from t2s.data.spider import load_tables

    gold = [g for g in read_gold(spider_dir / "dev_gold.sql")[:200]
            if (spider_dir / "database" / g.db_id).is_dir()][:80]
    # Every third prediction is the gold with its first number bumped: some
    # stay right, most turn wrong.
    preds = [g.gold.replace("1", "2", 1) if i % 3 == 0 else g.gold for i, g in enumerate(gold)]
    schemas = load_tables(spider_dir / "tables.json")
    runs = [[r.to_dict() for r in score_examples(gold, preds, db_dir=spider_dir / "database",
                                                 schemas=schemas, options=EvalConfig(),
                                                 workers=workers, progress=False)]
            for workers in (1, 2)]
    assert runs[0] == runs[1]
    assert all(r["execution_match"] for i, r in enumerate(runs[0]) if i % 3)


def _add_schemas_without_files(dataset: Path, *db_ids: str) -> None:
    """Give tables.json entries (copies of shop's) for db_ids that have no SQLite file."""
    tables = json.loads((dataset / "tables.json").read_text(encoding="utf-8"))
    tables += [{**tables[0], "db_id": db_id} for db_id in db_ids]
    (dataset / "tables.json").write_text(json.dumps(tables), encoding="utf-8")


def _with_missing(dataset: Path) -> tuple[list[GoldExample], list[str]]:
    """The 10 examples plus 2 on 'attic' and 1 on 'cellar', which have schemas but no files."""
    _add_schemas_without_files(dataset, "attic", "cellar")
    gold = read_gold(dataset / "gold.sql")
    preds = read_predictions(dataset / "pred.sql", gold)
    extra = [("attic", "SELECT count(*) FROM item"), ("cellar", "SELECT name FROM item"),
             ("attic", "SELECT kind FROM item")]
    gold += [GoldExample(len(gold) + i, db_id, sql, None, str(len(gold) + i), len(gold) + i + 1)
             for i, (db_id, sql) in enumerate(extra)]
    return gold, preds + [sql for _, sql in extra]


def test_missing_databases_are_all_listed_and_name_the_flag(dataset: Path) -> None:
    gold, preds = _with_missing(dataset)
    for etype in ("all", "exec"):
        with pytest.raises(InputError) as caught:
            evaluate_predictions(gold, preds, db_dir=dataset / "database",
                                 tables_path=dataset / "tables.json",
                                 options=EvalConfig(etype=etype), progress=False)
        message = str(caught.value)
        assert "for 2 db_ids" in message and "--skip-missing-db" in message
        assert "attic (2 examples, first at gold:11)" in message
        assert "cellar (1 example, first at gold:12)" in message


def test_exact_match_needs_no_database_file(dataset: Path) -> None:
    gold, preds = _with_missing(dataset)
    report = evaluate_predictions(gold, preds, db_dir=dataset / "database",
                                  tables_path=dataset / "tables.json",
                                  options=EvalConfig(etype="match"), workers=1, progress=False)
    assert [e["exact_match"] for e in report["examples"][10:]] == [True, True, True]
    assert report["manifest"]["data"]["missing_databases"] == ["attic", "cellar"]
    assert set(report["manifest"]["data"]["databases"]) == {"shop", "shelf"}
    assert report["summary"]["execution_skipped"] == {"examples": 0, "db_ids": []}


def test_skip_missing_db_leaves_only_their_execution_unscored(dataset: Path) -> None:
    from t2s.evaluation.compare import compare_reports
    from t2s.evaluation.report import format_summary, render_markdown

    gold, preds = _with_missing(dataset)
    full = evaluate_predictions(gold[:10], preds[:10], db_dir=dataset / "database",
                                tables_path=dataset / "tables.json",
                                options=EvalConfig(timeout_s=0.5), workers=1, progress=False)
    reports = [evaluate_predictions(gold, preds, db_dir=dataset / "database",
                                    tables_path=dataset / "tables.json",
                                    options=EvalConfig(timeout_s=0.5), workers=workers,
                                    progress=False, skip_missing_db=True)
               for workers in (1, 2)]
    assert reports[0]["examples"] == reports[1]["examples"]
    report = reports[0]
    kept, skipped = report["examples"][:10], report["examples"][10:]
    assert kept == full["examples"]  # the other examples are scored exactly as before
    assert all(e["execution_match"] is None and e["execution_skipped"] for e in skipped)
    assert [e["exact_match"] for e in skipped] == [True, True, True]
    summary = report["summary"]
    assert summary["execution_skipped"] == {"examples": 3, "db_ids": ["attic", "cellar"]}
    assert summary["execution"] == full["summary"]["execution"]  # over the 10 executed
    assert summary["exact_match"]["correct"] == full["summary"]["exact_match"]["correct"] + 3
    assert report["manifest"]["data"]["missing_databases"] == ["attic", "cellar"]
    warning = "execution skipped for 3 examples with no SQLite database (attic, cellar"
    assert f"warning: {warning}" in format_summary(report)
    assert "## Warnings" in render_markdown(report) and warning in render_markdown(report)
    # Two such reports pair only the examples both executed.
    assert compare_reports(report, reports[1], "execution").count == 10


def test_unknown_or_unsafe_db_ids_stay_errors_whatever_the_mode(dataset: Path) -> None:
    gold = read_gold(dataset / "gold.sql")[:2]
    for db_id, expected in (("nowhere", r"gold:3: db_id 'nowhere' is not in"),
                            ("../shop", r"'\.\./shop'")):
        bad = [*gold, GoldExample(2, db_id, "SELECT 1", None, "2", 3)]
        for etype in ("all", "match"):
            with pytest.raises(InputError, match=expected):
                evaluate_predictions(bad, ["SELECT 1"] * 3, db_dir=dataset / "database",
                                     tables_path=dataset / "tables.json",
                                     options=EvalConfig(etype=etype), progress=False,
                                     skip_missing_db=True)


@pytest.mark.parametrize("content", [b"id,name\n1,pen\n", b""])
def test_a_database_that_is_not_sqlite_fails_before_scoring(dataset: Path,
                                                            content: bytes) -> None:
    (dataset / "database" / "shelf" / "shelf.sqlite").write_bytes(content)
    gold = read_gold(dataset / "gold.sql")
    preds = read_predictions(dataset / "pred.sql", gold)
    for workers in (1, 2):
        with pytest.raises(DataError, match=r"not a SQLite database: .*shelf\.sqlite \("):
            evaluate_predictions(gold, preds, db_dir=dataset / "database",
                                 tables_path=dataset / "tables.json", workers=workers,
                                 progress=False)
    # Exact match does not open the databases.
    report = evaluate_predictions(gold, preds, db_dir=dataset / "database",
                                  tables_path=dataset / "tables.json",
                                  options=EvalConfig(etype="match"), workers=1, progress=False)
    assert report["summary"]["exact_match"] is not None


# Spider's grammar has no IN-list of literals: this gold query runs but cannot be parsed.
UNPARSABLE_GOLD = "SELECT name FROM item WHERE kind IN ('office', 'wood')"


@pytest.mark.parametrize("etype", ["all", "match", "exec"])
def test_gold_parse_failures_are_visible_in_every_mode(dataset: Path, etype: str) -> None:
    from t2s.evaluation.report import format_summary, render_markdown

    gold = read_gold(dataset / "gold.sql")[:3]
    gold[1] = GoldExample(1, "shelf", UNPARSABLE_GOLD, None, "1", 2)
    preds = ["SELECT count(*) FROM item", UNPARSABLE_GOLD, "SELECT 1"]
    report = evaluate_predictions(gold, preds, db_dir=dataset / "database",
                                  tables_path=dataset / "tables.json",
                                  options=EvalConfig(etype=etype, timeout_s=0.5), workers=1,
                                  progress=False)
    examples = report["examples"]
    assert examples[1]["gold_parse_error"] == "parse error: expected ')', found ','"
    assert examples[1]["hardness"] == "unknown"
    assert examples[0]["gold_parse_error"] is None and examples[2]["gold_parse_error"] is None
    if etype != "match":  # the prediction itself is right by execution, so error is None
        assert examples[1]["execution_match"] is True and examples[1]["error"] is None
    if etype != "exec":
        assert examples[1]["exact_match"] is False
    assert report["summary"]["gold_parse_errors"] == 1
    warning = "1 gold query cannot be parsed by the Spider parser"
    assert f"warning: {warning}" in format_summary(report)
    assert warning in render_markdown(report)
