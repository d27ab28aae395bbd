"""Safe execution of untrusted SQL on PostgreSQL: the second engine behind :mod:`t2s.sqlexec`.

:func:`t2s.sqlexec.connect_readonly`, :class:`~t2s.sqlexec.ReadOnlyDatabase` and
:func:`~t2s.sqlexec.run_query` hand a ``postgresql://`` (or ``postgres://``) DSN
to this module, which returns the same :class:`~t2s.sqlexec.ExecResult` with the
same :class:`~t2s.sqlexec.ErrorKind` values as SQLite. The guards, each on its own:

1. **A role that may read but not reach the server.** :func:`connect_readonly`
   refuses a superuser and any member of ``pg_read_server_files``,
   ``pg_write_server_files`` or ``pg_execute_server_program``: those may read any
   server file (``pg_read_file``), import one (``lo_import``) or run a program
   (``COPY ... TO PROGRAM``) even inside a read-only transaction. ``t2s db
   grant-readonly ROLE`` prints the statements for a role that has SELECT only.
2. **Read-only twice.** The session starts with ``default_transaction_read_only
   = on`` (a startup option, checked after connecting: a pooler that drops it is
   refused), and every statement runs in its own ``BEGIN READ ONLY`` transaction
   that is always rolled back, so even a ``set_config(...)`` a query makes ends
   with it. PostgreSQL refuses writes in such a transaction (``nextval`` too),
   but not all: ``lo_from_bytea`` creates a large object there (measured on 15),
   which only the rollback removes.
3. **Only a query, only one.** The statement becomes a server-side cursor,
   ``DECLARE ... CURSOR FOR <sql>``, sent with the extended protocol: the server
   accepts only SELECT, VALUES or TABLE there (INSERT, DDL, SET, COPY are syntax
   errors), refuses data-modifying CTEs, and refuses a second statement ("cannot
   insert multiple commands into a prepared statement"). A NUL character, which
   libpq would silently treat as the end of the text, is refused before sending.
4. **A time limit that really interrupts, over the whole statement.** The server
   enforces ``statement_timeout``, but counts it per protocol statement: each
   ``FETCH`` would get the whole limit again. So before the ``DECLARE`` and before
   every ``FETCH`` the limit is set to the time left (``SET LOCAL``), and
   ``pg_sleep(60)`` or a slow row stream stops at the deadline. The timer is
   armed when each protocol statement starts, so a query's own
   ``set_config('statement_timeout', '0', true)`` does not lift it (tested).
5. **Row and byte budgets.** Rows come in batches that start at one row and
   double (up to :data:`MAX_FETCH_ROWS`) only while the batch, at the widest row
   seen so far, fits in the bytes left; bytes are counted as sqlexec counts them.
   Past ``max_rows`` the result is truncated and flagged; past
   ``max_result_bytes`` it is ``result_too_large``. Measured: 300 MB of 100 KB
   rows against a 32 MiB budget grew the client's peak RSS by 45 MiB (191 MiB
   when every FETCH asked for 1,000 rows). Known gap: PostgreSQL has no per-value
   cap like SQLite's 256 KiB, so a single row (up to 1 GB a value) is received
   whole before it is counted.

Not guarded: a query may call ``pg_cancel_backend``/``pg_terminate_backend``
(EXECUTE is PUBLIC) on other sessions of the same role, e.g. a parallel job's;
give concurrent jobs their own roles, or revoke EXECUTE on those two in the database.

Errors are returned, never raised, except when the server cannot be reached or
the connection is lost: :class:`PostgresConnectionError` then says so, because
that is no verdict on the SQL (an evaluation must not score it as a wrong
prediction). Messages never hold a password: DSNs are shown through
:func:`redact_dsn`.

psycopg 3 is imported only when a PostgreSQL database is opened
(``pip install 't2s[postgres]'``), so SQLite-only commands do not pay its ~140 ms.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from t2s import sqlexec
from t2s.config import SQL_MAX_RESULT_BYTES, SQL_MAX_ROWS, SQL_TIMEOUT_S
from t2s.errors import DatabaseUnavailableError

if TYPE_CHECKING:
    import psycopg

# The URI schemes libpq accepts; only these are told apart from file paths.
DSN_SCHEMES = ("postgresql://", "postgres://")

# Connecting waits at most this long (libpq's default is forever): a server
# that does not answer in 10 s is down for an evaluation's purposes.
CONNECT_TIMEOUT_S = 10

# TCP keepalives (libpq's defaults are the kernel's: ~2 h): a server that vanished
# mid-query is noticed after 30 s idle + 3 probes x 10 s = ~60 s, not never.
# (Unix sockets ignore them; there the kernel reports a dead peer at once.)
_KEEPALIVES = {"keepalives": "1", "keepalives_idle": "30", "keepalives_interval": "10",
               "keepalives_count": "3"}

# Largest FETCH: 1,000 rows x ~100 bytes per Spider row is ~100 KB per round
# trip, so 100,000 rows take ~110 FETCHes (1, 2, 4, ... then 1,000 at a time).
MAX_FETCH_ROWS = 1_000

# The server cursor's name; one per connection at a time (each statement's
# transaction ends, and the cursor with it, before the next starts).
_CURSOR = "t2s_query"

# Roles whose members may read or write server files or run programs.
_SERVER_ROLES = ("pg_read_server_files", "pg_write_server_files", "pg_execute_server_program")

# SQLSTATE -> kind (an ErrorKind value: this module is imported while sqlexec
# is still loading, so its names are looked up only when called); the first two characters are the class (see PostgreSQL's
# "Appendix A. Error Codes"). Everything else is a runtime error, as in SQLite:
# insufficient privilege (42501), read-only transaction (25006), unknown
# function (42883), division by zero (22012).
_KIND_BY_SQLSTATE = {
    "42601": "parse_error",        # syntax_error (also: two statements)
    "42P01": "unknown_table",      # undefined_table
    "42703": "unknown_column",     # undefined_column
    "54000": "result_too_large",   # program_limit_exceeded (e.g. a value past 1 GB)
}
_QUERY_CANCELED = "57014"
_CONNECTION_CLASS = "08"


# PostgreSQL's primary messages for a missing relation or column (SQLSTATE 42P01,
# 42703): 'relation "singers" does not exist', 'column "nme" does not exist',
# 'column s.nme does not exist' (a qualified name is printed unquoted).
_MISSING = re.compile(r'^(relation|column) (?:"((?:[^"]|"")+)"|(\S+)) does not exist')


def missing_object(message: str) -> tuple[str, str] | None:
    """``("table" | "column", name)`` when ``message`` is PostgreSQL's "does not exist", else None."""
    found = _MISSING.match(message)
    if found is None:
        return None
    kind = "table" if found.group(1) == "relation" else "column"
    return kind, (found.group(2) or found.group(3)).replace('""', '"')


