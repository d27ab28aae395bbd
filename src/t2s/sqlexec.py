"""Safe execution of untrusted SQL on SQLite databases.

This is the one place where t2s runs SQL written by a model or a user; the
evaluator, batch inference (``--execute``) and serving all go through it. Four
independent guards, so that a prediction such as ``DROP TABLE singer`` can never
change a byte of a database and a runaway query can never hang a job:

1. **Read-only open.** Databases are opened through the URI ``file:...?mode=ro``,
   so SQLite itself refuses every write ("attempt to write a readonly
   database") and never creates a journal next to the file. A WAL-mode file
   with no ``-wal`` beside it is opened ``immutable=1`` as well, because a
   ``mode=ro`` reader of a WAL database creates (and leaves) ``-wal`` and
   ``-shm`` files; see :func:`connect_readonly`.
2. **An authorizer** that allows only reading (SELECT, reads of columns, SQL
   functions, recursive CTEs and a few schema-introspection PRAGMAs) and denies
   everything else: INSERT/UPDATE/DELETE, CREATE/DROP/ALTER (also of TEMP
   objects), ATTACH/DETACH (which ``VACUUM INTO`` uses to write a new file),
   transactions, PRAGMA assignments, ``load_extension()`` and
   ``fts3_tokenizer()`` (whose result is a pointer into process memory, and
   whose two-argument form installs one). Virtual tables (FTS5, FTS4) are
   connected when the database is opened, before the authorizer, because their
   constructors run statements it would deny; reading them then passes as
   reading, and writing them is denied like any write. Extension loading is
   also switched off at the connection level and no database may be attached
   (``SQLITE_LIMIT_ATTACHED = 0``).
3. **A time limit that really interrupts.** A progress handler, called by SQLite
   every :data:`PROGRESS_STEPS` virtual-machine instructions, aborts the
   statement once its deadline has passed. A plain ``wait_for`` around a blocking
   ``execute`` (as in the official Spider scripts) cannot stop a running query;
   this can, mid-statement, within a few milliseconds of the limit. SQLite
   checks for an interrupt only between instructions, never inside one C
   function call nor while it compiles a statement, so more guards bound what
   runs unchecked: a watchdog thread calls ``conn.interrupt()`` at the deadline
   (seen at every loop step); no built-in is slower than linear in its
   arguments (:mod:`t2s.sqlfunctions` replaces the quadratic ``instr``,
   ``replace`` and two-argument ``trim``; LIKE/GLOB patterns are capped at
   :data:`MAX_LIKE_PATTERN_BYTES`) and no value is longer than
   :data:`MAX_VALUE_BYTES`; a statement whose program costs more than
   :data:`MAX_PROGRAM_COST` is refused before it runs (one row of it is what
   runs between two checks); compiling stops at :data:`MAX_PROGRAM_STEPS`
   instructions and :data:`SQLITE_HEAP_LIMIT_BYTES` of memory, and a statement
   whose compiling would pass the deadline is a timeout. Together: any single
   SELECT stops within its limit + ~0.5 s, + ~0.8 s for the slowest to compile
   within the memory cap (bench/bench_sql_limit.py).
4. **A row cap.** At most ``max_rows`` rows are fetched; a result with more
   rows is returned truncated and flagged, so ``SELECT *`` over a 6-way cross
   join costs neither minutes nor gigabytes.
5. **A result-size budget.** Rows are fetched one at a time and their bytes
   counted; past ``max_result_bytes`` the statement is stopped and reported as
   ``result_too_large``, so many rows of large values (``zeroblob`` per row)
   cannot exhaust memory between two deadline checks. With the per-value cap
   (:data:`MAX_VALUE_BYTES`) and the column cap (:data:`MAX_COLUMNS`), the
   memory one query holds is at most the budget plus one row.

Errors never escape as exceptions: :func:`execute` returns an :class:`ExecResult`
that says ``ok`` or gives an :class:`ErrorKind` and SQLite's message.

A ``postgresql://`` DSN in place of a path is handed to :mod:`t2s.db.postgres`
(by :func:`connect_readonly`, :func:`execute`, :class:`ReadOnlyDatabase` and
:func:`run_query`), which gives the same results and error kinds with its own
guards (read-only role and transaction, ``statement_timeout``, a server cursor
fetched against the same budgets).
"""

from __future__ import annotations

import _sqlite3
import ctypes
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any

