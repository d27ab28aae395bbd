"""Tests for ``t2s evaluate`` and its input readers: formats, bad input, reports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import GOLD_AND_PRED, make_dataset
from t2s.cli import main
from t2s.errors import InputError
from t2s.evaluation.inputs import read_gold, read_predictions
from t2s.jsonio import MAX_LINE_BYTES


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = make_dataset(tmp_path / "data")
    (root / "gold.sql").write_text("".join(f"{g}\t{db}\n" for g, db, _ in GOLD_AND_PRED),
                                   encoding="utf-8")
    (root / "pred.sql").write_text("".join(f"{p}\n" for _, _, p in GOLD_AND_PRED),
                                   encoding="utf-8")
    records = [{"question": f"question {i}?", "query": g, "db_id": db, "id": f"q{i}"}
               for i, (g, db, _) in enumerate(GOLD_AND_PRED)]
    (root / "dev.json").write_text(json.dumps(records), encoding="utf-8")
    return root


def _args(data: Path, out: Path, gold: str = "gold.sql", pred: str = "pred.sql",
          *extra: str) -> list[str]:
    """The command line; ``extra`` flags first, then its ``key=value`` overrides
    (argparse takes the overrides as one run of positionals)."""
    flags = [part for part in extra if "=" not in part]
    overrides = [part for part in extra if "=" in part]
    return ["evaluate", "--gold", str(data / gold), "--pred", str(data / pred),
            "--db", str(data / "database"), "--table", str(data / "tables.json"),
            "--out", str(out), "--no-progress", *flags, "eval.timeout_s=0.5", *overrides]


def test_evaluate_writes_reports_and_prints_a_table(
        data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "eval" / "REPORT.json"
    assert main(_args(data, out, "gold.sql", "pred.sql", "eval.workers=2")) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].split()[-1] == "all"
    assert any(line.startswith("exec") for line in printed.splitlines())
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["summary"]["execution"]["correct"] == 4
    assert report["manifest"]["runtime"]["workers"] == 2
    assert (tmp_path / "eval" / "REPORT.md").is_file()


def test_json_gold_and_jsonl_predictions_by_id_or_index(data: Path, tmp_path: Path) -> None:
    preds = [p for _, _, p in GOLD_AND_PRED]
    by_id = [{"id": f"q{i}", "sql": p} for i, p in enumerate(preds)]
    (data / "by_id.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in reversed(by_id)), encoding="utf-8")
    by_index = [{"index": i, "sql": p or None} for i, p in enumerate(preds)]
    (data / "by_index.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in by_index[::2] + by_index[1::2]), encoding="utf-8")
    reports = []
    for gold, pred in (("gold.sql", "pred.sql"), ("dev.json", "by_id.jsonl"),
                       ("gold.sql", "by_index.jsonl")):
        out = tmp_path / f"{pred}.json"
        assert main(_args(data, out, gold, pred, "eval.workers=1", "--etype", "exec")) == 0
        reports.append(json.loads(out.read_text(encoding="utf-8")))
    verdicts = [[e["execution_match"] for e in r["examples"]] for r in reports]
    assert verdicts[0] == verdicts[1] == verdicts[2]
    assert reports[1]["examples"][3]["question"] == "question 3?"
    assert reports[0]["examples"][3]["question"] is None


def _bad_input(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
               gold_bytes: bytes | None = None, pred_bytes: bytes | None = None,
               pred_name: str = "pred.sql") -> str:
    if gold_bytes is not None:
        (data / "gold.sql").write_bytes(gold_bytes)
    if pred_bytes is not None:
        (data / pred_name).write_bytes(pred_bytes)
    out = tmp_path / "REPORT.json"
    assert main(_args(data, out, "gold.sql", pred_name, "eval.workers=1")) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert not out.exists()
    return err


GOLD_TEXT = "SELECT count(*) FROM item\tshop\nSELECT name FROM item\tshelf\n"


@pytest.mark.parametrize(("gold", "pred", "pred_name", "expected"), [
    (GOLD_TEXT, "SELECT 1\n", "pred.sql", r"pred.sql: 1 predictions for 2 gold examples"),
    (GOLD_TEXT, "SELECT 1\nSELECT 2\nSELECT 3\n", "pred.sql", r"3 predictions for 2 gold"),
    ("SELECT 1\tshop\n\nSELECT 2\tshop\n", None, "pred.sql", r"gold.sql:2: empty line"),
    ("SELECT 1\t../shop\n", None, "pred.sql", r"gold.sql:1: invalid db_id '../shop'"),
    ("SELECT 1\tshop\nSELECT 1\tsh/op\n", None, "pred.sql", r"gold.sql:2: invalid db_id"),
    ("SELECT 1\tshop\nSELECT 1\tzoo\n", None, "pred.sql",
     r"gold.sql:2: db_id 'zoo' is not in .*tables.json"),
    ("SELECT 1 shop\n", None, "pred.sql", r"gold.sql:1: no tab"),
    ("SELECT 1\tshop\nSELECT 'caf\xe9'\tshop\n", None, "pred.sql",
     r"gold.sql:2: not valid UTF-8 \(byte 0xe9 at column 12\)"),
    (GOLD_TEXT, "SELECT 1\nSELECT '\xff'\n", "pred.sql", r"pred.sql:2: not valid UTF-8"),
    (GOLD_TEXT, '{"index": 0, "sql": "SELECT 1"}\n{"index": 1, "sql": \n', "p.jsonl",
     r"p.jsonl:2: not valid JSON"),
    (GOLD_TEXT, '{"index": 0, "sql": "SELECT 1"}\n{"index": 0, "sql": "SELECT 2"}\n', "p.jsonl",
     r"p.jsonl:2: a second prediction for example 0 \(the first is on line 1\)"),
    (GOLD_TEXT, '{"index": 0, "sql": "SELECT 1"}\n', "p.jsonl", r"no prediction for 1 of them"),
    (GOLD_TEXT, '{"index": 5, "sql": "SELECT 1"}\n', "p.jsonl", r"p.jsonl:1: 'index' must be"),
    (GOLD_TEXT, '{"id": "nope", "sql": "SELECT 1"}\n', "p.jsonl", r"id 'nope' is not an id"),
    (GOLD_TEXT, '{"sql": "SELECT 1"}\n', "p.jsonl", r"p.jsonl:1: needs 'index'"),
    # Hostile lines (t2s.jsonio): nesting past Python's recursion limit, a line past the cap.
    (GOLD_TEXT, '{"index": 0, "sql": "SELECT 1"}\n' + "[" * 100_000 + "\n", "p.jsonl",
     r"p.jsonl:2: nested too deeply"),
    (GOLD_TEXT, '{"index": 0, "sql": "SELECT 1"}\n{"index": 1, "sql": "' + "1" * MAX_LINE_BYTES
     + '"}\n', "p.jsonl", r"p.jsonl:2: longer than the limit of 1,048,576 bytes per line"),
    (GOLD_TEXT, "SELECT 1\nSELECT " + "1" * MAX_LINE_BYTES + "\n", "pred.sql",
     r"pred.sql:2: longer than the limit of 1,048,576 bytes per line"),
])
def test_bad_input_is_a_clear_error_naming_file_and_line(
        data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], gold: str,
        pred: str | None, pred_name: str, expected: str) -> None:
    gold_bytes = gold.encode("latin-1")
    pred_bytes = None if pred is None else pred.encode("latin-1")
    if pred_bytes is None:
        lines = gold_bytes.count(b"\n") - gold_bytes.count(b"\n\n")
        pred_bytes = b"SELECT 1\n" * lines
    err = _bad_input(data, tmp_path, capsys, gold_bytes, pred_bytes, pred_name)
    assert err.startswith("t2s evaluate: error: ")
    assert re.search(expected, err), err


def test_bad_predictions_are_wrong_answers_not_errors(data: Path, tmp_path: Path) -> None:
    (data / "gold.sql").write_text(GOLD_TEXT, encoding="utf-8")
    (data / "pred.sql").write_text("\n)(*&^ garbage ;; DROP TABLE item\n\n\n", encoding="utf-8")
    out = tmp_path / "REPORT.json"
    assert main(_args(data, out, "gold.sql", "pred.sql", "eval.workers=1")) == 0
    examples = json.loads(out.read_text(encoding="utf-8"))["examples"]
    assert [e["error"] for e in examples] == ["empty_prediction", "parse_error"]
    assert [e["exact_match"] for e in examples] == [False, False]


def test_missing_options_fail_clearly(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--gold", str(data / "gold.sql")]) == 2
    assert "missing --pred, --db, --table, --out (or --out-dir)" in capsys.readouterr().err
    assert main(_args(data, data)) == 2
    assert "is a folder" in capsys.readouterr().err
    assert main(_args(data, data / "REPORT.json", "gold.sql", "pred.sql", "eval.workers=0")) == 2
    assert "eval.workers: must be >= 1, got 0" in capsys.readouterr().err


def test_config_mode_generates_then_scores(data: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Scoring wiring with a stand-in generator; tests/test_demo_e2e.py runs a real model."""
    import t2s.evaluation.model as command

    seen: list[int] = []

    def fake_generate(config: object, examples: list, dataset: object,
                      progress: bool = True, samples: int = 1) -> list[SimpleNamespace]:
        seen.append(len(examples))
        return [SimpleNamespace(id=str(e.index), sql=p, error=None)
                for e, (_, _, p) in zip(examples, GOLD_AND_PRED, strict=False)]

    monkeypatch.setattr(command, "generate_predictions", fake_generate)
    monkeypatch.setattr(command, "describe_model", lambda config: {"base": "stand-in"})
    report_dir = tmp_path / "eval"
    overrides = ["data.source=spider", f"data.root={data}", "data.eval_file=dev.json",
                 "data.max_eval_examples=6", f"eval.report_dir={report_dir}",
                 "eval.workers=1", "eval.timeout_s=0.5", "eval.etype=exec",
                 f"infer.adapter_path={tmp_path / 'no-adapter'}"]
    assert main(["evaluate", "--config", "configs/tiny.yaml", "--no-progress", *overrides]) == 0
    assert seen == [6]
    report = json.loads((report_dir / "REPORT.json").read_text(encoding="utf-8"))
    assert [e["execution_match"] for e in report["examples"]] == [
        True, False, True, True, False, False]
    assert report["examples"][0]["question"] == "question 0?"
    assert report["manifest"]["model"] == {"base": "stand-in"}
    records = (report_dir / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(records[2])["sql"] == GOLD_AND_PRED[2][2]
    # Nightly: the same run into today's dated folder instead of eval.report_dir.
    nightly = tmp_path / "nightly"
    assert main(["evaluate", "--config", "configs/tiny.yaml", "--no-progress",
                 "--out-dir", str(nightly), *overrides]) == 0
    (dated,) = list(nightly.glob("*/REPORT.json"))
    assert (dated.parent / "predictions.jsonl").is_file() and seen == [6, 6]
    assert main(["evaluate", "--config", "configs/tiny.yaml", "--out", str(nightly / "x.json"),
                 *overrides]) == 2


def test_readers_keep_the_official_first_tab_field_and_ignore_trailing_blanks(
        tmp_path: Path) -> None:
    gold_path = tmp_path / "gold.sql"
    gold_path.write_bytes(b"\xef\xbb\xbfSELECT 1\tshop\r\nSELECT 2\tshop\n\n\n")
    gold = read_gold(gold_path)
    assert [(g.gold, g.db_id, g.line) for g in gold] == [("SELECT 1", "shop", 1),
                                                         ("SELECT 2", "shop", 2)]
    pred_path = tmp_path / "pred.sql"
    pred_path.write_text("SELECT 1\tshop\n\n\n", encoding="utf-8")
    assert read_predictions(pred_path, gold) == ["SELECT 1", ""]
    with pytest.raises(InputError, match="no gold examples"):
        (tmp_path / "empty.sql").write_text("\n", encoding="utf-8")
        read_gold(tmp_path / "empty.sql")


def test_nightly_job_writes_a_dated_report_and_compares_with_the_last_one(
        data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import subprocess
    import sys

    out_dir = tmp_path / "reports"
    flags = ["--gold", str(data / "gold.sql"), "--pred", str(data / "pred.sql"),
             "--db", str(data / "database"), "--table", str(data / "tables.json"),
             "--out-dir", str(out_dir), "--no-progress", "eval.timeout_s=0.5", "eval.workers=1"]
    # The job entry point itself, as a scheduler runs it.
    job = subprocess.run([sys.executable, str(Path(__file__).resolve().parents[2] / "jobs" /
                                              "evaluate.py"), *flags],
                         capture_output=True, text=True, timeout=300, check=False)
    assert job.returncode == 0, job.stderr
    assert "no earlier dated report" in job.stdout
    (today,) = list(out_dir.glob("*/REPORT.json"))
    assert len(today.parent.name) == 10 and (today.parent / "REPORT.md").is_file()
    # pretend yesterday's run existed: the next run compares against it
    yesterday = out_dir / "2000-01-01" / "REPORT.json"
    yesterday.parent.mkdir()
    yesterday.write_bytes(today.read_bytes())
    assert main(["evaluate", *flags]) == 0
    printed = capsys.readouterr().out
    assert f"vs {yesterday}" in printed and "0 right->wrong, 0 wrong->right" in printed
    # A night scored with other flags is not silently compared.
    assert main(["evaluate", *flags, "eval.keep_distinct=true"]) == 0
    printed = capsys.readouterr().out
    assert f"not comparable with {yesterday}: flag" in printed and "right->wrong" not in printed


def test_exact_match_only_nights_are_compared_on_exact_match(
        data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "reports"
    flags = ["evaluate", "--gold", str(data / "gold.sql"), "--pred", str(data / "pred.sql"),
             "--db", str(data / "database"), "--table", str(data / "tables.json"),
             "--out-dir", str(out_dir), "--etype", "match", "eval.workers=1", "--no-progress"]
    assert main(flags) == 0
    (today,) = list(out_dir.glob("*/REPORT.json"))
    yesterday = json.loads(today.read_text(encoding="utf-8"))
    for example in yesterday["examples"]:  # yesterday every answer was right
        example["exact_match"] = True
    (out_dir / "2000-01-01").mkdir()
    (out_dir / "2000-01-01" / "REPORT.json").write_text(json.dumps(yesterday), encoding="utf-8")
    capsys.readouterr()
    assert main(flags) == 0
    printed = capsys.readouterr().out
    wrong_today = sum(not e["exact_match"]
                      for e in json.loads(today.read_text(encoding="utf-8"))["examples"])
    assert wrong_today > 0 and f"{wrong_today} right->wrong, 0 wrong->right" in printed


def test_missing_database_stops_execution_unless_skipped(
        data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tables = json.loads((data / "tables.json").read_text(encoding="utf-8"))
    tables.append({**tables[0], "db_id": "attic"})  # a schema, but no attic/attic.sqlite
    (data / "tables.json").write_text(json.dumps(tables), encoding="utf-8")
    with (data / "gold.sql").open("a", encoding="utf-8") as gold:
        gold.write("SELECT count(*) FROM item\tattic\n")
    with (data / "pred.sql").open("a", encoding="utf-8") as pred:
        pred.write("SELECT count(*) FROM item\n")
    out = tmp_path / "REPORT.json"
    assert main(_args(data, out, "gold.sql", "pred.sql", "eval.workers=1")) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and not out.exists()
    assert re.search(r"attic \(1 example, first at .*gold\.sql:11\).*--skip-missing-db", err)
    assert main(_args(data, out, "gold.sql", "pred.sql", "eval.workers=1", "--etype",
                      "match")) == 0
    assert "warning" not in capsys.readouterr().out
    assert main(_args(data, out, "gold.sql", "pred.sql", "eval.workers=2",
                      "--skip-missing-db")) == 0
    printed = capsys.readouterr().out
    assert ("warning: execution skipped for 1 example with no SQLite database (attic; "
            "--skip-missing-db): exec % is over the other 10") in printed
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["summary"]["execution_skipped"] == {"examples": 1, "db_ids": ["attic"]}
    assert report["summary"]["execution"]["correct"] == 4
    assert report["examples"][10]["exact_match"] is True


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_text_file_in_place_of_a_database_is_a_clear_error(
        data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], workers: str) -> None:
    (data / "database" / "shop" / "shop.sqlite").write_text("not a database\n", encoding="utf-8")
    out = tmp_path / "REPORT.json"
    assert main(_args(data, out, "gold.sql", "pred.sql", f"eval.workers={workers}")) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and not out.exists()
    assert re.search(r"error: not a SQLite database: .*shop\.sqlite \(starts with b'not a da'\)",
                     err), err


def test_config_mode_refuses_prediction_file_flags(
        data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report_dir = tmp_path / "eval"
    files = ["--gold", str(data / "gold.sql"), "--pred", str(data / "pred.sql"),
             "--db", str(data / "database"), "--table", str(data / "tables.json")]
    override = f"eval.report_dir={report_dir}"
    assert main(["evaluate", "--config", "configs/tiny.yaml", *files, override]) == 2
    err = capsys.readouterr().err
    assert "--gold, --pred, --db, --table name prediction files" in err
    # Overrides without prediction files also select the model mode; scoring
    # flags point at their keys.
    assert main(["evaluate", "--etype", "match", "--timeout", "3", "--keep-distinct",
                 override]) == 2
    err = capsys.readouterr().err
    assert "--etype (use eval.etype=...)" in err and "--timeout (use eval.timeout_s=...)" in err
    assert "--keep-distinct (use eval.keep_distinct=...)" in err
    assert "Traceback" not in err and not report_dir.exists()
    # With prediction files, overrides are scoring settings: other keys are refused.
    out = tmp_path / "REPORT.json"
    assert main(["evaluate", *files, "--out", str(out), override, "data.root=x",
                 "eval.workers=1"]) == 2
    err = capsys.readouterr().err
    assert ("eval.report_dir, data.root: prediction files take eval.* scoring overrides "
            "only") in err
    assert not out.exists() and not report_dir.exists()


def _volatile_blanked(report: dict) -> dict:
    manifest = report["manifest"]
    manifest["created_at"] = manifest["git_commit"] = manifest["runtime"]["wall_s"] = None
    return report


# Each deprecated flag, its eval.* override, and a value that changes the report.
DEPRECATED = [("--keep-distinct", None, "eval.keep_distinct=true"),
              ("--workers", "1", "eval.workers=1"),
              ("--timeout", "0.5", "eval.timeout_s=0.5"),
              ("--max-rows", "3", "eval.max_rows=3"),
              ("--max-result-bytes", "2048", "eval.max_result_bytes=2048"),
              ("--exec-metric", "bird", "eval.exec_metric=bird")]


def test_deprecated_scoring_flags_equal_their_eval_overrides_and_say_so(
        data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = ["evaluate", "--gold", str(data / "gold.sql"), "--pred", str(data / "pred.sql"),
             "--db", str(data / "database"), "--table", str(data / "tables.json"),
             "--no-progress", "--etype", "exec"]
    old = [part for flag, value, _ in DEPRECATED for part in (flag, value) if part is not None]
    new = [override for _, _, override in DEPRECATED]
    assert main([*files, *old, "--out", str(tmp_path / "old.json")]) == 0
    old_err = capsys.readouterr().err
    assert main([*files, *new, "--out", str(tmp_path / "new.json")]) == 0
    new_err = capsys.readouterr().err
    reports = [_volatile_blanked(json.loads((tmp_path / name).read_text(encoding="utf-8")))
               for name in ("old.json", "new.json")]
    assert reports[0] == reports[1]
    flags = reports[0]["manifest"]["flags"]
    assert (flags["keep_distinct"], flags["timeout_s"], flags["max_rows"],
            flags["max_result_bytes"], flags["exec_metric"]) == (True, 0.5, 3, 2048, "bird")
    for flag, _, override in DEPRECATED:
        lines = [line for line in old_err.splitlines() if line.startswith(f"t2s evaluate: {flag} ")]
        assert lines == [f"t2s evaluate: {flag} is deprecated and goes in the next release; "
                         f"use {override}"]
    assert " is deprecated " not in new_err


def test_etype_is_the_official_flag_and_a_flag_and_its_key_conflict(
        data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "REPORT.json"
    assert main(_args(data, out, "gold.sql", "pred.sql", "--etype", "match")) == 0
    assert " is deprecated " not in capsys.readouterr().err
    by_flag = _volatile_blanked(json.loads(out.read_text(encoding="utf-8")))
    assert main(_args(data, out, "gold.sql", "pred.sql", "eval.etype=match")) == 0
    assert _volatile_blanked(json.loads(out.read_text(encoding="utf-8"))) == by_flag
    assert by_flag["summary"]["execution"] is None
    assert main(_args(data, out, "gold.sql", "pred.sql", "--workers", "2", "eval.workers=1")) == 2
    assert "--workers and eval.workers= both given; give only eval.workers=" in (
        capsys.readouterr().err)


def test_files_resolve_exec_metric_auto_to_spiders(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "REPORT.json"
    assert main(_args(data, out, "gold.sql", "pred.sql", "eval.exec_metric=auto")) == 0
    auto = _volatile_blanked(json.loads(out.read_text(encoding="utf-8")))
    assert "exec_metric" not in auto["manifest"]["flags"]
    assert main(_args(data, out, "gold.sql", "pred.sql", "eval.exec_metric=spider")) == 0
    assert _volatile_blanked(json.loads(out.read_text(encoding="utf-8"))) == auto


def test_help_says_where_config_mode_writes(capsys: pytest.CaptureFixture[str]) -> None:
    from t2s.config import EvalConfig

    with pytest.raises(SystemExit) as exited:
        main(["evaluate", "--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert f"to eval.report_dir (default: {EvalConfig.report_dir})" in text
    assert "--skip-missing-db" in text


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_evaluate_refuses_a_device_as_out_and_leaves_it_alone(
        data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import os
    import stat
    assert main(_args(data, Path("/dev/full"))) == 2
    assert "is a character device" in capsys.readouterr().err
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_evaluate_refuses_a_fifo_as_out(data: Path, tmp_path: Path) -> None:
    import os
    import stat
    fifo = tmp_path / "REPORT.json"
    os.mkfifo(fifo)
    assert main(_args(data, fifo)) == 2
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
