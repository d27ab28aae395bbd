"""Execution accuracy with the semantics of the official Spider evaluator.

The reference is ``eval_exec_match`` in taoyds/test-suite-sql-eval
(``exec_eval.py``) at its default settings (``plug_value=False``,
``keep_distinct=False``), as called by its ``evaluation.py``. Its semantics, which
this module reproduces, are:

* The prediction has every ``value`` replaced by ``1`` (a leftover placeholder
  of value-less Spider models; ``evaluation.py`` does it before scoring).
* In both queries ``> =``, ``< =`` and ``! =`` are joined up, and, unless
  DISTINCT is kept, every ``DISTINCT`` token (as sqlparse tokenizes it, so not
  inside a string literal) is removed, ``COUNT(DISTINCT x)`` included.
* ``YEAR(CURDATE())`` becomes ``2020`` before running.
* Row order matters only if the gold query contains ``order by`` (a plain
  substring test on the lower-cased gold query); otherwise the results are
  compared as multisets of rows.
* Columns may be permuted: the prediction matches if some one-to-one mapping of
  its columns onto the gold columns makes the results equal. Two empty results
  match whatever their columns.
* A prediction that raises any error is wrong; text is decoded from the
  database dropping non-UTF-8 bytes.

Where t2s differs on purpose (documented in the evaluation docs): the time limit
really interrupts a query (the official 60 s ``asyncio.wait_for`` around a
blocking call never fires, so a runaway prediction hangs it); only the
example's own ``<db_id>.sqlite`` is used (test-suite folders with several
databases per db_id are scored by :mod:`t2s.evaluation.test_suite`, as the
separate TS metric); a result longer than ``max_rows`` is
fetched again in full within the byte budget, never compared by its prefix.

On a PostgreSQL database (``data.databases``), the gold query, written for
SQLite, is prepared as above and then transpiled (:func:`t2s.db.transpile.to_postgres`
with the server's table and column names); one that does not transpile or fails
there is ``gold_not_on_postgres`` and not scored (no verdict on the model).
"""

from __future__ import annotations

import re
import sqlite3
import sys
from collections import Counter, OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from t2s.data.schema_text import schema_from_database
from t2s.data.spider import database_path
from t2s.db.transpile import TranspileError, schema_names, to_postgres
from t2s.errors import DataError
from t2s.sqlexec import (
    DEFAULT_MAX_RESULT_BYTES,
    DEFAULT_MAX_ROWS,
    DEFAULT_TIMEOUT_S,
    ErrorKind,
    ExecResult,
    ReadOnlyDatabase,
)

Row = tuple[Any, ...]

# At most this many gold results are kept per process. Spider dev has 1,034
# gold queries of at most 1,860 rows, so the cache never evicts there; the bound
# only matters for very large gold files.
GOLD_CACHE_SIZE = 4096

# Open connections kept per process (one per database). Spider dev uses 20
# databases, train 140; each idle connection costs ~100 KB of page cache.
CONNECTION_CACHE_SIZE = 64

_CUR_YEAR = re.compile(r"YEAR\s*\(\s*CURDATE\s*\(\s*\)\s*\)\s*", flags=re.IGNORECASE)


class EvalError(StrEnum):
    """Why a prediction was scored wrong (the per-example error taxonomy)."""

    EMPTY_PREDICTION = "empty_prediction"
    """The prediction is empty or only whitespace; it is not executed."""
    PARSE_ERROR = ErrorKind.PARSE_ERROR.value
    """SQLite could not parse it."""
    UNKNOWN_TABLE = ErrorKind.UNKNOWN_TABLE.value
    """It names a table the database lacks."""
    UNKNOWN_COLUMN = ErrorKind.UNKNOWN_COLUMN.value
    """It names a column the database lacks."""
    RUNTIME_ERROR = ErrorKind.RUNTIME_ERROR.value
    """Any other SQLite error (including statements the authorizer denied)."""
    TIMEOUT = ErrorKind.TIMEOUT.value
    """It ran past the time limit and was interrupted."""
    RESULT_TOO_LARGE = ErrorKind.RESULT_TOO_LARGE.value
    """Its result passed the byte budget and was stopped (scored like a timeout)."""
    WRONG_RESULT = "wrong_result"
    """It ran, but its result differs from the gold result."""
    GOLD_ERROR = "gold_error"
    """The gold query itself failed, timed out or exceeded the row cap; the
    example cannot be scored and counts as wrong (the official evaluator
    aborts the whole run instead)."""
    GOLD_NOT_ON_POSTGRES = "gold_not_on_postgres"
    """On a PostgreSQL database: the (SQLite) gold query does not transpile, or
    fails or passes the row cap there; the example is not scored (``match`` None)."""