class PostgresConnectionError(DatabaseUnavailableError):
    """The server cannot be reached, refused the role, or dropped the connection."""


def is_dsn(target: object) -> bool:
    """Whether ``target`` is a PostgreSQL connection URI rather than a file path."""
    return isinstance(target, str) and target.startswith(DSN_SCHEMES)


def redact_dsn(dsn: str) -> str:
    """``dsn`` with any password replaced by ``***`` (URI or ``key=value`` form)."""
    if is_dsn(dsn):
        # postgresql://user:secret@host/db?password=secret -> user:***@ ... password=***
        dsn = re.sub(r"^(postgres(?:ql)?://[^:@/?]*):[^@/?]*@", r"\1:***@", dsn)
        return re.sub(r"([?&]password=)[^&]*", r"\1***", dsn)
    # host=h password=secret / password='se cret'
    return re.sub(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", dsn)


def load_psycopg() -> Any:
    """The psycopg module, imported on first use (it costs ~140 ms).

    Raises:
        PostgresConnectionError: if psycopg 3 is not installed.
    """
    try:
        import psycopg
    except ImportError as exc:
        raise PostgresConnectionError(
            "PostgreSQL needs psycopg 3: pip install 't2s[postgres]'") from exc
    return psycopg


def _with_options(dsn: str, options: str) -> dict[str, str]:
    """``dsn``'s parameters with ``options`` appended to its own ``options``.

    Raises:
        PostgresConnectionError: if ``dsn`` cannot be parsed.
    """
    psycopg = load_psycopg()
    try:
        params = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise PostgresConnectionError(f"invalid PostgreSQL DSN {redact_dsn(dsn)}: {exc}") from None
    # A DSN's own options (e.g. -c search_path=...) are kept; ours come last and win.
    params["options"] = f"{params.get('options', '')} {options}".strip()
    return params


def connect(dsn: str, *, options: str = "", autocommit: bool = False) -> psycopg.Connection:
    """A plain connection (for writers such as ``t2s db import``); no read-only guard.

    Raises:
        PostgresConnectionError: if the server cannot be reached or refuses the login.
    """
    psycopg = load_psycopg()
    params = _with_options(dsn, options)
    params.setdefault("connect_timeout", str(CONNECT_TIMEOUT_S))
    for key, value in _KEEPALIVES.items():
        params.setdefault(key, value)
    params.setdefault("application_name", "t2s")
    try:
        return psycopg.connect(**params, autocommit=autocommit)
    except psycopg.Error as exc:
        # libpq's messages name host, port and user, never the password.
        raise PostgresConnectionError(
            f"cannot connect to {redact_dsn(dsn)}: {str(exc).strip()}") from None


def connect_readonly(dsn: str) -> psycopg.Connection:
    """Open ``dsn`` as a read-only session with a role that cannot reach the server.

    Raises:
        PostgresConnectionError: if the server cannot be reached, the login is
            refused, the role is a superuser or may read/write server files or run
            programs, or the read-only startup option did not take effect.
    """
    conn = connect(dsn, options="-c default_transaction_read_only=on")
    conn.read_only = True  # every transaction: BEGIN READ ONLY
    try:
        row = conn.execute(
            "SELECT current_user, r.rolsuper, current_setting('default_transaction_read_only'), "
            + ", ".join(f"pg_has_role(current_user, '{role}', 'MEMBER')" for role in _SERVER_ROLES)
            + " FROM pg_roles r WHERE r.rolname = current_user").fetchone()
        conn.rollback()
    except load_psycopg().Error as exc:
        conn.close()
        raise PostgresConnectionError(f"cannot check the role on {redact_dsn(dsn)}: {exc}") from None
    user, superuser, read_only, *server_roles = row
    problem = None
    if superuser:
        problem = "it is a superuser"
    elif any(server_roles):
        granted = [r for r, member in zip(_SERVER_ROLES, server_roles, strict=True) if member]
        problem = f"it is a member of {', '.join(granted)}"
    elif read_only != "on":
        problem = "default_transaction_read_only did not take effect (a connection pooler?)"
    if problem:
        conn.close()
        raise PostgresConnectionError(
            f"refusing to run SQL as role {user!r} on {redact_dsn(dsn)}: {problem}; connect as a "
            f"SELECT-only role (`t2s db grant-readonly ROLE` prints the statements)")
    return conn


def classify_error(exc: BaseException, timed_out: bool = False) -> sqlexec.ErrorKind:
    """Map an exception raised by psycopg to an :class:`~t2s.sqlexec.ErrorKind`.

    Args:
        exc: The exception from ``execute``/``fetch``.
        timed_out: Whether the deadline had passed when it was raised.
    """
    sqlstate = getattr(exc, "sqlstate", None) or ""
    if sqlstate == _QUERY_CANCELED and (timed_out or "statement timeout" in str(exc)):
        return sqlexec.ErrorKind.TIMEOUT
    return sqlexec.ErrorKind(_KIND_BY_SQLSTATE.get(sqlstate, "runtime_error"))


def _value_bytes(value: Any) -> int:
    """What one value costs against the result budget (sqlexec's measure)."""
    if isinstance(value, str | bytes | memoryview):
        return len(value)
    if value is None or isinstance(value, int | float):
        return sqlexec._NUMBER_BYTES
    return len(str(value))  # Decimal, dates, arrays, JSON: their text length


def _set_time_left(control: psycopg.Cursor, deadline: float) -> bool:
    """``SET LOCAL statement_timeout`` to what is left before ``deadline``; False if nothing is."""
    left_ms = int((deadline - time.monotonic()) * 1000)
    if left_ms < 1:
        return False
    # An integer we computed, never text from the query: safe to format in.
    control.execute(f"SET LOCAL statement_timeout = {left_ms}")
    return True


def _timeout(start: float, timeout_s: float) -> sqlexec.ExecResult:
    return sqlexec.ExecResult(rows=[], error=sqlexec.ErrorKind.TIMEOUT,
                              message=f"statement stopped at its {timeout_s:g} s limit",
                              elapsed_s=time.perf_counter() - start)


def execute(conn: psycopg.Connection, sql: str, *, timeout_s: float = SQL_TIMEOUT_S,
            max_rows: int = SQL_MAX_ROWS, max_result_bytes: int = SQL_MAX_RESULT_BYTES,
            prepare_only: bool = False) -> sqlexec.ExecResult:
    """Run one query on a connection from :func:`connect_readonly`; see :func:`t2s.sqlexec.execute`.

    With ``prepare_only`` the ``DECLARE`` parses, checks and plans the query
    (unknown tables and columns are found) and no row is fetched: nothing runs.

    Returns:
        An :class:`~t2s.sqlexec.ExecResult`; bad SQL is a result, not an exception.

    Raises:
        PostgresConnectionError: if the connection is closed or is lost meanwhile.
    """
    psycopg = load_psycopg()
    start = time.perf_counter()
    deadline = time.monotonic() + timeout_s
    if "\x00" in sql:
        # libpq sends text up to the first NUL: "SELECT 1\0; DROP ..." would run "SELECT 1".
        return sqlexec.ExecResult(rows=[], error=sqlexec.ErrorKind.PARSE_ERROR,
                                  message="the SQL text contains a NUL character")
    if conn.closed:
        raise PostgresConnectionError("the PostgreSQL connection is closed")
    control, cursor = conn.cursor(), conn.cursor(name=_CURSOR)
    try:
        if not _set_time_left(control, deadline):
            return _timeout(start, timeout_s)
        cursor.execute(sql)
        if prepare_only:
            return sqlexec.ExecResult(rows=[], elapsed_s=time.perf_counter() - start,
                                      columns=tuple(d.name for d in cursor.description or ()))
        rows: list[tuple[Any, ...]] = []
        size, widest, batch = 0, 1, 1
        while len(rows) <= max_rows:
            if not _set_time_left(control, deadline):
                return _timeout(start, timeout_s)
            want = min(batch, max_rows + 1 - len(rows))
            fetched = cursor.fetchmany(want)
            for row in fetched:
                row_bytes = sqlexec._ROW_BYTES + sum(_value_bytes(v) for v in row)
                widest = max(widest, row_bytes)
                size += row_bytes
                if size > max_result_bytes:
                    return sqlexec.ExecResult(
                        rows=[], error=sqlexec.ErrorKind.RESULT_TOO_LARGE,
                        message=f"result larger than {max_result_bytes} bytes after "
                                f"{len(rows)} rows", elapsed_s=time.perf_counter() - start)
                rows.append(tuple(row))
            if len(fetched) < want:
                break
            # Double, but only as far as the widest row seen fits in the bytes left.
            batch = max(1, min(2 * batch, MAX_FETCH_ROWS, (max_result_bytes - size) // widest))
        columns = tuple(d.name for d in cursor.description or ())
    except psycopg.Error as exc:
        sqlstate = getattr(exc, "sqlstate", None) or ""
        if conn.broken or conn.closed or sqlstate.startswith(_CONNECTION_CLASS):
            raise PostgresConnectionError(f"lost the PostgreSQL connection: {exc}") from None
        # The primary message only: the rest quotes our DECLARE around the query.
        message = getattr(getattr(exc, "diag", None), "message_primary", None) or str(exc)
        return sqlexec.ExecResult(rows=[], error=classify_error(exc, time.monotonic() >= deadline),
                                  message=message.strip(), elapsed_s=time.perf_counter() - start)
    finally:
        if not (conn.closed or conn.broken):
            # Ends the transaction, and the server cursor with it (so close() below
            # sends nothing); undoes any set_config() the query made.
            conn.rollback()
        cursor.close()
        control.close()
    truncated = len(rows) > max_rows
    return sqlexec.ExecResult(rows=rows[:max_rows], truncated=truncated,
                              elapsed_s=time.perf_counter() - start, columns=columns)


__all__ = [
    "CONNECT_TIMEOUT_S", "DSN_SCHEMES", "MAX_FETCH_ROWS", "PostgresConnectionError", "classify_error",
    "connect", "connect_readonly", "execute", "is_dsn", "load_psycopg", "missing_object", "redact_dsn",
]
