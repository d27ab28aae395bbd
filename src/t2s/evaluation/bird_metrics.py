"""BIRD's graded metrics, as ``bird-bench/mini_dev`` defines them: Soft-F1 and R-VES.

Both are read from ``evaluation/evaluation_f1.py`` and ``evaluation_ves.py`` of
bird-bench/mini_dev (written anew here, not copied); the arithmetic is done in
the same order, so per-example values are equal as floats, not only close.

**Soft-F1** compares the two results row by row, in the order the database
returned them, after dropping repeated rows (the first occurrence stays). Row
``i`` of the prediction is paired with row ``i`` of the gold result; within a
pair, a predicted value counts as matched if it occurs anywhere in the gold
row (Python ``in``, so ``1 == 1.0``), as predicted-only otherwise, and a gold
value absent from the predicted row as gold-only, each divided by the gold
row's width. Unpaired gold rows are wholly gold-only, unpaired predicted rows
wholly predicted-only. Precision and recall follow from the three sums; two
empty results score 1.

**R-VES** (reward-based valid efficiency score): a prediction whose result set
equals the gold one is timed ``eval.ves_runs`` times against the gold query;
the ratios ``gold_time / pred_time`` outside mean +- 3 standard deviations are
dropped, their mean picks a reward (:func:`ves_reward`: 1.25 for >= 2x faster,
down to 0.25), a wrong prediction gets 0, and the score is the mean of
``sqrt(reward)`` (x100 in the official printout). Each example's value in
REPORT.json is its ``sqrt(reward)``, so the summary is a plain mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from t2s.evaluation.execution import ExecutionEvaluator, bird_results_match

Row = tuple[Any, ...]

# R-VES reward by time ratio (gold time / predicted time): the lowest ratio of
# each bucket and its reward, highest first; below 0.25 the reward is 0.25.
REWARD_BUCKETS: tuple[tuple[float, float], ...] = ((2.0, 1.25), (1.0, 1.0), (0.5, 0.75),
                                                   (0.25, 0.5))
LOWEST_REWARD = 0.25

# The official outlier rule: ratios farther than 3 standard deviations from
# their mean are dropped before averaging.
OUTLIER_SIGMAS = 3


def _row_scores(pred_row: Row, gold_row: Row) -> tuple[float, float, float]:
    """``(matched, predicted-only, gold-only)`` of one row pair, each over the gold row's width."""
    width = len(gold_row)
    matched = sum(1 for value in pred_row if value in gold_row)
    pred_only = len(pred_row) - matched
    gold_only = sum(1 for value in gold_row if value not in pred_row)
    return matched / width, pred_only / width, gold_only / width


def soft_f1(pred_rows: Sequence[Row], gold_rows: Sequence[Row]) -> float:
    """BIRD mini-dev's Soft-F1 of one prediction (0..1); see the module docstring.

    >>> soft_f1([(1, "a")], [(1, "a")]), soft_f1([], []), soft_f1([(1, "b")], [(1, "a")])
    (1.0, 1.0, 0.5)
    """
    if not pred_rows and not gold_rows:
        return 1.0
    pred = list(dict.fromkeys(tuple(row) for row in pred_rows))
    gold = list(dict.fromkeys(tuple(row) for row in gold_rows))
    # Summed in the official order (gold rows, then unpaired predicted rows),
    # so the float sums, hence the score, are bit-for-bit the official ones.
    matched: list[float] = []
    pred_only: list[float] = []
    gold_only: list[float] = []
    for index, gold_row in enumerate(gold):
        if index >= len(pred):
            matched.append(0)
            gold_only.append(1)
            continue
        scores = _row_scores(pred[index], gold_row)
        matched.append(scores[0])
        pred_only.append(scores[1])
        gold_only.append(scores[2])
    for _ in range(len(pred) - len(gold)):
        matched.append(0)
        pred_only.append(1)
        gold_only.append(0)
    tp, fp, fn = sum(matched), sum(pred_only), sum(gold_only)
    precision = tp / (tp + fp) if tp + fp > 0 else 0
    recall = tp / (tp + fn) if tp + fn > 0 else 0
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def ves_reward(time_ratio: float) -> float:
    """R-VES's reward for a correct prediction ``time_ratio`` (gold time / predicted time).

    0 means "no ratio" (a wrong prediction), as officially.

    >>> [ves_reward(r) for r in (0, 0.1, 0.25, 0.5, 1.0, 1.99, 2.0)]
    [0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.25]
    """
    if time_ratio == 0:
        return 0.0
    for lowest, reward in REWARD_BUCKETS:
        if time_ratio >= lowest:
            return reward
    return LOWEST_REWARD


