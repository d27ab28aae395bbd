"""Execution-guided selection: among k candidate queries, keep one that runs.

A model's top answer sometimes names a column that does not exist or is not
valid SQL, while its second or third beam is fine. With
``infer.execution_guided: true`` the generator returns ``infer.num_candidates``
candidates per question (beam search, or sampling when ``infer.do_sample``),
each is executed read-only through :mod:`t2s.sqlexec` (same guards as the
evaluator: read-only open, authorizer, a time limit that interrupts, a row
cap), and one is selected:

- ``first_ok``: the first candidate, in the model's order, that executes
  without error (the top candidate when none does);
- ``majority``: the candidates that execute are grouped by their result; the
  largest group wins (ties go to the group whose first member ranks highest),
  and its best-ranked member is returned.

:class:`GuidedStats` counts how often the selection changed the answer, i.e.
how often it picked something other than the top candidate's SQL. This module
needs no torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_args

from t2s.config import GuidedStrategy, SqlLimits
from t2s.sqlexec import ExecResult, ReadOnlyDatabase, majority_index, result_key

STRATEGIES: tuple[str, ...] = get_args(GuidedStrategy)

# (sql) -> ExecResult; the default runs on a read-only connection (see select_for_database).
Executor = Callable[[str], ExecResult]


@dataclass(frozen=True)
class Selection:
    """The chosen candidate and why.

    Attributes:
        sql: The selected SQL (the top candidate when nothing executed).
        index: Its position among the candidates (0 = the model's top choice).
        changed: Whether ``sql`` differs from the top candidate's SQL.
        executed_ok: How many distinct candidates executed without error.
        errors: ``{sql: message}`` for candidates that failed, for the record.
    """

    sql: str
    index: int
    changed: bool
    executed_ok: int
    errors: dict[str, str] = field(default_factory=dict)


def select_candidate(candidates: Sequence[str], execute: Executor,
                     strategy: GuidedStrategy = "first_ok") -> Selection:
    """Pick one of ``candidates`` by executing them.

    Candidates are tried in order; duplicates (same SQL text) run once. Empty
    candidates are skipped.

    Args:
        candidates: SQL strings, best-ranked first (beam or sample order).
        execute: Runs one statement and returns an :class:`~t2s.sqlexec.ExecResult`.
        strategy: ``first_ok`` or ``majority``.

    Raises:
        ValueError: for an unknown strategy or no candidates at all.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown selection strategy {strategy!r}; use one of {STRATEGIES}")
    if not candidates:
        raise ValueError("select_candidate needs at least one candidate")
    top = candidates[0]
    seen: dict[str, ExecResult] = {}
    errors: dict[str, str] = {}
    order: list[tuple[int, str]] = []
    for index, sql in enumerate(candidates):
        if not sql.strip() or sql in seen:
            continue
        result = execute(sql)
        seen[sql] = result
        if not result.ok:
            errors[sql] = f"{result.error}: {result.message}"
            continue
        order.append((index, sql))
        if strategy == "first_ok":
            # The first success decides; later candidates need not run.
            break
    executed_ok = len(order)
    if not order:
        return Selection(sql=top, index=0, changed=False, executed_ok=0, errors=errors)
    if strategy == "first_ok":
        index, sql = order[0]
    else:
        index, sql = _majority(order, seen)
    return Selection(sql=sql, index=index, changed=sql != top, executed_ok=executed_ok,
                     errors=errors)


def _majority(order: list[tuple[int, str]], results: dict[str, ExecResult]) -> tuple[int, str]:
    """The best-ranked member of the largest group of equal results (:func:`~t2s.sqlexec.majority_index`)."""
    winner = majority_index([result_key(results[sql]) for _, sql in order])
    return order[winner or 0]


def select_for_database(candidates: Sequence[str], db_path: str | Path, limits: SqlLimits,
                        strategy: GuidedStrategy = "first_ok") -> Selection:
    """:func:`select_candidate` with candidates run read-only on ``db_path``, each within ``limits``.

    Raises:
        FileNotFoundError: if ``db_path`` is not a file.
        sqlite3.DatabaseError: if it is not a SQLite database.
        ValueError: for an unknown strategy or no candidates.
    """

    with ReadOnlyDatabase(db_path, **limits.kwargs()) as database:
        return select_candidate(candidates, database.execute, strategy)


@dataclass
class GuidedStats:
    """How often execution-guided selection changed the answer."""

    questions: int = 0
    changed: int = 0
    none_executed: int = 0

    def add(self, selection: Selection) -> None:
        """Count one selection."""
        self.questions += 1
        self.changed += int(selection.changed)
        self.none_executed += int(selection.executed_ok == 0)

    @property
    def changed_rate(self) -> float:
        """Fraction of questions whose answer the selection changed."""
        return self.changed / self.questions if self.questions else 0.0

    def summary(self) -> str:
        """One line for logs and reports."""
        return (f"execution-guided: changed {self.changed}/{self.questions} answers "
                f"({100 * self.changed_rate:.1f}%); no candidate executed for "
                f"{self.none_executed}")

    def as_dict(self) -> dict[str, float | int]:
        """Plain data for a manifest."""
        return {"questions": self.questions, "changed": self.changed,
                "changed_rate": round(self.changed_rate, 4), "none_executed": self.none_executed}
