"""``eval.*``: how predictions are scored."""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Literal

from t2s.config.sql import SQL_MAX_RESULT_BYTES, SQL_MAX_ROWS, SQL_TIMEOUT_S, SqlLimits

EType = Literal["all", "match", "exec"]
"""What ``t2s evaluate`` scores: exact set match and execution accuracy, or one of them."""


@dataclass
class TestSuiteConfig:
    """``eval.test_suite.*``: test-suite execution accuracy (TS, Zhong et al. 2020)."""

    __test__ = False  # not a pytest class

    enabled: bool = False
    """Score TS: a prediction is right only if it matches gold on every database of
    the example's db_id folder (every ``*.sqlite`` there, as in the distilled suites)
    plus the generated neighbours. Setting ``neighbours`` > 0 enables it too."""
    neighbours: int = 0
    """Neighbour databases generated per schema by fuzzing (0: only the folder's files)."""
    seed: int = 0
    """Seed of the fuzzing; the same seed builds byte-identical neighbours."""
    max_rows_per_table: int = 40
    """Rows per generated table at most: Spider dev's 19-20 schemas build in seconds
    and a 3-way join of 40-row tables stays < 64,000 rows."""
    candidates: int = 3
    """Candidates fuzzed per kept neighbour; the ones that tell gold from most
    near-miss mutations of gold are kept."""
    cache_dir: str = "outputs/test_suite_cache"
    """Where neighbours are cached, by schema hash, gold queries and seed."""

    @property
    def active(self) -> bool:
        """Whether TS is scored."""
        return self.enabled or self.neighbours > 0

    def problems(self) -> list[tuple[str, str]]:
        """``(field, message)`` for each setting out of range."""
        problems = []
        for name in ("neighbours", "max_rows_per_table", "candidates"):
            value, least = getattr(self, name), 0 if name == "neighbours" else 1
            if value < least:
                problems.append((f"test_suite.{name}", f"must be >= {least}, got {value}"))
        return problems


@dataclass
class EvalConfig:
    """Scoring of predictions (exact match and execution accuracy)."""

    etype: EType = "all"
    """``all`` (exact match and execution), ``match`` or ``exec``."""
    timeout_s: float = SQL_TIMEOUT_S
    """Per-query limit; a runaway query is interrupted and scored as a timeout.
    The slowest Spider dev gold query runs in 7.5 ms here, so 10 s is >1000x headroom."""
    max_rows: int = SQL_MAX_ROWS
    """Rows fetched per query at first; a result with more is fetched again in
    full within ``max_result_bytes``, so no verdict rests on a prefix of its rows
    (BIRD compares row sets)."""
    max_result_bytes: int = SQL_MAX_RESULT_BYTES
    """Bytes of result (all rows and values) fetched per query at most; a larger
    result is stopped and scored ``result_too_large``, like a timeout."""
    workers: int = 2
    """Scoring worker processes (the dev and CI machines have 2 cores)."""
    keep_distinct: bool = False
    """Keep DISTINCT when executing (the official default removes it)."""
    report_dir: str = "outputs/eval"
    """Where ``t2s evaluate --config`` writes predictions and REPORT.json."""
    exec_metric: Literal["auto", "spider", "bird"] = "auto"
    """Execution accuracy: ``spider`` compares multisets of rows (order when the
    gold query orders, columns may be permuted), ``bird`` compares sets of rows
    as BIRD's official evaluator does; ``auto`` picks ``bird`` for BIRD data.
    With ``bird``, BIRD's Soft-F1 is scored too."""
    ves_runs: int = 0
    """Timing runs per correct prediction for BIRD's R-VES (each runs the prediction
    and the gold query once; the official evaluator does 100); 0 does not score
    it. Scored with ``exec_metric: bird`` only; it is timing-based, so it varies
    between runs (see the evaluation docs for its measured spread)."""
    bootstrap_samples: int = 1000
    """Resamples of the examples behind each 95% interval (EX, EM, every 0/1 metric,
    pass@k, maj@k; ``t2s compare``'s interval of the difference); 0: no intervals.
    With 1000, an end's Monte Carlo error is ~0.13 points (1,000 examples at 50%)."""
    seed: int = 0
    """Seed of the bootstrap, so a report's intervals are the same on every run."""
    samples: int = 1
    """Candidates drawn per question when scoring a model (sampled with
    ``infer.do_sample``, ``infer.temperature``, ``infer.top_p``); above 1 the report adds
    pass@k and maj@k, and EX/EM score the first candidate. Prediction files bring their
    own (a ``candidates`` list in each JSONL record)."""
    pass_k: list[int] = field(default_factory=list)
    """The k of pass@k and maj@k, each at most the candidates per question; empty: 1 and n."""
    test_suite: TestSuiteConfig = field(default_factory=TestSuiteConfig)
    """Test-suite accuracy (TS) over several databases per schema."""

    @property
    def limits(self) -> SqlLimits:
        """The budget of each gold and predicted query."""
        return SqlLimits(self.timeout_s, self.max_rows, self.max_result_bytes)

    def problems(self) -> list[tuple[str, str]]:
        """``(field, message)`` for each invalid scoring setting.

        The etype check repeats the loader's type check for callers that build
        an :class:`EvalConfig` themselves (``t2s evaluate``'s prediction-file flags).
        """
        problems = []
        if self.etype not in typing.get_args(EType):
            problems.append(("etype", f"must be one of {', '.join(typing.get_args(EType))}, "
                                      f"got {self.etype!r}"))
        problems.extend(self.limits.problems())
        problems.extend(self.test_suite.problems())
        if self.workers < 1:
            problems.append(("workers", f"must be >= 1, got {self.workers}"))
        if self.bootstrap_samples < 0:
            problems.append(("bootstrap_samples", f"must be >= 0, got {self.bootstrap_samples}"))
        if self.samples < 1:
            problems.append(("samples", f"must be >= 1, got {self.samples}"))
        if self.samples > 1 and not self.execution:
            problems.append(("samples", "pass@k and maj@k execute the candidates: they need "
                                        f"eval.etype all or exec, got {self.etype}"))
        # With samples 1 a prediction file's candidates set n, checked when it is read.
        top = self.samples if self.samples > 1 else None
        bad_k = [k for k in self.pass_k if k < 1 or (top is not None and k > top)]
        if bad_k:
            problems.append(("pass_k", f"each k must be in [1, eval.samples={self.samples}], "
                                       f"got {bad_k}"))
        if self.ves_runs < 0:
            problems.append(("ves_runs", f"must be >= 0, got {self.ves_runs}"))
        return problems

    @property
    def exact(self) -> bool:
        """Whether exact match is scored."""
        return self.etype in ("all", "match")

    @property
    def execution(self) -> bool:
        """Whether execution accuracy is scored."""
        return self.etype in ("all", "exec")


def eval_problems(eval_config: EvalConfig) -> list[tuple[str, str]]:
    """``(field, message)`` for each invalid scoring setting: :meth:`EvalConfig.problems`.

    Shared by config loading (keys ``eval.<field>``) and ``t2s evaluate``'s
    prediction-file flags, which build an :class:`EvalConfig` of their own.
    """
    return eval_config.problems()