def drop_outliers(values: Sequence[float]) -> list[float]:
    """``values`` strictly within mean +- 3 population standard deviations.

    Where that leaves none (all values equal, e.g. one timing run: the
    standard deviation is 0), all are kept; the official code divides by
    zero there and scores the example 0 (a documented divergence).
    """
    if not values:
        return []
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    kept = [v for v in values if mean - OUTLIER_SIGMAS * std < v < mean + OUTLIER_SIGMAS * std]
    return kept or list(values)


def time_ratio(gold_times: Sequence[float], pred_times: Sequence[float]) -> float:
    """Mean of ``gold / pred`` over the timing runs, outliers dropped.

    A run whose prediction took no measurable time counts at the clock's
    resolution (1 ns) rather than dividing by zero.

    Raises:
        ValueError: if the two lists differ in length or are empty.
    """
    if len(gold_times) != len(pred_times) or not gold_times:
        raise ValueError(f"need as many gold as predicted timings (>= 1), got "
                         f"{len(gold_times)} and {len(pred_times)}")
    ratios = drop_outliers([g / max(p, 1e-9) for g, p in zip(gold_times, pred_times, strict=True)])
    return sum(ratios) / len(ratios)


def r_ves(rewards: Sequence[float]) -> float:
    """R-VES over examples from their rewards: the mean of ``sqrt(reward)`` (0..~1.118).

    >>> round(r_ves([1.25, 1.0, 0.0, 0.25]), 4)
    0.6545
    """
    return sum(math.sqrt(r) for r in rewards) / len(rewards) if rewards else 0.0


def _both_ran(executor: ExecutionEvaluator, db_id: str, gold_sql: str,
              pred_sql: str) -> tuple[list[Row], list[Row]] | None:
    """The gold and predicted rows, or ``None`` when either query did not run."""
    found = executor.results(db_id, gold_sql, pred_sql)
    if not isinstance(found, tuple) or not found[1].ok:
        return None
    return found[0].rows, found[1].rows


def example_soft_f1(executor: ExecutionEvaluator, db_id: str, gold_sql: str,
                    pred_sql: str) -> float:
    """Soft-F1 of one prediction as run by ``executor``: 0 when it is empty, fails,
    times out or is too large, or the gold query fails (the official evaluator
    scores every exception 0).

    Raises:
        DataError: if the database is missing or unreadable.
    """
    found = _both_ran(executor, db_id, gold_sql, pred_sql)
    return 0.0 if found is None else soft_f1(found[1], found[0])


def example_r_ves(executor: ExecutionEvaluator, db_id: str, gold_sql: str, pred_sql: str,
                  runs: int) -> float:
    """``sqrt(reward)`` of one prediction: 0 unless its result set equals the gold
    one, else from ``runs`` timings of both queries (prediction first, as officially).

    Each timing is :attr:`~t2s.sqlexec.ExecResult.elapsed_s` (prepare, run and
    fetch, under the usual limits); a run that fails or changes its result
    (e.g. a timeout on a loaded machine) makes the reward 0.

    Raises:
        DataError: if the database is missing or unreadable.
    """
    found = _both_ran(executor, db_id, gold_sql, pred_sql)
    if found is None or not bird_results_match(*found):
        return 0.0
    pred_times, gold_times = [], []
    for _ in range(runs):
        timed_pred = executor.run(db_id, pred_sql)
        timed_gold = executor.run(db_id, gold_sql)
        if not (timed_pred.ok and timed_gold.ok):
            return 0.0
        pred_times.append(timed_pred.elapsed_s)
        gold_times.append(timed_gold.elapsed_s)
    return math.sqrt(ves_reward(time_ratio(gold_times, pred_times)))
