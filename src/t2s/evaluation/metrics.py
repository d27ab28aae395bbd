"""The metrics of an evaluation: one registry entry each, read by every place that names one.

:data:`METRICS` is the registry, in report order. The runner scores each
example with an entry's ``score`` function, the report aggregates and prints
it, ``t2s compare`` pairs it, and training's ``eval_ex`` is the entry with that
``training_name``, so a new metric is one entry here.

An entry's names, as the files spell them:

* ``name``: the key in REPORT.json's ``summary`` (and in each breakdown) and
  ``t2s compare --metric`` (``exact_match``, ``string_match``, ``execution``,
  and BIRD's graded ``soft_f1`` and ``r_ves``, scored with ``eval.exec_metric: bird``);
* ``example_key``: the key in each ``examples`` record (``execution_match`` for
  ``execution``, the name itself for the others);
* ``training_name``: the ``train.metric_for_best_model`` value that selects it
  during training (``eval_ex`` for ``execution``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from t2s.errors import InputError
from t2s.evaluation.bird_metrics import example_r_ves, example_soft_f1
from t2s.evaluation.exact_match import (
    GoldQueryError,
    exact_match,
    parse_error,
    string_exact_match,
)
from t2s.evaluation.execution import EvalError
from t2s.evaluation.sampling import CandidateVerdicts, majority_value, pass_value

if TYPE_CHECKING:
    from t2s.config import EType, EvalConfig
    from t2s.data.spider import DatabaseSchema
    from t2s.evaluation.execution import ExecutionEvaluator
    from t2s.evaluation.inputs import GoldExample
    from t2s.evaluation.test_suite import TestSuiteEvaluator


@dataclass(frozen=True)
class Verdict:
    """One metric's verdict on one example.

    Attributes:
        value: Whether the prediction is right by this metric, or how right
            (0..1, or sqrt(reward) for R-VES) for a graded one; None: not scored
            (the gold query cannot run on the example's PostgreSQL database).
        error: Why not, as an :class:`~t2s.evaluation.execution.EvalError` value
            (``None`` when right, or when the metric names no reason).
        message: A short explanation of ``error`` ("" when none).
    """

    value: bool | float | None
    error: str | None = None
    message: str = ""


@dataclass(frozen=True)
class ExampleInput:
    """What a per-example function may read: the example, the prediction, its
    database's schema and the process's execution evaluator."""

    example: GoldExample
    pred: str
    schema: DatabaseSchema
    executor: ExecutionEvaluator
    test_suite: TestSuiteEvaluator | None = None


def accuracy(values: Sequence[bool | None]) -> dict[str, Any] | None:
    """``{"correct", "accuracy"}`` over the scored values (``None``: not scored), or
    ``None`` when none was scored; the accuracy is rounded to 4 places (0.01 points)."""
    scored = [v for v in values if v is not None]
    if not scored:
        return None
    correct = sum(1 for v in scored if v)
    return {"correct": correct, "accuracy": round(correct / len(scored), 4)}


def mean(values: Sequence[float | None]) -> dict[str, Any] | None:
    """A graded metric's ``{"scored", "accuracy"}``: how many were scored and their mean
    (the ``accuracy`` key, so it prints as a percentage like the others), or ``None``."""
    scored = [v for v in values if v is not None]
    if not scored:
        return None
    return {"scored": len(scored), "accuracy": round(sum(scored) / len(scored), 4)}


@dataclass(frozen=True)
class Metric:
    """One metric: how it is scored, aggregated, printed and paired.

    Attributes:
        name: Summary key and ``t2s compare --metric`` name.
        example_key: Key of its verdict in each REPORT.json example.
        etype: The ``eval.etype`` that scores it without the other family
            (``match`` or ``exec``); ``all`` scores every metric.
        score: The per-example function.
        label: Its row in the printed summary and its Markdown column
            (``exec`` -> ``exec %``); ``None``: not printed.
        pair_rank: ``t2s compare`` pairs it when set; the lowest rank is the
            default ``--metric`` and the nightly comparison's first choice.
        reports_error: Its verdict's error and message become the example's;
            of several, the last one scored in registry order wins (execution,
            whose error is about what the prediction did when run).
        needs_database: Not scored for an example whose database has no SQLite
            file when ``--skip-missing-db`` is given (``execution_skipped``).
        training_name: The ``train.metric_for_best_model`` value that selects
            it during training, if any.
        aggregate: From the examples' values to the summary's entry.
        applies: Scored only for the options it accepts (beside ``etype``).
    """

    name: str
    example_key: str
    etype: EType
    score: Callable[[ExampleInput], Verdict]
    label: str | None = None
    pair_rank: int | None = None
    reports_error: bool = False
    needs_database: bool = False
    training_name: str | None = None
    aggregate: Callable[[Sequence[Any]], dict[str, Any] | None] = accuracy
    applies: Callable[[EvalConfig], bool] | None = None

    def scored(self, options: EvalConfig) -> bool:
        """Whether ``options`` score this metric."""
        return (options.etype in ("all", self.etype)
                and (self.applies is None or self.applies(options)))


def _exact_match(given: ExampleInput) -> Verdict:
    """Spider's exact set match; the error names why the parser could not read the
    prediction (or the gold query)."""
    # exact_match applies the official 'value' -> '1' rewrite itself.
    gold, pred = given.example.gold, given.pred
    if not pred.strip():
        return Verdict(False, EvalError.EMPTY_PREDICTION.value)
    try:
        matched = exact_match(gold, pred, given.schema)
    except GoldQueryError as exc:
        return Verdict(False, EvalError.GOLD_ERROR.value, str(exc))
    if matched:
        return Verdict(True)
    problem = parse_error(pred, given.schema)  # "unknown table", ... or None
    if problem is None:
        return Verdict(False)
    kind = problem.replace(" ", "_")
    known = {e.value for e in EvalError}
    return Verdict(False, kind if kind in known else EvalError.PARSE_ERROR.value,
                   f"Spider parser: {problem}")


def _string_match(given: ExampleInput) -> Verdict:
    """The official token-by-token string comparison."""
    return Verdict(string_exact_match(given.example.gold, given.pred))


def _execution(given: ExampleInput) -> Verdict:
    """Execution accuracy (Spider's or BIRD's semantics, per ``eval.exec_metric``)."""
    outcome = given.executor.evaluate(given.example.db_id, given.example.gold, given.pred)
    return Verdict(outcome.match, None if outcome.error is None else outcome.error.value,
                   outcome.message)


def _soft_f1(given: ExampleInput) -> Verdict:
    """BIRD's Soft-F1 (:mod:`t2s.evaluation.bird_metrics`)."""
    example = given.example
    return Verdict(example_soft_f1(given.executor, example.db_id, example.gold, given.pred))


def _r_ves(given: ExampleInput) -> Verdict:
    """BIRD's R-VES contribution, ``sqrt(reward)`` (:mod:`t2s.evaluation.bird_metrics`)."""
    example, executor = given.example, given.executor
    return Verdict(example_r_ves(executor, example.db_id, example.gold, given.pred,
                                 executor.ves_runs))


def _test_suite(given: ExampleInput) -> Verdict:
    """Test-suite accuracy: execution match on every database of the db_id's suite."""
    if given.test_suite is None:  # pragma: no cover - the runner builds it when scored
        raise RuntimeError("test-suite metric scored without suites")
    outcome = given.test_suite.evaluate(given.example.db_id, given.example.gold, given.pred)
    return Verdict(outcome.match, None if outcome.error is None else outcome.error.value,
                   outcome.message)


METRICS: tuple[Metric, ...] = (
    Metric("exact_match", "exact_match", "match", _exact_match, label="exact", pair_rank=1,
           reports_error=True),
    Metric("string_match", "string_match", "match", _string_match),
    Metric("execution", "execution_match", "exec", _execution, label="exec", pair_rank=0,
           reports_error=True, needs_database=True, training_name="eval_ex"),
    Metric("test_suite", "test_suite_match", "exec", _test_suite, label="ts", pair_rank=2,
           needs_database=True, applies=lambda options: options.test_suite.active),
    Metric("soft_f1", "soft_f1", "exec", _soft_f1, label="soft-f1", pair_rank=3,
           needs_database=True, aggregate=mean,
           applies=lambda options: options.exec_metric == "bird"),
    Metric("r_ves", "r_ves", "exec", _r_ves, label="r-ves", pair_rank=4,
           needs_database=True, aggregate=mean,
           applies=lambda options: options.exec_metric == "bird" and options.ves_runs > 0),
)
"""Every metric, in the order of REPORT.json's keys (and of scoring)."""


@dataclass(frozen=True)
class SampledMetric:
    """A metric of several candidates per question (``eval.samples``), at each k of ``eval.pass_k``.

    Attributes:
        name: ``pass`` -> summary keys ``pass@1``, ``pass@5`` ...
        value: One question's value at k, from its candidates' verdicts.
        zero_one: Its per-example value is right/wrong (``t2s compare`` adds McNemar).
    """

    name: str
    value: Callable[[CandidateVerdicts, int], float | bool]
    zero_one: bool = False

    def key(self, k: int) -> str:
        """Its summary key at ``k`` (``pass@5``)."""
        return f"{self.name}@{k}"

    def aggregate(self, values: Sequence[float | bool]) -> dict[str, Any] | None:
        """``{"correct", "accuracy"}`` for a 0/1 metric, ``{"accuracy"}`` (the mean) otherwise."""
        if self.zero_one or not values:
            return accuracy(values)
        return {"accuracy": round(sum(values) / len(values), 4)}


SAMPLED: tuple[SampledMetric, ...] = (
    SampledMetric("pass", pass_value),
    SampledMetric("maj", majority_value, zero_one=True),
)
"""The sampling metrics, after :data:`METRICS` in the report (see :mod:`t2s.evaluation.sampling`)."""



def uses_database(options: EvalConfig) -> bool:
    """Whether ``options`` score a metric that runs queries on the databases."""
    return any(metric.needs_database and metric.scored(options) for metric in METRICS)


def printed() -> list[Metric]:
    """The metrics shown in the printed summary and the Markdown tables, in order."""
    return [metric for metric in METRICS if metric.label is not None]


def paired() -> list[Metric]:
    """The metrics ``t2s compare`` pairs, the default first."""
    return sorted((m for m in METRICS if m.pair_rank is not None), key=lambda m: m.pair_rank or 0)


def paired_metric(name: str) -> Metric:
    """The paired metric called ``name``.

    Raises:
        InputError: if no paired metric has that name (the message lists them).
    """
    for metric in paired():
        if metric.name == name:
            return metric
    raise InputError(f"unknown metric {name!r}; choose one of "
                     f"{', '.join(m.name for m in paired())}")


def by_name(name: str) -> Metric:
    """The metric called ``name``.

    Raises:
        KeyError: if there is none.
    """
    for metric in METRICS:
        if metric.name == name:
            return metric
    raise KeyError(name)


def training_metric(name: str) -> Metric:
    """The metric that ``train.metric_for_best_model: name`` selects.

    Raises:
        KeyError: if no metric has that training name.
    """
    for metric in METRICS:
        if metric.training_name == name:
            return metric
    raise KeyError(name)


def training_value(metric: Metric, values: Sequence[bool | None]) -> float:
    """The share of ``values`` right by ``metric``, unrounded (0..1; 0 for none).

    Unlike the report's accuracy (4 places), the Trainer compares checkpoints
    by this value, where rounding could tie two of them.
    """
    stats = metric.aggregate(values)
    return stats["correct"] / len(values) if stats else 0.0
