"""Load a SQLite database into PostgreSQL (``t2s db import --from-sqlite DB --to DSN``).

Spider's and BIRD's databases are SQLite files whose declared types are hints:
SQLite stores ``'N/A'`` in an ``INTEGER`` column and ``2.5`` in a ``varchar(20)``.
So each column's PostgreSQL type comes from SQLite's own affinity rules applied to
its declared type *and* to the values it really holds (one pass over the data):

=====================================  ==========================================
values in the column (NULLs aside)      PostgreSQL type
=====================================  ==========================================
integers only                          ``bigint`` (``double precision`` if REAL)
integers, or text that spells one      ``bigint`` (``'42'``, not ``'042'`` or ``' 42'``)
integers and reals                     ``double precision`` (SQLite's REAL)
BLOBs only                             ``bytea``
any text (or BLOBs mixed with others)  ``text`` (numbers as SQLite prints them)
none (all NULL)                        from the declared type's affinity
=====================================  ==========================================

Integer-spelling text becomes ``bigint`` because Spider declares many key columns
``text`` while the keys they join hold integers: SQLite compares the two,
PostgreSQL has no ``text = bigint`` (and a foreign key needs equal types).
``text`` rather than ``varchar(n)``/``date``: SQLite enforces neither a length nor
a date format, and comparing text keeps SQLite's results (``'2009-01-01' <
date_col`` compares strings there). Names are lowercased, as PostgreSQL folds
unquoted identifiers, so ``SELECT Name FROM Singer`` finds them. Primary and foreign
keys are added after the data when the data satisfies them; one it violates is
skipped and listed in the report. Data goes in with ``COPY``; everything happens
in one transaction, so a failed import leaves nothing behind.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from t2s.db import postgres
from t2s.db.grants import quote_ident
from t2s.errors import DataError, InputError
from t2s.sqlexec import connect_readonly

# SQLite's type affinities (https://sqlite.org/datatype3.html, section 3.1), in
# the order its rules test them.
_AFFINITY_RULES = (("INT", "integer"), ("CHAR", "text"), ("CLOB", "text"), ("TEXT", "text"),
                   ("BLOB", "blob"), ("REAL", "real"), ("FLOA", "real"), ("DOUB", "real"))
# A column with no values takes its type from the declared affinity alone.
_TYPE_OF_AFFINITY = {"integer": "bigint", "real": "double precision", "numeric": "double precision",
                     "text": "text", "blob": "text"}

# Text that reads back as the same integer: no sign but "-" (and no "-0"), no leading zero,
# at most 18 digits (every such number fits in a bigint, 9.2e18).
INTEGER_TEXT = re.compile(r"0|-?[1-9][0-9]{0,17}")

# Rows read from SQLite per fetch while copying: ~1 MB for Spider-sized rows.
_COPY_BATCH = 10_000


def affinity(declared: str) -> str:
    """SQLite's affinity of a declared column type (``integer``, ``text``, ``blob``,
    ``real`` or ``numeric``)."""
    upper = declared.upper()
    if not upper:
        return "blob"
    for marker, name in _AFFINITY_RULES:
        if marker in upper:
            return name
    return "numeric"


def column_type(declared: str, kinds: set[type], integer_text: bool = False) -> str:
    """The PostgreSQL type for a column declared ``declared`` holding values of ``kinds``.

    Args:
        declared: The declared type (``PRAGMA table_info``), maybe empty.
        kinds: The Python types of its non-NULL values.
        integer_text: Whether every text value spells an integer (:data:`INTEGER_TEXT`).
    """
    if not kinds:
        return _TYPE_OF_AFFINITY[affinity(declared)]
    if kinds <= {int, str} and integer_text and affinity(declared) != "real":
        return "bigint"
    if kinds == {int}:
        return "double precision" if affinity(declared) == "real" else "bigint"
    if kinds <= {int, float}:
        return "double precision"
    if kinds == {bytes}:
        return "bytea"
    return "text"


def _as_text(value: Any) -> str:
    """A value stored in a ``text`` column: NULs dropped (PostgreSQL text cannot hold
    them), BLOBs decoded as the evaluator decodes them, numbers as SQLite prints them."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="ignore")
    elif isinstance(value, float):
        value = repr(value)
    return str(value).replace("\x00", "")


@dataclass(frozen=True)
class ForeignKey:
    """``columns`` of a table reference ``ref_columns`` of ``ref_table`` (PostgreSQL names)."""

    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...] | None  # None: the referenced table's primary key