@dataclass(frozen=True)
class ExecutionOutcome:
    """Execution verdict for one example.

    Attributes:
        match: Whether the prediction's result equals the gold result; None when
            it cannot be told (``gold_not_on_postgres``).
        error: ``None`` when ``match``; otherwise why not.
        message: SQLite's message for an error, or a short explanation.
    """

    match: bool | None
    error: EvalError | None = None
    message: str = ""


def prepare_prediction(pred: str) -> str:
    """Apply the official evaluator's prediction rewrite: ``value`` -> ``1``.

    ``evaluation.py`` does ``p_str.replace("value", "1")`` for every prediction
    (case-sensitive, also inside identifiers and strings) before both metrics;
    the same happens here so that verdicts agree.
    """
    return pred.replace("value", "1")


def join_spaced_operators(sql: str) -> str:
    """Turn ``> =``, ``< =``, ``! =`` into ``>=``, ``<=``, ``!=`` (as the official one)."""
    return sql.replace("> =", ">=").replace("< =", "<=").replace("! =", "!=")


def remove_distinct(sql: str) -> str:
    """Keep the first statement and drop its ``DISTINCT`` tokens, as officially.

    The official ``remove_distinct`` joins the leaf tokens of
    ``sqlparse.parse(sql)[0]`` without those equal to ``distinct``: strings and
    identifiers that merely contain the word (``'distinct'``, ``distinctive``)
    stay, and everything after the first statement (``SELECT 1; DROP ...``) is
    dropped, which can turn a two-statement prediction into a runnable one.

    Two shortcuts, neither changing the result: only sqlparse's lexer and
    statement splitter run (its grouping pass, ~80% of the time, never changes
    the leaf tokens); and text with no ``distinct``, no ``;`` and no ``GO``
    (the only statement separators) is returned as is, since sqlparse joins
    its tokens back losslessly.
    """
    if "distinct" not in sql.lower() and ";" not in sql and "GO" not in sql:
        return sql
    from sqlparse.engine import FilterStack

    first = next(iter(FilterStack().run(sql)), None)
    if first is None:  # only whitespace
        return sql
    return "".join(token.value for token in first.flatten() if token.value.lower() != "distinct")


def replace_cur_year(sql: str) -> str:
    """Replace MySQL's ``YEAR(CURDATE())`` by ``2020`` (the official rewrite)."""
    return _CUR_YEAR.sub("2020", sql)


def prepare_query(sql: str, keep_distinct: bool = False) -> str:
    """Rewrite a gold or (already :func:`prepare_prediction`-ed) predicted query
    the way the official evaluator does before running it."""
    sql = join_spaced_operators(sql)
    if not keep_distinct:
        sql = remove_distinct(sql)
    return replace_cur_year(sql)


def order_matters(gold_sql: str) -> bool:
    """Whether row order counts: the gold query mentions ``order by``.

    A substring test, exactly as the official evaluator does it (so
    ``ORDER  BY`` with two spaces does not count, an ``'order by'`` string does).
    """
    return "order by" in gold_sql.lower()


def _sort_key(value: Any) -> str:
    # The official evaluator sorts each row's values by str(value) + str(type):
    # the same key is needed so its quick rejection gives the same answers
    # (e.g. for rows holding both 1 and 1.0).
    return str(value) + str(type(value))


