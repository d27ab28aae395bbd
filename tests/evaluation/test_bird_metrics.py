"""BIRD's Soft-F1 and R-VES (t2s.evaluation.bird_metrics) and their registry entries.

Soft-F1's values are worked by hand from mini_dev's definition; the agreement
with the official code over BIRD mini-dev is bench/bird_soft_f1_agreement.py.
R-VES is timing-based: these tests assert the buckets, the aggregation and
that wrong predictions get 0, never a timing.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from conftest import GOLD_AND_PRED, make_dataset
from t2s.config import EvalConfig, load_config
from t2s.errors import ConfigError
from t2s.evaluation import metrics
from t2s.evaluation.bird_metrics import (
    drop_outliers,
    example_r_ves,
    r_ves,
    soft_f1,
    time_ratio,
    ves_reward,
)
from t2s.evaluation.compare import compare_reports, compare_with_previous_night, format_comparison
from t2s.evaluation.execution import ExecutionEvaluator
from t2s.evaluation.inputs import GoldExample
from t2s.evaluation.report import format_summary, render_markdown, write_report
from t2s.evaluation.runner import evaluate_predictions

# --- Soft-F1 ---------------------------------------------------------------------


@pytest.mark.parametrize(("pred", "gold", "expected"), [
    ([(1, "a"), (2, "b")], [(1, "a"), (2, "b")], 1.0),
    ([], [], 1.0),
    ([], [(1,)], 0.0),
    ([(1,)], [], 0.0),
    # repeated rows are dropped first (the first occurrence stays)
    ([(1,), (1,), (2,)], [(1,), (2,)], 1.0),
    # one gold row missing: tp 1, fn 1 -> precision 1, recall 1/2
    ([(1,)], [(1,), (2,)], 2 / 3),
    # an extra column: tp 2/2, fp 1/2 -> precision 2/3, recall 1
    ([(1, "a", "x")], [(1, "a")], 0.8),
    # rows are paired by position: the same set in another order shares nothing
    ([(2,), (1,)], [(1,), (2,)], 0.0),
    # values are matched anywhere in the paired row, Python equality (1 == 1.0)
    ([("a", 1.0)], [(1, "a")], 1.0),
    # half of a two-column row: tp 1/2, fp 1/2, fn 1/2
    ([(1, "b")], [(1, "a")], 0.5),
])
def test_soft_f1_by_hand(pred: list, gold: list, expected: float) -> None:
    assert soft_f1(pred, gold) == pytest.approx(expected)


def test_soft_f1_counts_repeated_values_within_a_row_per_prediction_value() -> None:
    # pred (1, 1) vs gold (1, 2): both predicted 1s are in the gold row (tp 2/2),
    # gold's 2 is not in the predicted row (fn 1/2): precision 1, recall 2/3.
    assert soft_f1([(1, 1)], [(1, 2)]) == pytest.approx(0.8)


# --- R-VES -----------------------------------------------------------------------


@pytest.mark.parametrize(("ratio", "reward"), [
    (0, 0.0), (0.01, 0.25), (0.2499, 0.25), (0.25, 0.5), (0.4999, 0.5), (0.5, 0.75),
    (0.9999, 0.75), (1.0, 1.0), (1.9999, 1.0), (2.0, 1.25), (50.0, 1.25)])
def test_ves_reward_buckets(ratio: float, reward: float) -> None:
    assert ves_reward(ratio) == reward


def test_outliers_past_three_sigma_are_dropped_and_equal_values_kept() -> None:
    values = [1.0] * 20 + [100.0]
    assert drop_outliers(values) == [1.0] * 20
    assert drop_outliers([2.0, 2.0]) == [2.0, 2.0]  # std 0: the official code divides by 0
    assert time_ratio([2.0, 4.0], [1.0, 1.0]) == 3.0
    with pytest.raises(ValueError, match="as many"):
        time_ratio([1.0], [])


def test_r_ves_is_the_mean_of_square_roots_of_rewards() -> None:
    rewards = [1.25, 1.0, 0.75, 0.5, 0.25, 0.0]
    expected = sum(math.sqrt(r) for r in rewards) / 6
    assert r_ves(rewards) == pytest.approx(expected)
    assert r_ves([]) == 0.0
    # the registry's aggregate over per-example sqrt(reward) is the same number
    values = [math.sqrt(r) for r in rewards]
    assert metrics.by_name("r_ves").aggregate([*values, None]) == {
        "scored": 6, "accuracy": round(expected, 4)}


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return make_dataset(tmp_path / "data")


def test_wrong_or_failing_predictions_get_r_ves_zero_and_right_ones_a_bucket(
        dataset: Path) -> None:
    executor = ExecutionEvaluator(dataset / "database", metric="bird", timeout_s=0.5)
    gold = "SELECT name FROM item WHERE kind = 'office'"
    for wrong in ("SELECT name FROM item", "SELECT nme FROM item", "",
                  "SELECT kind FROM item WHERE kind = 'office'"):
        assert example_r_ves(executor, "shop", gold, wrong, runs=3) == 0.0
    right = example_r_ves(executor, "shop", gold,
                          "SELECT DISTINCT name FROM item WHERE kind = 'office'", runs=3)
    assert right in {math.sqrt(r) for r in (0.25, 0.5, 0.75, 1.0, 1.25)}


def test_ves_runs_is_a_validated_setting() -> None:
    assert EvalConfig().ves_runs == 0
    assert load_config(None, ["data.source=bird", "eval.ves_runs=5"]).eval.ves_runs == 5
    with pytest.raises(ConfigError, match="eval.ves_runs"):
        load_config(None, ["eval.ves_runs=-1"])
    for refused in (["eval.exec_metric=spider"], [], ["data.source=spider"]):
        # auto on Spider data (or prediction files, no source) would skip it silently
        with pytest.raises(ConfigError, match="eval.ves_runs: R-VES is BIRD's metric"):
            load_config(None, [*refused, "eval.ves_runs=3"])
    assert load_config(None, ["eval.exec_metric=bird", "eval.ves_runs=3"]).eval.ves_runs == 3


# --- the registry entries: REPORT.json, REPORT.md, compare, the nightly trend ---


def _report(dataset: Path, preds: list[str] | None = None, **options: object) -> dict:
    gold = [GoldExample(index=i, db_id=db, gold=sql, question=None, id=str(i), line=i + 1)
            for i, (sql, db, _) in enumerate(GOLD_AND_PRED)]
    return evaluate_predictions(
        gold, preds or [pred for _, _, pred in GOLD_AND_PRED], db_dir=dataset / "database",
        tables_path=dataset / "tables.json",
        options=EvalConfig(timeout_s=0.5, **options),  # type: ignore[arg-type]
        workers=1, progress=False)


def test_soft_f1_is_scored_in_bird_mode_only(dataset: Path) -> None:
    spider = _report(dataset, exec_metric="spider")
    assert spider["summary"]["soft_f1"] is None and spider["summary"]["r_ves"] is None
    assert {e["soft_f1"] for e in spider["examples"]} == {None}
    assert "soft-f1" not in render_markdown(spider)
    bird = _report(dataset, exec_metric="bird", etype="exec")
    values = [e["soft_f1"] for e in bird["examples"]]
    assert all(isinstance(v, float) and 0 <= v <= 1 for v in values)
    # a right prediction scores 1, every failing or empty one 0
    for example, value in zip(bird["examples"], values, strict=True):
        if example["execution_match"]:
            assert value == 1.0
        if example["error"] not in (None, "wrong_result"):
            assert value == 0.0, example
    # "SELECT name FROM item" for the office names of shelf: no gold rows -> 0
    assert values[1] == 0.0
    assert bird["summary"]["soft_f1"] == {"scored": len(values),
                                          "accuracy": round(sum(values) / len(values), 4)}
    assert bird["summary"]["r_ves"] is None  # eval.ves_runs = 0


def test_bird_metrics_reach_the_report_compare_and_the_nightly_trend(
        dataset: Path, tmp_path: Path) -> None:
    a = _report(dataset, exec_metric="bird", ves_runs=2)
    preds = [pred for _, _, pred in GOLD_AND_PRED]
    preds[3] = "SELECT kind FROM item WHERE kind = 'wood'"  # one of gold's two rows
    b = _report(dataset, preds, exec_metric="bird", ves_runs=2)
    assert {e["r_ves"] is None for e in b["examples"]} == {False}
    assert (a["examples"][3]["soft_f1"], b["examples"][3]["soft_f1"]) == (1.0, pytest.approx(2 / 3))
    assert b["examples"][3]["r_ves"] == 0.0
    markdown = render_markdown(b)
    assert "| count | exact % | exec % | soft-f1 % | r-ves % |" in markdown
    printed = format_summary(b).splitlines()
    assert any(line.startswith("soft-f1 ") for line in printed)
    assert any(line.startswith("r-ves ") for line in printed)
    comparison = compare_reports(a, b, "soft_f1")
    assert comparison.count == len(GOLD_AND_PRED)
    assert [f["index"] for f in comparison.regressions] == [3] and not comparison.fixes
    assert comparison.accuracy_b == pytest.approx(
        sum(e["soft_f1"] for e in b["examples"]) / len(GOLD_AND_PRED))
    text = format_comparison(comparison)
    assert "metric: soft_f1" in text and "1 lower in B, 0 higher in B" in text
    assert "sign test (exact-binomial)" in text
    assert "McNemar" in format_comparison(compare_reports(a, b))  # execution: 0/1
    # the nightly trend: execution first, then a line per other metric
    night = tmp_path / "nightly"
    write_report(a, night / "2026-01-01" / "REPORT.json")
    text = compare_with_previous_night(night, night / "2026-01-02" / "REPORT.json", b)
    assert text is not None and "metric: execution" in text
    assert "  soft_f1: " in text and "  r_ves: " in text
