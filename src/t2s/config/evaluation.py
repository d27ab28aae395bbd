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
    """Rows fetched per query at most."""
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
    as BIRD's official evaluator does; ``auto`` picks ``bird`` for BIRD data."""
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