def _unordered(row: Row) -> Row:
    return tuple(sorted(row, key=_sort_key))


def _column_candidates(gold: Sequence[Row], pred: Sequence[Row]) -> list[list[int]]:
    """For each gold column, the prediction columns whose every value occurs in it.

    A column mapping that makes the results equal must map gold column ``i``
    to a prediction column all of whose values appear in gold column ``i``; the
    official evaluator prunes with 20 random rows, this uses every row, which
    keeps exactly the mappings that can still succeed and is deterministic.
    """
    width = len(gold[0])
    gold_columns = [{row[i] for row in gold} for i in range(width)]
    pred_columns = [{row[j] for row in pred} for j in range(width)]
    return [[j for j in range(width) if pred_columns[j] <= gold_columns[i]]
            for i in range(width)]


def _injective_mappings(candidates: list[list[int]]) -> Iterator[tuple[int, ...]]:
    """Yield every one-to-one choice of one candidate per position."""
    chosen: list[int] = []
    used: set[int] = set()

    def extend(position: int) -> Iterator[tuple[int, ...]]:
        if position == len(candidates):
            yield tuple(chosen)
            return
        for column in candidates[position]:
            if column in used:
                continue
            chosen.append(column)
            used.add(column)
            yield from extend(position + 1)
            chosen.pop()
            used.discard(column)

    return extend(0)


def bird_results_match(gold: Sequence[Row], pred: Sequence[Row]) -> bool:
    """BIRD's execution metric: ``set(pred) == set(gold)`` over rows as tuples.

    BIRD's official evaluator compares result *sets*: row order, repeated rows
    and DISTINCT do not matter, but each row's columns must come in the gold
    order (no permutation, unlike :func:`results_match`).

    >>> bird_results_match([(1, "a"), (1, "a")], [(1, "a")]), bird_results_match([(1, "a")], [("a", 1)])
    (True, False)
    """
    return {tuple(row) for row in gold} == {tuple(row) for row in pred}


def results_match(gold: Sequence[Row], pred: Sequence[Row], ordered: bool) -> bool:
    """Whether ``pred`` equals ``gold`` up to a column permutation.

    Rows are compared as a multiset unless ``ordered``. Values compare with
    Python equality (``1 == 1.0``), as in the official evaluator.
    """
    if not gold and not pred:
        return True
    if len(gold) != len(pred):
        return False
    width = len(gold[0])
    if len(pred[0]) != width:
        return False
    gold_unordered = [_unordered(row) for row in gold]
    pred_unordered = [_unordered(row) for row in pred]
    if ordered:
        if gold_unordered != pred_unordered:
            return False
    elif set(gold_unordered) != set(pred_unordered):
        return False
    gold_list = list(gold)
    gold_set = set(gold_list)
    gold_counts: Counter[Row] | None = None
    for mapping in _injective_mappings(_column_candidates(gold, pred)):
        permuted = pred if width == 1 else [tuple(row[j] for j in mapping) for row in pred]
        if ordered:
            if list(permuted) == gold_list:
                return True
        elif set(permuted) == gold_set:
            gold_counts = gold_counts if gold_counts is not None else Counter(gold_list)
            if Counter(permuted) == gold_counts:
                return True
    return False