from t2s import sqlfunctions
from t2s.config import SQL_MAX_RESULT_BYTES, SQL_MAX_ROWS, SQL_TIMEOUT_S

# t2s.db.postgres imports this module back; both only use each other's names
# inside functions, so either may be imported first.
from t2s.db import postgres
from t2s.db.pool import ConnectionPool, PoolBusyError

# Raised for a server database (PostgreSQL) that cannot be reached or dropped
# the connection: no verdict on the SQL. SQLite files never raise it.
from t2s.errors import DatabaseUnavailableError

logger = logging.getLogger(__name__)

# The defaults (and why they are 10 s and 100,000 rows) live with the settings
# that override them: t2s.config.SQL_TIMEOUT_S and SQL_MAX_ROWS.
DEFAULT_TIMEOUT_S = SQL_TIMEOUT_S
DEFAULT_MAX_ROWS = SQL_MAX_ROWS
DEFAULT_MAX_RESULT_BYTES = SQL_MAX_RESULT_BYTES

# SQLite calls the progress handler every N VM instructions. One instruction is
# ~10-50 ns, so 1,000 steps means a deadline check every ~10-50 us: the stop
# lands within a millisecond of the limit, and the Python callback (~0.3 us)
# costs ~1% of execution time.
PROGRESS_STEPS = 1_000

# The longest string/BLOB a query may build or read (SQLite also refuses to read
# a stored value longer than this). Spider values are at most a few KB and
# BIRD's longest texts tens of KB. The cap is also what bounds one C function
# call, which no progress handler or interrupt can stop: ``instr`` and
# ``replace`` cost up to (L/2)^2 byte compares, 2 MiB -> 1e12 -> 31.6 s measured;
# 256 KiB -> 1.7e10 -> 0.19 s measured here (x64 less). It also stops memory
# bombs such as ``SELECT zeroblob(1e9)`` at once (SQLite's default is 1e9).
MAX_VALUE_BYTES = 256 * 1024

# The longest LIKE/GLOB pattern. Matching costs up to value x pattern character
# steps inside one C call: 256 KiB x 25,000 (near SQLite's default of 50,000)
# took 5 s; the slowest pattern tried ('%' then literals) takes 0.05 s at 100
# bytes and 0.025 s at 50 over a 256 KiB value. The longest gold patterns are 10
# bytes (Spider dev), 16 (Spider train), 19 (BIRD mini-dev).
MAX_LIKE_PATTERN_BYTES = 50

# The most VM instructions one statement may compile to (SQLITE_LIMIT_VDBE_OP;
# SQLite's default is 250,000,000). Spider dev's largest gold query compiles to
# a few hundred; nested subqueries that SQLite flattens into one another grow
# the program (and the time and memory to build it, which no progress handler
# sees) multiplicatively: 4 levels x 30 took 26 s and 5.7 GB before this cap,
# and stop at once with it.
MAX_PROGRAM_STEPS = 20_000

# What a statement's program may cost, in units from EXPLAIN (see
# program_cost): every instruction 1, a function call 20, a LIKE/GLOB 250.
# Between two interrupt checks SQLite runs straight-line code, at most the whole
# program once per row, so the budget bounds how far one row can run past the
# deadline: ~250 linear calls at the value cap (~0.5 ms each) or 19 LIKEs at the
# pattern cap (~0.025 s each), ~0.5 s measured (bench/bench_sql_limit.py).
# (BIRD mini-dev's gold has a query with 9 LIKEs.)
# Spider dev's 972 executable gold queries cost at most a tenth of it.
MAX_PROGRAM_COST = 5_000
_INSTRUCTION_COST = 1
_FUNCTION_COST = 20
_PATTERN_MATCH_COST = 250

# All SQLite connections of the process together may allocate at most this
# (sqlite3_hard_heap_limit64): the backstop for what a statement allocates while
# it is being prepared, before any guard runs (a flattened subquery bomb reached
# 19 GB in 86 s). The soft limit, half of it, makes SQLite give back page cache
# first, so that many open databases (serving, evaluation) do not reach the hard
# one: 300 connections with full caches hit it without.
SQLITE_HEAP_LIMIT_BYTES = 128 << 20

# Columns of a result at most: BIRD's widest table has 115 columns (Match), so
# 256 leaves room for joins, and one row holds at most 256 x 256 KiB (64 MiB).
# Tables may be wider (up to SQLite's 2,000): the cap is set after the schema is read.
MAX_COLUMNS = 256

