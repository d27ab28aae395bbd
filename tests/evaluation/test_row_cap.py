"""A result cut at ``eval.max_rows`` is never compared by its prefix (issue 18).

BIRD compares row sets, so the first ``max_rows`` rows of a longer result can
equal the gold set while the whole result does not, and the reverse. Every
result over the cap is fetched again in full within the byte budget, or is
``result_too_large``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import make_dataset
from t2s.evaluation.bird_metrics import example_soft_f1
from t2s.evaluation.execution import EvalError, ExecutionEvaluator


@pytest.fixture
def db_dir(tmp_path: Path) -> Path:
    """``shop``'s item table: pen, ink (office), cup, pot (kitchen), ids 1 to 4."""
    return make_dataset(tmp_path / "data") / "database"


@pytest.mark.parametrize("metric", ["bird", "spider"])
def test_a_truncated_prediction_whose_prefix_equals_gold_does_not_match(
        db_dir: Path, metric: str) -> None:
    evaluator = ExecutionEvaluator(db_dir, max_rows=2, metric=metric)
    gold = "SELECT name FROM item WHERE id <= 2"  # pen, ink
    pred = "SELECT name FROM item"  # pen, ink | cup, pot past the cap
    assert evaluator.run("shop", pred).rows == [("pen",), ("ink",), ("cup",), ("pot",)]
    outcome = evaluator.evaluate("shop", gold, pred)
    assert not outcome.match and outcome.error is EvalError.WRONG_RESULT


def test_a_correct_prediction_longer_than_the_cap_matches_in_bird_mode(db_dir: Path) -> None:
    evaluator = ExecutionEvaluator(db_dir, max_rows=2, metric="bird")
    gold = "SELECT DISTINCT kind FROM item"  # office, kitchen
    pred = "SELECT kind FROM item"  # office, office | kitchen, kitchen past the cap
    assert evaluator.evaluate("shop", gold, pred).match
    # and a gold result longer than the cap is compared in full too
    assert evaluator.evaluate("shop", pred, gold).match
    assert example_soft_f1(evaluator, "shop", gold, pred) == 1.0


def test_a_result_over_the_cap_and_the_byte_budget_is_result_too_large(db_dir: Path) -> None:
    # 300 bytes hold 4 rows of one integer (4 x (56 + 8)), not the 1,000 rows
    evaluator = ExecutionEvaluator(db_dir, max_rows=2, max_result_bytes=300, metric="bird")
    many = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000) "
            "SELECT x FROM c")
    outcome = evaluator.evaluate("shop", "SELECT id FROM item", many)
    assert outcome.error is EvalError.RESULT_TOO_LARGE and not outcome.match
    gold_too_large = evaluator.evaluate("shop", many, "SELECT id FROM item")
    assert gold_too_large.error is EvalError.GOLD_ERROR and not gold_too_large.match
