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
   calls that handler only between VM instructions, never inside one C
   function, so two more guards bound what one call can cost: a watchdog thread
   calls ``conn.interrupt()`` at the deadline (checked at every loop step, not
   every :data:`PROGRESS_STEPS`), and the length limits (:data:`MAX_VALUE_BYTES`,
   :data:`MAX_LIKE_PATTERN_BYTES`, and linear-time two-argument ``trim``) keep
   the slowest single built-in call near 0.2 s. Together: a SELECT that calls
   one costly function per row stops within 2x its limit for limits >= 1 s
   (k such calls in one row can overrun by ~k x 0.2 s).
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

import sqlite3
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any

# t2s.db.postgres imports this module back; both only use each other's names
# inside functions, so either may be imported first.
from t2s.config import SQL_MAX_RESULT_BYTES, SQL_MAX_ROWS, SQL_TIMEOUT_S
from t2s.db import postgres

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
# steps (~0.8 ns each): 256 KiB x 25,000 (near SQLite's default of 50,000)
# took 5 s, 256 KiB x 1,000 takes 0.2 s. Spider and BIRD patterns are < 100.
MAX_LIKE_PATTERN_BYTES = 1_000

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
        _install_linear_trims(conn)
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


def _as_text(value: str | bytes | int | float) -> str:
    """A SQL value as the text SQLite's trim would see (BLOBs as UTF-8)."""
    if isinstance(value, bytes):
        return _decode_text(value)
    if isinstance(value, float):
        # SQLite renders REALs with 15 significant digits and keeps a ".0".
        text = f"{value:.15g}"
        return text if any(c in text for c in ".eni") else text + ".0"
    return str(value)


def _install_linear_trims(conn: sqlite3.Connection) -> None:
    """Replace the two-argument ``trim``/``ltrim``/``rtrim`` with linear ones.

    SQLite's compares each character of X with every character of Y:
    ``ltrim(printf('%.65536c','a'), printf('%.65536c','b')||'a')`` took 6.9 s,
    and at the value cap 27 s, inside one C call. A set makes it O(len X + len Y).
    The one-argument forms trim spaces only and are linear already.
    """
    def make(strip_left: bool, strip_right: bool) -> Callable[[Any, Any], str | None]:
        def trim(value: Any, characters: Any) -> str | None:
            if value is None or characters is None:
                return None
            text, chars = _as_text(value), set(_as_text(characters))
            start, end = 0, len(text)
            while strip_left and start < end and text[start] in chars:
                start += 1
            while strip_right and end > start and text[end - 1] in chars:
                end -= 1
            return text[start:end]
        return trim

    for name, left, right in (("trim", True, True), ("ltrim", True, False),
                              ("rtrim", False, True)):
        conn.create_function(name, 2, make(left, right), deterministic=True)


class _Watchdog:
    """Calls ``conn.interrupt()`` once ``delay_s`` has passed, unless stopped first.

    The progress handler runs only every :data:`PROGRESS_STEPS` VM instructions;
    when each instruction is a slow function call (one per row), 1,000 of them
    pass between checks. SQLite checks the interrupt flag at every loop step, so
    this bounds the overrun by one row's work instead. (Not by less: several
    slow calls in one row, e.g. 20 x ``instr`` at the value cap, ran 4 s against
    a 1 s limit.) A thread per statement costs ~0.3 ms measured on a loaded
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
            max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES) -> ExecResult:
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

    Returns:
        An :class:`ExecResult`; this function does not raise for bad SQL.

    Raises:
        t2s.db.postgres.PostgresConnectionError: PostgreSQL only, if the
            connection is lost (no verdict on the SQL).
    """
    if not isinstance(conn, sqlite3.Connection):
        return postgres.execute(conn, sql, timeout_s=timeout_s, max_rows=max_rows,
                                max_result_bytes=max_result_bytes)
    deadline = time.monotonic() + timeout_s
    start = time.perf_counter()

    def past_deadline() -> int:
        return 1 if time.monotonic() > deadline else 0

    conn.set_progress_handler(past_deadline, PROGRESS_STEPS)
    cursor = conn.cursor()
    watchdog = _Watchdog(conn, deadline - time.monotonic())
    try:
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
                max_rows: int | None = None) -> ExecResult:
        """Run one statement; see :func:`execute`.

        Raises:
            RuntimeError: if the database was closed.
        """
        if self._conn is None:
            raise RuntimeError(f"database {self.path} is closed")
        return execute(self._conn, sql,
                       timeout_s=self.timeout_s if timeout_s is None else timeout_s,
                       max_rows=self.max_rows if max_rows is None else max_rows,
                       max_result_bytes=self.max_result_bytes)

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
              max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES) -> ExecResult:
    """Open ``path`` read-only, run one statement, close it.

    Raises:
        OSError: if ``path`` is not a regular file (FileNotFoundError if
            missing, IsADirectoryError if a directory).
        sqlite3.DatabaseError: if it is not a SQLite database.
    """
    with ReadOnlyDatabase(path, timeout_s=timeout_s, max_rows=max_rows,
                          max_result_bytes=max_result_bytes) as db:
        return db.execute(sql)


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
    "DEFAULT_MAX_RESULT_BYTES", "DEFAULT_MAX_ROWS", "DEFAULT_TIMEOUT_S", "ErrorKind", "ExecResult", "ReadOnlyDatabase",
    "classify_error", "connect_readonly", "create_database", "describe_non_file", "execute", "run_query",
]
