"""Tests for t2s.evaluation.intervals: bootstrap intervals in reports and in ``t2s compare``."""

from __future__ import annotations

import copy
import math
import random
from pathlib import Path

import pytest

from conftest import make_report
from t2s.config import EvalConfig, load_config
from t2s.errors import ConfigError
from t2s.evaluation.compare import compare_reports, format_comparison
from t2s.evaluation.intervals import bootstrap_interval, paired_difference_interval
from t2s.evaluation.report import build_manifest, build_report, render_markdown
from t2s.evaluation.runner import ExampleResult

Z_975 = 1.959964  # the standard normal's 97.5th percentile


def _bits(n: int, p: float, seed: int) -> list[bool]:
    rng = random.Random(seed)
    return [rng.random() < p for _ in range(n)]


def test_the_same_seed_gives_the_same_interval_and_another_seed_another() -> None:
    values = _bits(300, 0.4, seed=1)
    first = bootstrap_interval(values, 1000, seed=7)
    assert first == bootstrap_interval(values, 1000, seed=7)
    assert first != bootstrap_interval(values, 1000, seed=8)


@pytest.mark.parametrize(("n", "p"), [(20, 0.5), (100, 0.1), (972, 0.62), (50, 0.9)])
def test_the_interval_contains_the_point_estimate(n: int, p: float) -> None:
    values = _bits(n, p, seed=n)
    low, high = bootstrap_interval(values, 1000, seed=0)
    mean = sum(values) / n
    assert low <= mean <= high and low < high


def test_a_degenerate_set_has_a_point_interval() -> None:
    assert bootstrap_interval([True] * 40, 500, seed=0) == (1.0, 1.0)
    assert bootstrap_interval([False] * 40, 500, seed=0) == (0.0, 0.0)
    assert bootstrap_interval([], 500, seed=0) is None
    assert bootstrap_interval([True, False], 0, seed=0) is None


def test_large_sample_matches_the_normal_approximation() -> None:
    # n = 20,000 at p = 0.3: se = sqrt(p(1-p)/n) = 0.00324, so the normal interval is
    # p +- 0.00635; 4000 draws put each bootstrap end within ~0.0002 of its limit.
    values = _bits(20_000, 0.3, seed=3)
    p = sum(values) / len(values)
    half = Z_975 * math.sqrt(p * (1 - p) / len(values))
    low, high = bootstrap_interval(values, 4000, seed=0)
    assert low == pytest.approx(p - half, abs=0.001)
    assert high == pytest.approx(p + half, abs=0.001)


def test_paired_difference_matches_the_normal_approximation() -> None:
    # B fixes 10% of A's examples and breaks 4%: the per-example difference d is
    # +1, -1 or 0, and the normal interval is mean(d) +- z * sd(d) / sqrt(n).
    n = 20_000
    rng = random.Random(5)
    a = _bits(n, 0.5, seed=4)
    b = [(not x) if rng.random() < (0.2 if not x else 0.08) else x for x in a]
    d = [int(y) - int(x) for x, y in zip(a, b, strict=True)]
    mean = sum(d) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in d) / n)
    low, high = paired_difference_interval(a, b, 4000, seed=0)
    assert low == pytest.approx(mean - Z_975 * sd / math.sqrt(n), abs=0.001)
    assert high == pytest.approx(mean + Z_975 * sd / math.sqrt(n), abs=0.001)
    assert low > 0  # a clearly better B: the interval excludes 0


def test_paired_interval_excludes_zero_for_a_clear_change_and_is_zero_for_identical_runs() -> None:
    a = _bits(500, 0.5, seed=9)
    b = [True if i % 4 == 0 else x for i, x in enumerate(a)]  # ~60 fixes, no regression
    low, high = paired_difference_interval(a, b, 1000, seed=0)
    assert 0 < low < high
    assert paired_difference_interval(a, list(a), 1000, seed=0) == (0.0, 0.0)
    with pytest.raises(ValueError, match="cannot pair"):
        paired_difference_interval(a, a[:-1], 100, seed=0)


def _results(verdicts: list[bool]) -> list[ExampleResult]:
    levels = ["easy", "medium", "hard", "extra"]
    return [ExampleResult(index=i, db_id="shop", question=None, gold="SELECT 1", pred="SELECT 1",
                          hardness=levels[i % 4], category="simple",
                          scores={"exact_match": ok, "string_match": ok, "execution": not ok})
            for i, ok in enumerate(verdicts)]


def _report(tmp_path: Path, verdicts: list[bool], options: EvalConfig) -> dict:
    tables = tmp_path / "tables.json"
    tables.write_text("[]", encoding="utf-8")
    manifest = build_manifest(options=options, gold_path=None, pred_path=None,
                              tables_path=tables, db_paths={})
    return build_report(_results(verdicts), options, manifest)


def test_every_zero_one_metric_gets_an_interval_overall_and_per_hardness(tmp_path: Path) -> None:
    verdicts = _bits(200, 0.3, seed=2)
    report = _report(tmp_path, verdicts, EvalConfig(bootstrap_samples=500, seed=3))
    summary = report["summary"]
    for name in ("execution", "exact_match", "string_match"):  # every 0/1 registry metric
        low, high = summary[name]["ci95"]
        assert low <= summary[name]["accuracy"] <= high
        assert summary["by_hardness"]["hard"][name]["ci95"]
    assert "ci95" not in summary["by_database"]["shop"]["execution"]
    assert report["manifest"]["intervals"] == {"method": "percentile bootstrap over examples",
                                               "level": 0.95, "samples": 500, "seed": 3}
    again = _report(tmp_path, verdicts, EvalConfig(bootstrap_samples=500, seed=3))
    assert again["summary"]["execution"] == summary["execution"]
    markdown = render_markdown(report)
    low, high = summary["execution"]["ci95"]
    assert f"[{100 * low:.1f}, {100 * high:.1f}]" in markdown
    assert "(500 draws, seed 3)" in markdown
    off = _report(tmp_path, verdicts, EvalConfig(bootstrap_samples=0))["summary"]
    assert "ci95" not in off["execution"]


def test_bootstrap_settings_are_checked_at_load() -> None:
    with pytest.raises(ConfigError, match="eval.bootstrap_samples: must be >= 0"):
        load_config(None, ["eval.bootstrap_samples=-1"])
    assert load_config(None, ["eval.seed=5"]).eval.seed == 5


def test_compare_gives_a_paired_interval_beside_mcnemar() -> None:
    a = make_report([i % 2 == 0 for i in range(400)])
    better = make_report([i % 2 == 0 or i % 5 == 0 for i in range(400)])  # 40 fixes
    comparison = compare_reports(a, better)
    low, high = comparison.interval
    assert 0 < low <= comparison.accuracy_b - comparison.accuracy_a <= high
    text = format_comparison(comparison)
    assert f"95% CI [{100 * low:+.1f}, {100 * high:+.1f}] (paired bootstrap)" in text
    assert "McNemar" in text
    same = compare_reports(a, copy.deepcopy(a))
    assert same.interval == (0.0, 0.0)
    assert same.to_dict()["delta_ci95"] == [0.0, 0.0]
    # The draws and seed are B's manifest's: another seed moves the interval's ends.
    reseeded = copy.deepcopy(better)
    reseeded["manifest"]["intervals"] = {"samples": 1000, "seed": 11}
    assert compare_reports(a, reseeded).interval != comparison.interval
