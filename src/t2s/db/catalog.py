"""PostgreSQL schema introspection: tables, columns, keys, from ``pg_catalog``.

The catalogue is read through the read-only session of :mod:`t2s.db.postgres`
(a SELECT-only role; the same statement time limit), and only for the schema
unqualified names resolve to, ``current_schema()`` (the first schema of the
DSN's ``search_path`` that exists; ``public`` by default). Relations are tables,
partitioned tables, views and materialized views the role may SELECT, in
creation (oid) order: ``t2s db import`` creates them in SQLite's order, so an
imported Spider database lists its tables as its SQLite file does.

``pg_catalog`` rather than ``information_schema``: the latter's
``constraint_column_usage`` shows the columns a foreign key references only to
the table's *owner*, so a SELECT-only role would see no foreign keys.

:func:`t2s.data.schema_text.schema_from_database` turns a :class:`Catalog` into
the :class:`~t2s.data.spider.DatabaseSchema` every stage prompts with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from t2s.db import postgres
from t2s.errors import DataError
from t2s.sqlexec import ReadOnlyDatabase

# Relations listed: r table, p partitioned table, v view, m materialized view.
_RELKINDS = "('r', 'p', 'v', 'm')"
_IN_SCHEMA = ("c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) "
              "AND c.relkind IN " + _RELKINDS + " AND has_table_privilege(c.oid, 'SELECT')")

_COLUMNS_SQL = (
    "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) "
    "FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid "
    f"WHERE {_IN_SCHEMA} AND a.attnum > 0 AND NOT a.attisdropped "
    "ORDER BY c.oid, a.attnum")

_PRIMARY_KEYS_SQL = (
    "SELECT c.relname, a.attname "
    "FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
    "CROSS JOIN unnest(k.conkey) WITH ORDINALITY AS u(attnum, ord) "
    "JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum "
    f"WHERE k.contype = 'p' AND {_IN_SCHEMA} ORDER BY c.oid, u.ord")

# One row per column pair; a composite key gives several rows of one constraint.
_FOREIGN_KEYS_SQL = (
    "SELECT c.relname, a.attname, r.relname, b.attname "
    "FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
    "JOIN pg_class r ON r.oid = k.confrelid "
    "CROSS JOIN unnest(k.conkey, k.confkey) WITH ORDINALITY AS u(src, ref, ord) "
    "JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.src "
    "JOIN pg_attribute b ON b.attrelid = k.confrelid AND b.attnum = u.ref "
    f"WHERE k.contype = 'f' AND {_IN_SCHEMA} ORDER BY c.oid, k.oid, u.ord")

# A catalogue query returns one row per column (or key column): 100,000 covers
# BIRD's widest database (~1,000 columns) a hundred times over; more is refused
# rather than cut, since a cut schema would mislead the model silently.
_MAX_CATALOG_ROWS = 100_000

# Identifiers PostgreSQL takes unquoted: lowercase (it folds the rest) and
# not reserved. The reserved words are those of PostgreSQL 15's SQL Key Words
# appendix marked "reserved" (and "reserved (can be function or type)").
_PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_$]*")
_RESERVED = frozenset("""
all analyse analyze and any array as asc asymmetric authorization binary both case cast check
collate collation column concurrently constraint create cross current_catalog current_date
current_role current_schema current_time current_timestamp current_user default deferrable desc
distinct do else end except false fetch for foreign freeze from full grant group having ilike in
initially inner intersect into is isnull join lateral leading left like limit localtime
localtimestamp natural not notnull null offset on only or order outer overlaps placing primary
references returning right select session_user similar some symmetric system_user table tablesample
then to trailing true union unique user using variadic verbose when where window with
""".split())


def quote_name(name: str) -> str:
    """``name`` as PostgreSQL must see it: bare when it may be, else double-quoted.

    >>> quote_name("singer"), quote_name("Singer_ID"), quote_name("order")
    ('singer', '"Singer_ID"', '"order"')
    """
    if _PLAIN_NAME.fullmatch(name) and name not in _RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Catalog:
    """What :func:`read_catalog` found, in the server's words.

    Attributes:
        columns: ``(table, column, type)`` per column, tables in creation order,
            columns in declaration order; ``type`` as ``format_type`` writes it
            (``bigint``, ``character varying(20)``, ``double precision``).
        primary_keys: ``(table, column)`` per primary-key column, in key order.
        foreign_keys: ``(table, column, ref_table, ref_column)`` per column pair.
    """

    columns: tuple[tuple[str, str, str], ...]
    primary_keys: tuple[tuple[str, str], ...]
    foreign_keys: tuple[tuple[str, str, str, str], ...]


def _rows(database: ReadOnlyDatabase, sql: str) -> list[tuple]:
    """Rows of one catalogue query.

    Raises:
        DataError: if it fails or returns more than :data:`_MAX_CATALOG_ROWS` rows.
    """
    result = database.execute(sql, max_rows=_MAX_CATALOG_ROWS)
    if not result.ok:
        raise DataError(f"cannot read the schema of {database.path}: {result.message}")
    if result.truncated:
        raise DataError(f"the schema of {database.path} has more than {_MAX_CATALOG_ROWS:,} "
                        "columns; point search_path at a smaller schema")
    return result.rows


def read_catalog(database: ReadOnlyDatabase) -> Catalog:
    """Tables, columns and keys of ``database``'s current schema (see the module docstring).

    Args:
        database: A PostgreSQL database opened with :class:`~t2s.sqlexec.ReadOnlyDatabase`.

    Raises:
        DataError: if a catalogue query fails (the time limit, a lost privilege).
    """
    return Catalog(columns=tuple(_rows(database, _COLUMNS_SQL)),
                   primary_keys=tuple(_rows(database, _PRIMARY_KEYS_SQL)),
                   foreign_keys=tuple(_rows(database, _FOREIGN_KEYS_SQL)))


def database_name(dsn: str) -> str | None:
    """The database a DSN names (``dbname``), or None when it names none."""
    psycopg = postgres.load_psycopg()
    try:
        return psycopg.conninfo.conninfo_to_dict(dsn).get("dbname") or None
    except psycopg.ProgrammingError:
        return None


__all__ = ["Catalog", "database_name", "quote_name", "read_catalog"]