# What a fetched value costs, for the result budget: text and BLOBs by length,
# numbers and NULL as a machine word; each row adds a tuple header.
_NUMBER_BYTES = 8
_ROW_BYTES = 56

# PRAGMAs that only describe the schema; inference uses them to introspect a
# user's database. Any other PRAGMA (and any PRAGMA with ``=``) is denied.
# data_version (a read-only counter of other connections' commits) is what
# FTS5 asks on every query of a full-text table.
_READ_ONLY_PRAGMAS = frozenset({
    "table_info", "table_xinfo", "table_list", "index_list", "index_info",
    "index_xinfo", "foreign_key_list", "data_version",
})

# SQL functions that are never allowed, even though reading is. fts3_tokenizer
# returns a tokenizer's address (``hex(fts3_tokenizer('simple'))`` leaks a
# pointer, defeating ASLR) and with two arguments installs a pointer as code.
# (sqlite_offset returns file offsets, not memory: allowed.)
_DENIED_FUNCTIONS = frozenset({"load_extension", "fts3_tokenizer"})

# The SQLite header: a magic string, then the write/read format versions at
# bytes 18 and 19, which are 2 for a WAL-mode database (1 for a rollback journal).
_SQLITE_MAGIC = b"SQLite format 3\x00"
_WAL_FORMAT = 2


# Statements not costed by program_cost: EXPLAIN cannot be explained again, and
# a PRAGMA (only the schema-describing ones pass the authorizer) runs no program.
_UNCOSTED = re.compile(r"^\s*(?:(?:--[^\n]*(?:\n|$)|/\*.*?\*/)\s*)*(?:explain|pragma)\b",
                       re.IGNORECASE | re.DOTALL)


def _heap_limit_call(name: str, limit: int) -> int | None:
    """Call SQLite's ``name`` (``sqlite3_hard_heap_limit64`` or the soft one) with
    ``limit`` (-1 only reads it); the previous limit, or None where it is missing.

    Python has no binding for them; the library the ``_sqlite3`` module is
    linked with exports them (SQLite >= 3.31).
    """
    try:
        function = getattr(ctypes.CDLL(_sqlite3.__file__), name)
    except (OSError, AttributeError):
        return None
    function.argtypes, function.restype = [ctypes.c_int64], ctypes.c_int64
    return int(function(limit))