@dataclass(frozen=True)
class TablePlan:
    """One SQLite table and what it becomes in PostgreSQL."""

    source: str                         # the SQLite name
    name: str                           # the PostgreSQL name (lowercased)
    sources: tuple[str, ...]            # SQLite column names, in order
    columns: tuple[tuple[str, str], ...]  # (PostgreSQL name, type), in the same order
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()


@dataclass
class ImportReport:
    """What ``t2s db import`` did.

    Attributes:
        rows: Rows copied per table (PostgreSQL names).
        types: Each table's columns and their PostgreSQL types.
        skipped: Keys the data violates, with PostgreSQL's reason.
        created_database: Whether the target database was created.
    """

    rows: dict[str, int] = field(default_factory=dict)
    types: dict[str, dict[str, str]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    created_database: bool = False


def _tables(conn: sqlite3.Connection) -> list[str]:
    return [row[0] for row in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY rowid")]


def _rows(conn: sqlite3.Connection, table: str, columns: tuple[str, ...]) -> Iterator[tuple]:
    select = ", ".join(quote_ident(c) for c in columns)
    cursor = conn.execute(f"SELECT {select} FROM {quote_ident(table)}")
    while batch := cursor.fetchmany(_COPY_BATCH):
        yield from batch


def plan_table(conn: sqlite3.Connection, table: str) -> TablePlan:
    """Read ``table``'s columns, keys and values' kinds from SQLite."""
    info = conn.execute(f"PRAGMA table_info({quote_ident(table)})").fetchall()
    sources = tuple(row[1] for row in info)
    kinds: list[set[type]] = [set() for _ in sources]
    integer_text = [True] * len(sources)
    for row in _rows(conn, table, sources):
        for i, value in enumerate(row):
            if value is not None:
                kinds[i].add(type(value))
                if isinstance(value, str) and integer_text[i]:
                    integer_text[i] = INTEGER_TEXT.fullmatch(value) is not None
    columns = tuple((name.lower(), column_type(row[2] or "", kind, ints))
                    for name, row, kind, ints in zip(sources, info, kinds, integer_text, strict=True))
    primary_key = tuple(row[1].lower() for row in sorted(info, key=lambda r: r[5]) if row[5] > 0)
    groups: dict[int, list[tuple]] = {}
    for row in conn.execute(f"PRAGMA foreign_key_list({quote_ident(table)})"):
        groups.setdefault(row[0], []).append(row)
    foreign_keys = []
    for rows in groups.values():
        rows.sort(key=lambda r: r[1])
        refs = tuple(r[4].lower() for r in rows if r[4] is not None)
        foreign_keys.append(ForeignKey(columns=tuple(r[3].lower() for r in rows),
                                       ref_table=rows[0][2].lower(),
                                       ref_columns=refs if len(refs) == len(rows) else None))
    return TablePlan(source=table, name=table.lower(), sources=sources, columns=columns,
                     primary_key=primary_key, foreign_keys=tuple(foreign_keys))


def _open_target(dsn: str) -> tuple[Any, bool]:
    """A writable connection to ``dsn``'s database, created first when missing.

    Raises:
        PostgresConnectionError: if neither the database nor the server's
            ``postgres`` database (to create it) can be reached.
    """
    try:
        return postgres.connect(dsn), False
    except postgres.PostgresConnectionError as exc:
        if "does not exist" not in str(exc):
            raise
    psycopg = postgres.load_psycopg()
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    name = params.get("dbname")
    if not name:
        raise postgres.PostgresConnectionError(f"{postgres.redact_dsn(dsn)} names no database")
    maintenance = psycopg.conninfo.make_conninfo(dsn, dbname="postgres")
    with postgres.connect(maintenance, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {quote_ident(name)}")
    return postgres.connect(dsn), True


def _add_key(conn: Any, statement: str, what: str, report: ImportReport) -> None:
    """Run ``statement`` in a savepoint; on failure note ``what`` and why in the report."""
    psycopg = postgres.load_psycopg()
    try:
        with conn.transaction():
            conn.execute(statement)
    except psycopg.Error as exc:
        report.skipped.append(f"{what}: {str(exc).strip().splitlines()[0]}")


def import_sqlite(sqlite_path: str | Path, dsn: str, *, schema: str = "public",
                  replace: bool = False) -> ImportReport:
    """Copy every table of ``sqlite_path`` into ``schema`` of the database ``dsn`` names.

    Args:
        sqlite_path: The SQLite file (opened read-only, so values past sqlexec's
            256 KiB cap cannot be read).
        dsn: A ``postgresql://`` DSN of a role that may create tables there (and
            the database itself, when it does not exist).
        schema: Target schema (must exist).
        replace: Drop tables of the same names first; otherwise they are an error.

    Raises:
        InputError: if the schema is missing, or a table exists and ``replace`` is off.
        DataError: if SQLite cannot read a table or PostgreSQL refuses the data.
        PostgresConnectionError: if the server cannot be reached.
        OSError, sqlite3.DatabaseError: if ``sqlite_path`` is not a SQLite file.
    """
    psycopg = postgres.load_psycopg()
    source = connect_readonly(sqlite_path)
    report = ImportReport()
    try:
        plans = [plan_table(source, table) for table in _tables(source)]
        target, report.created_database = _open_target(dsn)
        with target, target.transaction():
            clashes = _clashes(target, dsn, schema, plans, replace)
            for plan in plans:
                report.rows[plan.name] = _create_and_copy(target, source, schema, plan,
                                                          drop=plan.name in clashes)
                report.types[plan.name] = dict(plan.columns)
            _add_keys(target, schema, plans, report)
    except sqlite3.Error as exc:
        raise DataError(f"cannot read {sqlite_path}: {exc}") from None
    except psycopg.Error as exc:
        raise DataError(f"import into {postgres.redact_dsn(dsn)} failed (nothing was kept): "
                        f"{str(exc).strip()}") from None
    finally:
        source.close()
    return report


def _clashes(target: Any, dsn: str, schema: str, plans: list[TablePlan],
             replace: bool) -> set[str]:
    """The planned tables that ``schema`` already has.

    Raises:
        InputError: if ``schema`` does not exist, or a table does and ``replace`` is off.
    """
    if target.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone() is None:
        raise InputError(f"{postgres.redact_dsn(dsn)} has no schema {schema!r}")
    existing = {row[0] for row in target.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,))}
    clashes = {p.name for p in plans if p.name in existing}
    if clashes and not replace:
        raise InputError(f"{postgres.redact_dsn(dsn)} already has table(s) "
                         f"{', '.join(sorted(clashes))} in schema {schema}; --replace drops them")
    return clashes


def _add_keys(target: Any, schema: str, plans: list[TablePlan], report: ImportReport) -> None:
    """Primary keys first (a foreign key needs the unique key it references), then foreign keys."""
    for plan in plans:
        if plan.primary_key:
            _add_key(target, f"ALTER TABLE {_qualified(schema, plan.name)} ADD PRIMARY KEY "
                             f"({_names(plan.primary_key)})", f"primary key of {plan.name}", report)
    for plan in plans:
        for key in plan.foreign_keys:
            refs = f" ({_names(key.ref_columns)})" if key.ref_columns else ""
            _add_key(target, f"ALTER TABLE {_qualified(schema, plan.name)} ADD FOREIGN KEY "
                             f"({_names(key.columns)}) REFERENCES "
                             f"{_qualified(schema, key.ref_table)}{refs}",
                     f"foreign key {plan.name}({', '.join(key.columns)}) -> {key.ref_table}", report)


def _names(columns: tuple[str, ...]) -> str:
    return ", ".join(quote_ident(c) for c in columns)


def _qualified(schema: str, table: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(table)}"


def _create_and_copy(target: Any, source: sqlite3.Connection, schema: str, plan: TablePlan,
                     *, drop: bool) -> int:
    """Create ``plan``'s table and COPY its rows; returns how many were copied."""
    table = _qualified(schema, plan.name)
    if drop:
        target.execute(f"DROP TABLE {table} CASCADE")
    columns = ", ".join(f"{quote_ident(name)} {pg_type}" for name, pg_type in plan.columns)
    target.execute(f"CREATE TABLE {table} ({columns})")
    as_text = [pg_type == "text" for _, pg_type in plan.columns]
    count = 0
    with target.cursor() as cursor, cursor.copy(
            f"COPY {table} ({_names(tuple(n for n, _ in plan.columns))}) FROM STDIN") as copy:
        for row in _rows(source, plan.source, plan.sources):
            copy.write_row([_as_text(v) if text and v is not None else v
                            for v, text in zip(row, as_text, strict=True)])
            count += 1
    return count


__all__ = ["INTEGER_TEXT", "ImportReport", "TablePlan", "affinity", "column_type", "import_sqlite",
           "plan_table"]
