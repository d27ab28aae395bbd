"""Test-suite execution accuracy (TS, Zhong et al. 2020): match gold on every database.

A db_id's suite is its ``<db_id>.sqlite`` first, then every other ``*.sqlite``
in its folder (the layout of the distilled suites of taoyds/test-suite-sql-eval),
then the neighbours that ``eval.test_suite.neighbours`` generates
(:mod:`t2s.evaluation.neighbours`). A prediction is right by TS only if it
matches gold, by the execution metric's semantics, on every one of them, so
TS <= EX always.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from t2s.data.spider import database_path
from t2s.errors import DataError
from t2s.evaluation.execution import (
    EvalError,
    ExecutionEvaluator,
    ExecutionOutcome,
    bird_results_match,
    order_matters,
    prepare_query,
    results_match,
)

if TYPE_CHECKING:
    from t2s.config import EvalConfig
    from t2s.evaluation.inputs import GoldExample
    from t2s.sqlexec import ExecResult


def folder_databases(db_dir: str | Path, db_id: str) -> list[Path]:
    """``<db_id>.sqlite`` and then the folder's other ``*.sqlite`` files, by name.

    Raises:
        DataError: if ``<db_id>.sqlite`` is missing or unsafe (see
            :func:`~t2s.data.spider.database_path`).
    """
    main = database_path(db_dir, db_id)
    root = main.parent.resolve()
    others = sorted(p for p in main.parent.glob("*.sqlite")
                    if p.name != main.name and p.is_file() and p.resolve().parent == root)
    return [main, *others]


def _same_by(metric: str) -> Any:
    def same(gold: str, gold_result: ExecResult, other: ExecResult) -> bool:
        if metric == "bird":
            return bird_results_match(gold_result.rows, other.rows)
        return results_match(gold_result.rows, other.rows, order_matters(gold))
    return same


def build_suites(examples: Sequence[GoldExample], db_dir: str | Path, options: EvalConfig,
                 skip: Iterable[str] = ()) -> dict[str, list[str]]:
    """Every scored db_id's suite: folder databases, then generated neighbours.

    Raises:
        DataError: if a database is missing or its schema cannot be read, or
            the neighbour cache cannot be written.
    """
    from t2s.evaluation.neighbours import build_neighbours

    settings = options.test_suite
    golds: dict[str, list[str]] = {}
    for example in examples:
        if example.db_id not in skip:
            gold = example.gold if options.exec_metric == "bird" else prepare_query(
                example.gold, options.keep_distinct)
            golds.setdefault(example.db_id, []).append(gold)
    suites: dict[str, list[str]] = {}
    for db_id, queries in golds.items():
        paths = folder_databases(db_dir, db_id)
        if settings.neighbours > 0:
            try:
                built = build_neighbours(
                    paths[0], queries, count=settings.neighbours, seed=settings.seed,
                    cache_dir=settings.cache_dir, same=_same_by(options.exec_metric),
                    max_rows_per_table=settings.max_rows_per_table,
                    candidates=settings.candidates, **options.limits.kwargs())
            except (sqlite3.DatabaseError, OSError) as exc:
                raise DataError(f"{paths[0]}: cannot build test-suite neighbours ({exc})") from None
            paths += built.paths
        suites[db_id] = [str(p) for p in paths]
    return suites


class TestSuiteEvaluator:
    """Scores a prediction on every database of its db_id's suite.

    Args:
        suites: Database files by db_id (from :func:`build_suites`).
        options: The scoring settings (limits, DISTINCT, execution semantics).
    """

    __test__ = False  # not a pytest class

    def __init__(self, suites: Mapping[str, Sequence[str]], options: EvalConfig) -> None:
        self.suites = {db_id: list(paths) for db_id, paths in suites.items()}
        keys = {f"{db_id}#{i}": Path(path) for db_id, paths in self.suites.items()
                for i, path in enumerate(paths)}
        self.executor = ExecutionEvaluator(".", **options.limits.kwargs(),
                                           keep_distinct=options.keep_distinct,
                                           metric=options.exec_metric, paths=keys)

    def evaluate(self, db_id: str, gold_sql: str, pred_sql: str) -> ExecutionOutcome:
        """Match on every suite database; the first mismatch is named in the message.

        Raises:
            DataError: if a suite database disappeared.
        """
        paths = self.suites.get(db_id) or []
        if not paths:
            # A server database (data.databases) has no files to fuzz: not scored.
            return ExecutionOutcome(None, EvalError.GOLD_ERROR,
                                    f"no test suite for {db_id!r} (SQLite databases only)")
        for position, path in enumerate(paths):
            outcome = self.executor.evaluate(f"{db_id}#{position}", gold_sql, pred_sql)
            if not outcome.match:
                where = f"suite database {position + 1}/{len(paths)} ({Path(path).name})"
                return ExecutionOutcome(False, outcome.error, f"{where}: {outcome.message}")
        return ExecutionOutcome(True)

    def close(self) -> None:
        """Close every connection."""
        self.executor.close()


def ex_not_ts(examples: Iterable[Mapping[str, Any]]) -> list[int]:
    """Indexes of the report examples that EX scores right and TS wrong."""
    return [e["index"] for e in examples
            if e.get("execution_match") is True and e.get("test_suite_match") is False]