def _limit_sqlite_heap() -> None:
    """Set SQLite's process-wide heap limits (:data:`SQLITE_HEAP_LIMIT_BYTES`, soft half)."""
    hard = _heap_limit_call("sqlite3_hard_heap_limit64", SQLITE_HEAP_LIMIT_BYTES)
    soft = _heap_limit_call("sqlite3_soft_heap_limit64", SQLITE_HEAP_LIMIT_BYTES // 2)
    if hard is None or soft is None:
        # The other guards still hold; only the backstop while compiling is missing.
        logger.warning("this SQLite has no heap-limit functions (SQLite >= 3.31 has them): "
                       "a statement that explodes while compiling is not memory-bounded")


_limit_sqlite_heap()

# SQLite's own text of a REAL, for the functions of t2s.sqlfunctions: one private
# in-memory connection, behind a lock because serving calls from many threads.
_real_text_conn = sqlite3.connect(":memory:", check_same_thread=False)
_real_text_lock = threading.Lock()


def _real_text(value: float) -> str:
    with _real_text_lock:
        return _real_text_conn.execute("SELECT CAST(? AS TEXT)", (value,)).fetchone()[0]


def heap_limit_bytes() -> int:
    """SQLite's current hard heap limit for this process (0: none or not settable)."""
    return _heap_limit_call("sqlite3_hard_heap_limit64", -1) or 0


def program_cost(conn: sqlite3.Connection, sql: str) -> int | None:
    """What ``sql``'s compiled program costs, in :data:`MAX_PROGRAM_COST` units.

    Returns:
        The cost, or ``None`` when ``sql`` is not costed (EXPLAIN, PRAGMA) or
        does not compile; running it then reports why.

    Raises:
        MemoryError: if compiling it passes :data:`MAX_PROGRAM_STEPS` or the
            heap limit (SQLite reports both as out of memory).
    """
    if _UNCOSTED.match(sql):
        return None
    try:
        program = conn.execute("EXPLAIN " + sql).fetchall()
    except (sqlite3.Error, ValueError):
        return None
    cost = 0
    for _, opcode, *_operands, p4, _p5, _comment in program:
        if opcode in ("Function", "PureFunc"):
            name = str(p4).split("(", 1)[0].lower()
            cost += _PATTERN_MATCH_COST if name in ("like", "glob") else _FUNCTION_COST
        else:
            cost += _INSTRUCTION_COST
    return cost


class ErrorKind(StrEnum):
    """Why a query did not produce rows."""

    PARSE_ERROR = "parse_error"
    """SQLite could not parse the text (syntax error, incomplete input, a NUL
    character, several statements at once)."""
    UNKNOWN_TABLE = "unknown_table"
    """The query names a table that the database does not have."""
    UNKNOWN_COLUMN = "unknown_column"
    """The query names a column that does not exist (or is not in scope)."""
    RUNTIME_ERROR = "runtime_error"
    """Anything else SQLite refused while preparing or running the statement:
    an unknown function, an ambiguous column, a misused aggregate, or an
    operation the authorizer denied (the message then says "not authorized")."""
    TIMEOUT = "timeout"
    """The time limit interrupted the statement."""
    RESULT_TOO_LARGE = "result_too_large"
    """The result passed the byte budget while being fetched; it was stopped."""


@dataclass(frozen=True)
class ExecResult:
    """The outcome of running one statement.

    Attributes:
        rows: Fetched rows (at most ``max_rows``); empty on error.
        error: ``None`` on success, else why it failed.
        message: SQLite's error message (empty on success).
        truncated: True if the query had more than ``max_rows`` rows.
        elapsed_s: Wall time spent preparing, running and fetching.
        columns: Result column names (empty on error).
    """

    rows: list[tuple[Any, ...]]
    error: ErrorKind | None = None
    message: str = ""
    truncated: bool = False
    elapsed_s: float = 0.0
    columns: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the statement ran to completion (possibly truncated)."""
        return self.error is None


def result_key(result: ExecResult) -> tuple[str, ...]:
    """A hashable, order-insensitive key of a result's rows (Spider compares rows as bags)."""
    return tuple(sorted(repr(row) for row in result.rows))


def majority_index(keys: Sequence[Hashable | None]) -> int | None:
    """Which of several ranked candidates the most others agree with.

    Candidates with equal keys (e.g. :func:`result_key` of their results) form
    a group; ``None`` keys (a failed or skipped candidate) vote for nothing.
    The largest group wins, ties go to the group whose first member ranks
    highest, and the winner's best-ranked member is returned: the rule of
    execution-guided ``majority`` selection and of the evaluator's maj@k.

    Returns:
        The index of that member, or ``None`` when every key is ``None``.
    """
    groups: dict[Hashable, list[int]] = {}
    for index, key in enumerate(keys):
        if key is not None:
            groups.setdefault(key, []).append(index)
    if not groups:
        return None
    return min(groups.values(), key=lambda members: (-len(members), members[0]))[0]


def _authorize(action: int, arg1: str | None, arg2: str | None,
               db_name: str | None, trigger: str | None) -> int:
    """SQLite authorizer: allow reading, deny everything else.

    The argument meaning depends on ``action`` (see sqlite3_set_authorizer):
    for SQLITE_PRAGMA ``arg1`` is the pragma name and ``arg2`` its argument;
    for SQLITE_FUNCTION ``arg2`` is the function name.
    """
    if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE):
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION:
        denied = (arg2 or "").lower() in _DENIED_FUNCTIONS
        return sqlite3.SQLITE_DENY if denied else sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA:
        # ``PRAGMA table_info(t)`` arrives with arg2='t'; an assignment such as
        # ``PRAGMA writable_schema=1`` arrives with arg1='writable_schema', so the
        # name whitelist alone decides.
        allowed = (arg1 or "").lower() in _READ_ONLY_PRAGMAS
        return sqlite3.SQLITE_OK if allowed else sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_DENY


def _decode_text(data: bytes) -> str:
    # A few Spider databases hold bytes that are not UTF-8; SQLite's default
    # decoder raises on them. The official evaluator drops undecodable bytes
    # (``errors="ignore"``), and matching its denotations needs the same.
    return data.decode("utf-8", errors="ignore")


def is_dsn(target: object) -> bool:
    """Whether ``target`` names a PostgreSQL database (a ``postgresql://`` DSN) rather than a file."""
    return postgres.is_dsn(target)


def describe_target(target: str | Path) -> str:
    """``target`` as it may be shown (logs, messages, reports): a DSN's password is ``***``.

    The one way every stage displays a database it was given.
    """
    return postgres.redact_dsn(str(target)) if postgres.is_dsn(target) else str(target)


