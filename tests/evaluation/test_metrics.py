"""The metric registry (t2s.evaluation.metrics): REPORT.json's keys, one entry per metric."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import GOLD_AND_PRED, make_dataset
from t2s.config import EvalConfig, load_config
from t2s.errors import InputError
from t2s.evaluation import metrics
from t2s.evaluation.compare import compare_reports
from t2s.evaluation.inputs import GoldExample
from t2s.evaluation.metrics import Metric, Verdict
from t2s.evaluation.report import format_summary, render_markdown
from t2s.evaluation.runner import ExampleResult, evaluate_predictions

# What bars, users and older reports read: the keys, in order.
EXAMPLE_KEYS = ["index", "db_id", "question", "gold", "pred", "hardness", "category",
                "categories", "difficulty", "exact_match", "string_match", "execution_match",
                "test_suite_match", "soft_f1", "r_ves", "error", "message", "gold_parse_error",
                "execution_skipped"]
SUMMARY_KEYS = ["count", "exact_match", "string_match", "execution", "test_suite", "soft_f1",
                "r_ves", "by_hardness",
                "by_category", "by_tag", "by_database", "by_difficulty", "errors",
                "gold_parse_errors", "execution_skipped"]


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return make_dataset(tmp_path / "data")


def _report(dataset: Path, **options: object) -> dict:
    gold = [GoldExample(index=i, db_id=db, gold=sql, question=None, id=str(i), line=i + 1)
            for i, (sql, db, _) in enumerate(GOLD_AND_PRED)]
    return evaluate_predictions(
        gold, [pred for _, _, pred in GOLD_AND_PRED], db_dir=dataset / "database",
        tables_path=dataset / "tables.json",
        options=EvalConfig(timeout_s=0.5, **options),  # type: ignore[arg-type]
        workers=1, progress=False)


def test_report_keys_stay_as_bars_and_users_read_them(dataset: Path) -> None:
    report = _report(dataset)
    assert list(report["examples"][0]) == EXAMPLE_KEYS
    assert list(report["summary"]) == SUMMARY_KEYS
    assert list(report["summary"]["by_hardness"]["easy"]) == SUMMARY_KEYS[:7]
    unscored = ExampleResult(index=0, db_id="d", question=None, gold="g", pred="p",
                             hardness="easy", category="simple", scores={"execution": False})
    record = unscored.to_dict()
    assert list(record) == EXAMPLE_KEYS
    assert (record["exact_match"], record["string_match"], record["execution_match"]) == (
        None, None, False)


def test_each_metric_is_scored_only_by_its_etypes(dataset: Path) -> None:
    for etype, scored in (("all", {"exact_match", "string_match", "execution_match"}),
                          ("match", {"exact_match", "string_match"}),
                          ("exec", {"execution_match"})):
        examples = _report(dataset, etype=etype)["examples"]
        for key in ("exact_match", "string_match", "execution_match"):
            values = {e[key] is None for e in examples}
            assert values == ({False} if key in scored else {True}), (etype, key)


def test_execution_error_wins_over_exact_match_error_when_both_are_scored(
        dataset: Path) -> None:
    match_only = _report(dataset, etype="match")["examples"]
    both = _report(dataset)["examples"]
    exec_only = _report(dataset, etype="exec")["examples"]
    assert [e["error"] for e in both] == [e["error"] for e in exec_only]
    assert [e["message"] for e in both] == [e["message"] for e in exec_only]
    # and exact match's own errors show where execution is not scored (here
    # the timed-out prediction has none by exact match).
    assert any(m["error"] != b["error"] for m, b in zip(match_only, both, strict=True))


def test_a_new_metric_is_one_entry(dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Scored, aggregated, printed and paired from its entry alone."""

    def nonempty(given: metrics.ExampleInput) -> Verdict:
        return Verdict(bool(given.pred.strip()))

    entry = Metric("nonempty", "nonempty_match", "match", nonempty, label="nonempty",
                   pair_rank=9)
    monkeypatch.setattr(metrics, "METRICS", (*metrics.METRICS, entry))
    report = _report(dataset)
    expected = [bool(p.strip()) for _, _, p in GOLD_AND_PRED]
    assert [e["nonempty_match"] for e in report["examples"]] == expected
    assert report["summary"]["nonempty"]["correct"] == sum(expected)
    assert any(line.startswith("nonempty ") for line in format_summary(report).splitlines())
    assert "| count | exact % | exec % | nonempty % |" in render_markdown(report)
    assert compare_reports(report, report, "nonempty").count == len(expected)
    assert _report(dataset, etype="exec")["summary"]["nonempty"] is None


def test_compare_pairs_execution_by_default_and_refuses_unpaired_metrics(dataset: Path) -> None:
    report = _report(dataset)
    assert [m.name for m in metrics.paired()] == ["execution", "exact_match", "test_suite",
                                                  "soft_f1", "r_ves"]
    assert compare_reports(report, report).metric == "execution"
    with pytest.raises(InputError, match="unknown metric 'string_match'; choose one of "
                                         "execution, exact_match, test_suite, soft_f1, r_ves"):
        compare_reports(report, report, "string_match")


def test_eval_ex_is_the_registry_execution_accuracy_unrounded() -> None:
    metric = metrics.training_metric("eval_ex")
    assert metric is metrics.by_name("execution") and metric.etype == "exec"
    assert metrics.training_value(metric, [True, False, False]) == 1 / 3
    assert metrics.training_value(metric, []) == 0.0
    with pytest.raises(KeyError):
        metrics.training_metric("eval_loss")


@pytest.mark.parametrize(("overrides", "expected"), [
    ([], "spider"),
    (["data.source=bird"], "bird"),
    (["data.source=bird", "eval.exec_metric=spider"], "spider"),
    (["data.source=spider", "eval.exec_metric=bird"], "bird"),
    (["data.sources=[{name: a, source: bird, root: x, eval_file: dev.json}, "
      "{name: b, source: sample, root: y, train_file: train.json}]"], "bird"),
    (["data.sources=[{name: a, source: bird, root: x, eval_file: dev.json}, "
      "{name: b, source: sample, root: y, train_file: train.json, eval_file: dev.json}]"],
     "spider"),
])
def test_exec_metric_auto_is_resolved_when_the_config_loads(
        overrides: list[str], expected: str) -> None:
    assert load_config(None, overrides).eval.exec_metric == expected
