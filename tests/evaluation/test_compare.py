"""Tests for t2s.evaluation.compare and ``t2s compare``."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest

from conftest import make_report
from t2s.cli import main
from t2s.errors import InputError
from t2s.evaluation.compare import check_comparable, compare_reports, load_report, mcnemar


def test_mcnemar_exact_binomial_for_few_flips() -> None:
    assert mcnemar(0, 0).p_value == 1.0
    assert mcnemar(5, 5).p_value == pytest.approx(1.0)
    result = mcnemar(0, 10)  # all 10 flips one way: two-sided 2 * 0.5^10
    assert result.method == "exact-binomial"
    assert result.p_value == pytest.approx(2 * 0.5 ** 10)
    # P(X <= 2) for X ~ Bin(12, 1/2), doubled
    assert mcnemar(2, 10).p_value == pytest.approx(2 * sum(math.comb(12, k) for k in range(3))
                                                   / 2 ** 12)


def test_mcnemar_chi_square_with_continuity_for_many_flips() -> None:
    result = mcnemar(30, 10)
    statistic = (abs(30 - 10) - 1) ** 2 / 40
    # chi-square with 1 degree of freedom: P(X > x) = erfc(sqrt(x / 2))
    assert result.method == "chi2-continuity"
    assert result.p_value == pytest.approx(math.erfc(math.sqrt(statistic / 2)))
    with pytest.raises(ValueError):
        mcnemar(-1, 3)


def test_flips_each_way() -> None:
    a = make_report([True, True, False, False, True])
    b = make_report([True, False, True, False, False])
    comparison = compare_reports(a, b)
    assert [f["index"] for f in comparison.regressions] == [1, 4]
    assert [f["index"] for f in comparison.fixes] == [2]
    assert (comparison.correct_a, comparison.correct_b) == (3, 2)
    assert (comparison.test.b, comparison.test.c) == (2, 1)


def test_reports_with_other_data_or_flags_are_not_comparable() -> None:
    a = make_report([True, False])
    assert check_comparable(a, copy.deepcopy(a)) == []
    other_flag = make_report([True, False], keep_distinct=True)
    assert any("keep_distinct" in p for p in check_comparable(a, other_flag))
    other_gold = copy.deepcopy(a)
    other_gold["manifest"]["data"]["gold"]["sha256"] = "f" * 64
    assert any(p.startswith("gold file differs") for p in check_comparable(a, other_gold))
    other_db = copy.deepcopy(a)
    other_db["manifest"]["data"]["databases"]["shop"] = "0" * 64
    assert any("databases differ: shop" in p for p in check_comparable(a, other_db))
    fewer = make_report([True])
    assert any("2 vs 1 examples" in p for p in check_comparable(a, fewer))


def test_unscored_metric_cannot_be_compared() -> None:
    a = make_report([True, False])
    b = copy.deepcopy(a)
    for example in b["examples"]:
        example["exact_match"] = None
    with pytest.raises(InputError, match="exact_match was not scored"):
        compare_reports(a, b, metric="exact_match")


def test_load_report_rejects_other_json(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"hello": 1}', encoding="utf-8")
    with pytest.raises(InputError, match="not a t2s evaluation report"):
        load_report(path)


def _write(path: Path, report: dict[str, Any]) -> str:
    path.write_text(json.dumps(report), encoding="utf-8")
    return str(path)


def test_cli_compares_and_lists_flips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _write(tmp_path / "a.json", make_report([True] * 12 + [False] * 3))
    b = _write(tmp_path / "b.json", make_report([False] * 12 + [True] * 3))
    out = tmp_path / "cmp.json"
    assert main(["compare", a, b, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "12 right->wrong, 3 wrong->right" in printed
    assert "significant" in printed
    saved = json.loads(out.read_text(encoding="utf-8"))
    assert saved["mcnemar"]["b_regressions"] == 12 and len(saved["regressions"]) == 12


def test_cli_refuses_incomparable_reports_unless_forced(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _write(tmp_path / "a.json", make_report([True, False]))
    b = _write(tmp_path / "b.json", make_report([False, True], timeout_s=30.0))
    assert main(["compare", a, b]) == 2
    err = capsys.readouterr().err
    assert "not comparable" in err and "timeout_s" in err and "Traceback" not in err
    assert main(["compare", a, b, "--force"]) == 0
    captured = capsys.readouterr()
    assert "WARNING" in captured.err and "timeout_s" in captured.err
    assert "1 right->wrong, 1 wrong->right" in captured.out