# SQLite's messages for a missing table or column: "no such table: singers",
# "no such column: T1.nme".
_SQLITE_MISSING = re.compile(r"^no such (table|view|column): (.+)$")


def missing_object(message: str) -> tuple[str, str] | None:
    """``("table" | "column", name)`` that an error message says is missing, on either engine.

    >>> missing_object("no such table: singers"), missing_object('relation "singers" does not exist')
    (('table', 'singers'), ('table', 'singers'))
    """
    found = _SQLITE_MISSING.match(message)
    if found is not None:
        return ("column" if found.group(1) == "column" else "table"), found.group(2)
    return postgres.missing_object(message)


def open_pool(target: str, size: int) -> ConnectionPool:
    """A pool of at most ``size`` read-only sessions to the server database ``target``.

    Raises:
        ValueError: if ``target`` is not a DSN (a SQLite file is opened per
            statement: that costs ~0.1 ms and holds nothing on a server).
    """
    if not is_dsn(target):
        raise ValueError(f"{target} is not a server database; pools are for DSNs")
    return ConnectionPool(target, size)


def describe_non_file(path: Path) -> str:
    """What ``path`` is, for a message, when it is not a regular file."""
    if path.is_dir():
        return "is a directory"
    return "is not a regular file" if path.exists() else "does not exist"


def _check_regular_file(path: Path) -> None:
    """Say what ``path`` is when it cannot be a database file.

    Raises:
        FileNotFoundError: if nothing is at ``path``.
        IsADirectoryError: if it is a directory.
        OSError: if it is not a regular file (a device such as ``/dev/zero``,
            a FIFO, a socket), which SQLite would read forever or misreport.
    """
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory, not an SQLite database file")
    if not path.exists():
        raise FileNotFoundError(f"no SQLite database at {path}")
    if not path.is_file():
        raise OSError(f"{path} is not a regular file, so not an SQLite database file")


def _is_unopened_wal(path: Path) -> bool:
    """Whether ``path`` is a WAL-mode database that no connection has open.

    A ``mode=ro`` reader of a WAL database creates ``-wal`` and ``-shm`` files and
    leaves them behind; ``immutable=1`` avoids that, and is safe while no ``-wal``
    file exists: every writer of a WAL database keeps one while it is open, so
    none is writing (one that starts after this check is not seen by the reader).
    """
    with path.open("rb") as f:
        header = f.read(20)
    wal = header.startswith(_SQLITE_MAGIC) and header[18] == header[19] == _WAL_FORMAT
    return wal and not path.with_name(path.name + "-wal").exists()


def connect_readonly(path: str | Path, *, immutable: bool = False) -> Any:
    """Open ``path`` read-only with the authorizer, limits and no extensions.

    A ``postgresql://`` DSN opens a read-only PostgreSQL session instead
    (:func:`t2s.db.postgres.connect_readonly`, whose errors it raises).

    Args:
        path: An existing SQLite file, or a PostgreSQL DSN.
        immutable: Also pass ``immutable=1``: SQLite then takes no locks and
            never looks for a hot journal. Only for files on read-only media
            that nothing else changes while t2s runs (a database changed under
            an immutable connection gives wrong results); off by default
            because ``mode=ro`` already guarantees no write. A WAL-mode file
            with no ``-wal`` file is opened immutable regardless, so that
            reading it creates no ``-wal``/``-shm`` files.

    Raises:
        FileNotFoundError: if nothing is at ``path``.
        IsADirectoryError: if ``path`` is a directory.
        OSError: if ``path`` is not a regular file (e.g. ``/dev/zero``).
        sqlite3.DatabaseError: if the file is not a SQLite database.
    """
    if postgres.is_dsn(path):
        return postgres.connect_readonly(str(path))
    path = Path(path).resolve()
    # Checked here because SQLite reports all three as the confusing "unable to
    # open database file" (and would read /dev/zero as an empty database).
    _check_regular_file(path)
    immutable = immutable or _is_unopened_wal(path)
    uri = path.as_uri() + "?mode=ro" + ("&immutable=1" if immutable else "")
    # check_same_thread=False: serving hands a connection to a worker thread;
    # the connection is read-only and used by one request at a time.
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    try:
        conn.text_factory = _decode_text
        # Python builds without extension support lack this method; there
        # extensions cannot be loaded at all.
        if hasattr(conn, "enable_load_extension"):
            conn.enable_load_extension(False)
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, MAX_LIKE_PATTERN_BYTES)
        sqlfunctions.install(conn, max_bytes=MAX_VALUE_BYTES, real_text=_real_text)
        conn.setlimit(sqlite3.SQLITE_LIMIT_VDBE_OP, MAX_PROGRAM_STEPS)
        # Reading the schema here makes a non-SQLite file fail now, with
        # "file is not a database", rather than on the first query.
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        # The column cap is for results; SQLite applies it to table definitions
        # too, so set before the schema is read it made a 1,500-column table
        # "malformed database schema - too many columns" (SQLite's own cap is 2,000).
        conn.setlimit(sqlite3.SQLITE_LIMIT_COLUMN, MAX_COLUMNS)
        _connect_virtual_tables(conn)
        conn.set_authorizer(_authorize)
    except sqlite3.Error:
        conn.close()
        raise
    return conn


