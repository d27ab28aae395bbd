"""The budget of one SQL statement: time, rows and bytes, shared by every path that runs SQL.

:class:`SqlLimits` is taken as it is by :mod:`t2s.sqlexec` (``**limits.kwargs()``),
evaluation (``eval.*``), inference and serving (``infer.*``).
"""

from __future__ import annotations

from dataclasses import dataclass

# Why 10 s: the slowest gold query of Spider dev runs in 7.5 ms on this 2-core
# machine (972 executable queries take 0.31 s in total), so 10 s is >1000x the
# slowest legitimate query and still leaves room for a slower disk or CPU, while
# a runaway prediction costs at most 10 s of one worker (the issue asks for
# <= 30 s).
SQL_TIMEOUT_S = 10.0

# Why 100,000 rows: the largest gold result on Spider dev has 1,860 rows
# (world_1), so the cap is >50x that; 100k rows of ~10 small values is tens of
# MB per worker, bounded. A multiset with more rows than the cap cannot equal a
# gold result below it, but a *set* can (BIRD: 200,000 duplicates of 2 rows), so
# the evaluator fetches a capped result again in full within the byte budget.
SQL_MAX_ROWS = 100_000

# Why 64 MiB of result per query: the largest gold result on Spider dev is
# ~60 KB (world_1, 1,860 rows), so this is >1000x it, while a prediction that
# returns many large values (``zeroblob`` per row, a self-join of long texts)
# passes the row cap but is stopped here before it allocates gigabytes. Peak
# memory per query: this budget plus one row (at most sqlexec.MAX_COLUMNS x
# sqlexec.MAX_VALUE_BYTES; one large value per row: 64 MiB + 256 KiB).
SQL_MAX_RESULT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class SqlLimits:
    """The budget of one SQL statement: the guards every path that executes SQL applies.

    Evaluation (``eval.timeout_s``, ``eval.max_rows``, ``eval.max_result_bytes``)
    and inference/serving (``infer.execute_timeout_s``, ``infer.max_rows``,
    ``infer.max_result_bytes``) each hold one; its fields are the keyword
    arguments of :func:`t2s.sqlexec.execute` (``**limits.kwargs()``).
    """

    timeout_s: float = SQL_TIMEOUT_S
    max_rows: int = SQL_MAX_ROWS
    max_result_bytes: int = SQL_MAX_RESULT_BYTES

    def problems(self) -> list[tuple[str, str]]:
        """``(field, message)`` for each limit out of range."""
        problems = []
        if not self.timeout_s > 0:  # `not >` also refuses NaN
            problems.append(("timeout_s", f"must be > 0 seconds, got {self.timeout_s}"))
        if self.max_rows < 1:
            problems.append(("max_rows", f"must be >= 1, got {self.max_rows}"))
        if self.max_result_bytes < 1:
            problems.append(("max_result_bytes", f"must be >= 1, got {self.max_result_bytes}"))
        return problems

    def kwargs(self) -> dict[str, float | int]:
        """The limits as sqlexec's keyword arguments."""
        return {"timeout_s": self.timeout_s, "max_rows": self.max_rows,
                "max_result_bytes": self.max_result_bytes}