class ExecutionEvaluator:
    """Scores predictions by execution; keeps connections and gold results cached.

    One instance lives in each worker process. Gold results are cached per
    (database, gold query) so a database's gold query runs once however many
    predictions are scored against it.

    Args:
        db_dir: Folder holding ``<db_id>/<db_id>.sqlite``.
        timeout_s: Time limit per query (gold and prediction each).
        max_rows: Row cap per query.
        max_result_bytes: Result-size budget per query.
        keep_distinct: Keep DISTINCT (the official ``--keep_distinct`` flag).
        metric: ``spider`` (:func:`results_match`) or ``bird`` (:func:`bird_results_match`).
        databases: The ``postgresql://`` DSN of each db_id on a server (``data.databases``);
            the others are ``db_dir``'s SQLite files.
        ves_runs: Timing runs per correct prediction for BIRD's R-VES (``eval.ves_runs``).
        paths: Database files by key, in place of ``<db_dir>/<key>/<key>.sqlite``
            (the test-suite scorer names each database of a suite this way).
    """

    def __init__(self, db_dir: str | Path, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 max_rows: int = DEFAULT_MAX_ROWS,
                 max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES,
                 keep_distinct: bool = False, metric: str = "spider",
                 databases: Mapping[str, str] | None = None, ves_runs: int = 0,
                 paths: dict[str, Path] | None = None) -> None:
        self.db_dir = Path(db_dir)
        self.databases = dict(databases or {})
        self._names: dict[str, set[str]] = {}
        self.paths = dict(paths or {})
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self.max_result_bytes = max_result_bytes
        self.keep_distinct = keep_distinct
        self.metric = metric
        self.ves_runs = ves_runs
        self._connections: OrderedDict[str, ReadOnlyDatabase] = OrderedDict()
        self._gold_cache: OrderedDict[tuple[str, str], ExecResult] = OrderedDict()
        self._last_prediction: tuple[tuple[str, str], ExecResult] | None = None

    def _database(self, db_id: str) -> ReadOnlyDatabase:
        """The cached connection of ``db_id``.

        Raises:
            DataError: if ``db_id`` is unsafe, has no database file, or the
                file is not a SQLite database (SQLite cannot read its schema).
        """

        db = self._connections.pop(db_id, None)
        if db is None and db_id in self.databases:
            db = ReadOnlyDatabase(self.databases[db_id], timeout_s=self.timeout_s,
                                  max_rows=self.max_rows, max_result_bytes=self.max_result_bytes)
        if db is None:
            path = self.paths.get(db_id) or database_path(self.db_dir, db_id)
            try:
                db = ReadOnlyDatabase(path, timeout_s=self.timeout_s, max_rows=self.max_rows,
                                      max_result_bytes=self.max_result_bytes)
            except sqlite3.DatabaseError as exc:
                raise DataError(f"{path}: not a readable SQLite database ({exc})") from None
        self._connections[db_id] = db
        while len(self._connections) > CONNECTION_CACHE_SIZE:
            _, oldest = self._connections.popitem(last=False)
            oldest.close()
        return db

    def gold_result(self, db_id: str, gold_sql: str) -> ExecResult:
        """Run (or recall) an already prepared gold query.

        Raises:
            DataError: if the database is missing or not a SQLite database.
        """
        key = (db_id, gold_sql)
        cached = self._gold_cache.get(key)
        if cached is None:
            cached = self.run(db_id, gold_sql)
            # One past the row cap can hold up to the byte budget (64 MiB):
            # run again rather than kept (none of Spider dev's is over 1,860 rows).
            if len(cached.rows) <= self.max_rows:
                self._gold_cache[key] = cached
            if len(self._gold_cache) > GOLD_CACHE_SIZE:
                self._gold_cache.popitem(last=False)
        return cached

    def run(self, db_id: str, sql: str) -> ExecResult:
        """Run an already prepared query, never returning a prefix of its rows.

        A result cut at ``max_rows`` is fetched again in full, bounded by the
        byte budget alone: BIRD compares row *sets*, so the first rows of a
        longer result could equal (or differ from) the gold set whatever the
        rest holds. Past the budget it is ``result_too_large``, as any result.

        Raises:
            DataError: as :meth:`evaluate`.
        """
        db = self._database(db_id)
        result = db.execute(sql)
        if result.truncated:
            result = db.execute(sql, max_rows=sys.maxsize)
        return result

    def results(self, db_id: str, gold_sql: str,
                pred_sql: str) -> tuple[ExecResult, ExecResult] | ExecutionOutcome:
        """The gold and predicted results as :meth:`evaluate` compares them, or its
        verdict when there is nothing to compare (empty prediction, gold failed).

        The last prediction's result is kept, so the metrics that read the
        same result after execution accuracy (Soft-F1, R-VES) do not run it again.

        Raises:
            DataError: as :meth:`evaluate`.
        """
        found = self._run_both(db_id, gold_sql, pred_sql)
        return found if isinstance(found, ExecutionOutcome) else found[1:]

    def _run_both(self, db_id: str, gold_sql: str,
                  pred_sql: str) -> tuple[str, ExecResult, ExecResult] | ExecutionOutcome:
        """:meth:`results`, with the gold query as run first."""
        if not pred_sql.strip():
            return ExecutionOutcome(False, EvalError.EMPTY_PREDICTION, "empty prediction")
        if self.metric == "bird":  # BIRD runs both queries as written
            gold, pred = gold_sql, pred_sql
        else:
            gold = prepare_query(gold_sql, self.keep_distinct)
            pred = prepare_query(prepare_prediction(pred_sql), self.keep_distinct)
        if db_id in self.databases:
            on_server = self._postgres_gold(db_id, gold)
            if isinstance(on_server, ExecutionOutcome):
                return on_server
            gold_result = on_server
        else:
            gold_result = self.gold_result(db_id, gold)
            if not gold_result.ok:
                return ExecutionOutcome(False, EvalError.GOLD_ERROR,
                                        f"gold query failed: {gold_result.message}")
        key = (db_id, pred)
        if self._last_prediction is None or self._last_prediction[0] != key:
            self._last_prediction = (key, self.run(db_id, pred))
        return gold, gold_result, self._last_prediction[1]

    def _postgres_gold(self, db_id: str, gold: str) -> ExecResult | ExecutionOutcome:
        """The gold result on a server: the prepared gold transpiled first; one that
        does not transpile or run there is not scored (``gold_not_on_postgres``).

        Raises:
            DataError: if the server cannot be reached (no verdict on the SQL).
        """
        if db_id not in self._names:
            self._names[db_id] = schema_names(schema_from_database(self.databases[db_id], db_id))
        try:
            pg_gold = to_postgres(gold, self._names[db_id])
        except TranspileError as exc:
            return ExecutionOutcome(None, EvalError.GOLD_NOT_ON_POSTGRES, str(exc))
        gold_result = self.gold_result(db_id, pg_gold)
        if not gold_result.ok:
            return ExecutionOutcome(None, EvalError.GOLD_NOT_ON_POSTGRES,
                                    f"transpiled gold query failed on PostgreSQL: "
                                    f"{gold_result.message} ({pg_gold})")
        return gold_result

    def evaluate(self, db_id: str, gold_sql: str, pred_sql: str) -> ExecutionOutcome:
        """Score one prediction against its gold query on database ``db_id``.

        Args:
            db_id: The example's database.
            gold_sql: The gold query as written in the gold file.
            pred_sql: The prediction as written (``value`` is rewritten here).

        Raises:
            DataError: if the database is missing or unreadable (inputs are
                checked before scoring, so this means it changed mid-run, or
                has a SQLite header but a corrupt schema).
        """
        found = self._run_both(db_id, gold_sql, pred_sql)
        if isinstance(found, ExecutionOutcome):
            return found
        gold, gold_result, pred_result = found
        if pred_result.error is not None:
            return ExecutionOutcome(False, EvalError(pred_result.error.value), pred_result.message)
        if self.metric == "bird":
            matched = bird_results_match(gold_result.rows, pred_result.rows)
        else:
            matched = results_match(gold_result.rows, pred_result.rows, order_matters(gold))
        if matched:
            return ExecutionOutcome(True)
        return ExecutionOutcome(False, EvalError.WRONG_RESULT, "result differs from gold")

    def run_prediction(self, db_id: str, pred_sql: str) -> ExecResult:
        """Run a prediction as :meth:`evaluate` runs it (same rewrites, limits and connection).

        Raises:
            DataError: as :meth:`evaluate`.
        """
        pred = pred_sql if self.metric == "bird" else prepare_query(
            prepare_prediction(pred_sql), self.keep_distinct)
        return self.run(db_id, pred)

    def close(self) -> None:
        """Close every cached connection."""
        while self._connections:
            _, db = self._connections.popitem()
            db.close()