# Virtual tables connected at open at most (Spider and BIRD have none; an FTS5
# table is one): ~50 us each, so a hostile schema costs at most ~0.1 s here.
MAX_VIRTUAL_TABLES = 2_000


def _connect_virtual_tables(conn: sqlite3.Connection) -> None:
    """Run each virtual table's constructor now, before the authorizer is installed.

    A virtual table (FTS5, FTS4, R-tree) is connected on its first use, and its
    constructor runs statements of its own that the authorizer denies (FTS5
    reports an UPDATE of ``sqlite_master.type``, FTS4 a ``PRAGMA page_size``), so
    every read failed with "vtable constructor failed". Connected once here, it
    stays connected; reads then pass the authorizer as reads, and writes to it
    are still denied. A table whose module is not built in stays unusable, with
    SQLite's own message when a query names it.
    """
    names = [row[0] for row in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND rootpage = 0 LIMIT ?",
        (MAX_VIRTUAL_TABLES,))]
    for name in names:
        quoted = '"' + str(name).replace('"', '""') + '"'
        try:
            conn.execute(f"SELECT 1 FROM {quoted} LIMIT 0").fetchall()
        except sqlite3.Error:
            continue


class _Watchdog:
    """Calls ``conn.interrupt()`` once ``delay_s`` has passed, unless stopped first.

    The progress handler runs only every :data:`PROGRESS_STEPS` VM instructions;
    when each instruction is a slow function call (one per row), 1,000 of them
    pass between checks. SQLite checks the interrupt flag at every loop step, so
    this bounds the overrun by one row's work instead, which MAX_PROGRAM_COST
    bounds in turn. A thread per statement costs ~0.3 ms measured on a loaded
    2-core machine (vs ~4 us without): ~0.6 s over Spider dev's ~2,000 queries.
    """

    def __init__(self, conn: sqlite3.Connection, delay_s: float) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._stopped = False
        self.fired = False
        self._timer = threading.Timer(max(delay_s, 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        # The lock keeps the interrupt off a connection whose statement has
        # ended (and perhaps been closed) by the time the timer runs.
        with self._lock:
            if not self._stopped:
                self.fired = True
                self._conn.interrupt()

    def stop(self) -> None:
        """Cancel the interrupt (idempotent); after this it never fires."""
        with self._lock:
            self._stopped = True
        self._timer.cancel()


def classify_error(exc: BaseException, timed_out: bool = False) -> ErrorKind:
    """Map an exception raised by sqlite3 to an :class:`ErrorKind`.

    Args:
        exc: The exception from ``execute``/``fetch``.
        timed_out: Whether the deadline had passed when it was raised (an
            interrupted statement reports "interrupted").
    """
    message = str(exc).lower()
    if timed_out and "interrupt" in message:
        return ErrorKind.TIMEOUT
    if "string or blob too big" in message:
        # A value (or an intermediate string) past MAX_VALUE_BYTES: the per-value
        # part of the result budget, scored like a result past max_result_bytes.
        return ErrorKind.RESULT_TOO_LARGE
    if message.startswith("no such table") or message.startswith("no such view"):
        return ErrorKind.UNKNOWN_TABLE
    if message.startswith("no such column"):
        return ErrorKind.UNKNOWN_COLUMN
    syntax_markers = ("syntax error", "incomplete input", "unrecognized token",
                      "null character", "one statement at a time")
    if any(marker in message for marker in syntax_markers) or isinstance(exc, UnicodeError):
        return ErrorKind.PARSE_ERROR
    return ErrorKind.RUNTIME_ERROR


def execute(conn: Any, sql: str, *, timeout_s: float = DEFAULT_TIMEOUT_S,
            max_rows: int = DEFAULT_MAX_ROWS,
            max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES,
            prepare_only: bool = False) -> ExecResult:
    """Run one statement on a connection from :func:`connect_readonly`.

    Args:
        conn: A read-only connection (the guards live on the connection); a
            PostgreSQL one goes to :func:`t2s.db.postgres.execute`.
        sql: One SQL statement; a trailing ``;`` is fine, two statements are a
            parse error.
        timeout_s: Wall-clock limit for preparing, running and fetching.
        max_rows: Fetch at most this many rows; more sets ``truncated``.
        max_result_bytes: Stop with ``RESULT_TOO_LARGE`` once the fetched rows
            hold more than this many bytes.
        prepare_only: Check the statement (syntax, tables, columns, the
            guards) without running it: SQLite's ``EXPLAIN``, PostgreSQL's
            ``DECLARE`` without a fetch. No rows on success.

    Returns:
        An :class:`ExecResult`; this function does not raise for bad SQL.

    Raises:
        t2s.db.postgres.PostgresConnectionError: PostgreSQL only, if the
            connection is lost (no verdict on the SQL).
    """
    if not isinstance(conn, sqlite3.Connection):
        return postgres.execute(conn, sql, timeout_s=timeout_s, max_rows=max_rows,
                                max_result_bytes=max_result_bytes, prepare_only=prepare_only)
    if prepare_only:
        # EXPLAIN compiles the statement (tables, columns, authorizer) into
        # bytecode rows without running it; those rows are not a result.
        result = execute(conn, "EXPLAIN " + sql, timeout_s=timeout_s, max_rows=1,
                         max_result_bytes=max_result_bytes)
        return replace(result, rows=[], truncated=False, columns=())
    deadline = time.monotonic() + timeout_s
    start = time.perf_counter()

    def past_deadline() -> int:
        return 1 if time.monotonic() > deadline else 0

    conn.set_progress_handler(past_deadline, PROGRESS_STEPS)
    cursor = conn.cursor()
    watchdog = _Watchdog(conn, deadline - time.monotonic())
    try:
        costed_at = time.monotonic()
        cost = program_cost(conn, sql)
        if cost is not None and cost > MAX_PROGRAM_COST:
            return ExecResult(rows=[], error=ErrorKind.RUNTIME_ERROR,
                              message=f"statement too complex: its program costs {cost} units, "
                                      f"over the limit of {MAX_PROGRAM_COST}",
                              elapsed_s=time.perf_counter() - start)
        # Compiling is the one step SQLite never interrupts, and running the
        # statement compiles it again: if that would end past the deadline
        # (CTEs referenced inside CTEs took 0.9 s to compile to 360
        # instructions), stop now rather than overrun by a second compile.
        compile_s = time.monotonic() - costed_at
        if time.monotonic() + compile_s > deadline:
            return ExecResult(rows=[], error=ErrorKind.TIMEOUT,
                              message=f"statement takes {compile_s:.2f} s to compile, "
                                      f"more than its time limit leaves",
                              elapsed_s=time.perf_counter() - start)
        cursor.execute(sql)
        rows, size = [], 0
        # One row at a time: a batch of rows could itself blow the budget.
        while len(rows) <= max_rows and (row := cursor.fetchone()) is not None:
            size += _ROW_BYTES + sum(len(v) if isinstance(v, str | bytes) else _NUMBER_BYTES
                                     for v in row)
            if size > max_result_bytes:
                return ExecResult(rows=[], error=ErrorKind.RESULT_TOO_LARGE,
                                  message=f"result larger than {max_result_bytes} bytes "
                                          f"after {len(rows)} rows",
                                  elapsed_s=time.perf_counter() - start)
            rows.append(row)
        columns = tuple(d[0] for d in cursor.description or ())
    except MemoryError:
        # SQLite's out-of-memory: the program passed MAX_PROGRAM_STEPS or the
        # heap limit while being compiled (or a row while being built).
        return ExecResult(rows=[], error=ErrorKind.RUNTIME_ERROR,
                          message=f"statement too complex: it compiles to more than "
                                  f"{MAX_PROGRAM_STEPS} instructions or needs more than "
                                  f"{SQLITE_HEAP_LIMIT_BYTES >> 20} MiB",
                          elapsed_s=time.perf_counter() - start)
    # sqlite3.Error covers SQL errors and interrupts; ValueError covers text
    # that cannot be sent to SQLite (NUL characters, lone surrogates).
    except (sqlite3.Error, ValueError) as exc:
        watchdog.stop()
        timed_out = watchdog.fired or time.monotonic() > deadline
        return ExecResult(rows=[], error=classify_error(exc, timed_out), message=str(exc),
                          elapsed_s=time.perf_counter() - start)
    finally:
        watchdog.stop()
        cursor.close()
        conn.set_progress_handler(None, 0)
    truncated = len(rows) > max_rows
    return ExecResult(rows=rows[:max_rows], truncated=truncated,
                      elapsed_s=time.perf_counter() - start, columns=columns)


class ReadOnlyDatabase:
    """A read-only connection to one SQLite file (or PostgreSQL DSN), usable as a context manager.

    Example::

        with ReadOnlyDatabase("concert_singer.sqlite", timeout_s=5) as db:
            result = db.execute("SELECT count(*) FROM singer")

    Args:
        path: The SQLite file, or a ``postgresql://`` DSN (``path`` then holds
            it with its password redacted).
        timeout_s: Default time limit per statement.
        max_rows: Default row cap per statement.
        max_result_bytes: Default result-size budget per statement.
        immutable: See :func:`connect_readonly`.

    Raises:
        OSError: if ``path`` is not a regular file (FileNotFoundError if
            missing, IsADirectoryError if a directory).
        sqlite3.DatabaseError: if it is not a SQLite database.
        t2s.db.postgres.PostgresConnectionError: for a DSN, if the server cannot
            be reached or the role may do more than read.
    """

    def __init__(self, path: str | Path, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 max_rows: int = DEFAULT_MAX_ROWS,
                 max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES, immutable: bool = False) -> None:
        self.path = postgres.redact_dsn(path) if postgres.is_dsn(path) else Path(path)
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self.max_result_bytes = max_result_bytes
        self._conn: sqlite3.Connection | None = connect_readonly(path, immutable=immutable)

    def execute(self, sql: str, *, timeout_s: float | None = None,
                max_rows: int | None = None, prepare_only: bool = False) -> ExecResult:
        """Run (or only check) one statement; see :func:`execute`.

        Raises:
            RuntimeError: if the database was closed.
        """
        if self._conn is None:
            raise RuntimeError(f"database {self.path} is closed")
        return execute(self._conn, sql,
                       timeout_s=self.timeout_s if timeout_s is None else timeout_s,
                       max_rows=self.max_rows if max_rows is None else max_rows,
                       max_result_bytes=self.max_result_bytes, prepare_only=prepare_only)

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> ReadOnlyDatabase:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def run_query(path: str | Path, sql: str, *, timeout_s: float = DEFAULT_TIMEOUT_S,
              max_rows: int = DEFAULT_MAX_ROWS,
              max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES,
              prepare_only: bool = False) -> ExecResult:
    """Open ``path`` read-only, run (or with ``prepare_only`` only check) one statement, close it.

    Raises:
        OSError: if ``path`` is not a regular file (FileNotFoundError if
            missing, IsADirectoryError if a directory).
        sqlite3.DatabaseError: if it is not a SQLite database.
    """
    with ReadOnlyDatabase(path, timeout_s=timeout_s, max_rows=max_rows,
                          max_result_bytes=max_result_bytes) as db:
        return db.execute(sql, prepare_only=prepare_only)


def create_database(path: str | Path) -> sqlite3.Connection:
    """A writable connection to a *new* SQLite file ``path`` (for writers that build one,
    e.g. WikiSQL tables materialised from ``tables.jsonl``); never an existing database.

    Raises:
        FileExistsError: if ``path`` exists: a user's or dataset's database is
            opened only read-only (:func:`connect_readonly`).
    """
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists; create_database writes new files only")
    path.parent.mkdir(parents=True, exist_ok=True)
    return sqlite3.connect(path)


__all__ = [
    "ConnectionPool", "DatabaseUnavailableError", "PoolBusyError", "missing_object", "open_pool",
    "DEFAULT_MAX_RESULT_BYTES", "DEFAULT_MAX_ROWS", "DEFAULT_TIMEOUT_S", "ErrorKind", "ExecResult", "ReadOnlyDatabase",
    "classify_error", "connect_readonly", "create_database", "describe_non_file", "describe_target", "execute",
    "is_dsn", "run_query",
]
