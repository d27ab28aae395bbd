"""Schema serialisation for prompts, and schema introspection of live databases.

A live database is an SQLite file or a PostgreSQL DSN (``postgresql://``); one
entry point reads either, :func:`schema_from_database`, and the sample- and
matched-value readers below take either too (PostgreSQL's catalogue queries
live in :mod:`t2s.db.catalog`, the engine boundary).

The prompt carries one line per table, in the seed's layout::

    TABLE: singer (Singer_ID (number), Name (text), Age (number))

optionally followed by key lines, sample values and values matched to the
question (``data.schema`` switches), shown the same way::

    TABLE: artist (artist_id (number), name (text, e.g. 'The Paper Forests'), country (text))

The output is deterministic: tables and columns in declaration order, sample
values sorted, matched values ranked by the length of their match.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

from t2s.config import DEFAULT_DIALECT, DEFAULT_SCHEMA_STYLE, Dialect, SchemaStyle
from t2s.data.spider import Column, DatabaseSchema, ForeignKey, Table
from t2s.db import catalog, postgres
from t2s.errors import DataError
from t2s.sqlexec import ReadOnlyDatabase, describe_non_file

Database = str | Path
"""An SQLite file, or a PostgreSQL DSN (a ``postgresql://`` string)."""

# SQLite declared types -> the type words of Spider's tables.json, so a user's
# own database is described with the same vocabulary the model was trained on.
_TYPE_WORDS = (
    (("INT", "REAL", "FLOA", "DOUB", "NUM", "DEC"), "number"),
    (("DATE", "TIME", "YEAR"), "time"),
    (("BOOL",), "boolean"),
    (("CHAR", "CLOB", "TEXT", "STRING"), "text"),
)


def spider_type(declared: str) -> str:
    """Map an SQLite declared column type to Spider's type word.

    >>> spider_type("VARCHAR(20)"), spider_type("INTEGER"), spider_type("")
    ('text', 'number', 'text')
    """
    upper = declared.upper()
    if not upper:
        return "text"  # SQLite columns without a type hold text in practice
    for needles, word in _TYPE_WORDS:
        if any(needle in upper for needle in needles):
            return word
    return "others"


# Schema reading runs a handful of catalogue queries; 10 s is far above the
# milliseconds they take and still stops a pathological file (a corrupt page
# chain, a schema of millions of tables) from hanging a job.
_READ_TIMEOUT_S = 10.0


def open_readonly(path: Database) -> ReadOnlyDatabase:
    """Open an SQLite file or a PostgreSQL DSN for schema reading, through the one
    SQL guard (:mod:`t2s.sqlexec`).

    Raises:
        DataError: if the file is missing or is not an SQLite database.
        PostgresConnectionError: (a DataError) if the server cannot be reached or
            the role may do more than read.
    """
    if postgres.is_dsn(path):
        return ReadOnlyDatabase(path, timeout_s=_READ_TIMEOUT_S)
    path = Path(path)
    if not path.is_file():
        raise DataError(f"database {path} {describe_non_file(path)}")
    try:
        return ReadOnlyDatabase(path, timeout_s=_READ_TIMEOUT_S)
    except sqlite3.DatabaseError as exc:
        raise DataError(f"{path} is not an SQLite database ({exc})") from None


def _rows(database: ReadOnlyDatabase, sql: str) -> list[tuple]:
    """Rows of a catalogue query.

    Raises:
        DataError: if it fails (a damaged file, or the time limit).
    """
    result = database.execute(sql)
    if not result.ok:
        raise DataError(f"cannot read the schema of {database.path}: {result.message}")
    return result.rows


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def introspect_sqlite(path: str | Path, db_id: str | None = None) -> DatabaseSchema:
    """Read tables, columns, primary and foreign keys from a live SQLite file.

    Raises:
        DataError: if the file is missing, not SQLite, or has no tables.
    """
    path = Path(path)
    with open_readonly(path) as database:
        names = [row[0] for row in _rows(database, (
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY rowid"))]
        if not names:
            raise DataError(f"{path} has no tables")
        tables, fks = [], []
        for name in names:
            info = _rows(database, f"PRAGMA table_info({_quoted(name)})")
            columns = tuple(Column(name=row[1], type=spider_type(row[2] or "")) for row in info)
            pks = tuple(row[1] for row in sorted(info, key=lambda r: r[5]) if row[5])
            tables.append(Table(name=name, columns=columns, primary_keys=pks))
            for row in _rows(database, f"PRAGMA foreign_key_list({_quoted(name)})"):
                ref_table, from_col, to_col = row[2], row[3], row[4]
                if to_col is None:  # REFERENCES t without a column: its primary key
                    ref_info = _rows(database, f"PRAGMA table_info({_quoted(ref_table)})")
                    to_col = next((r[1] for r in ref_info if r[5]), None)
                if to_col is not None:
                    fks.append(ForeignKey(name, from_col, ref_table, to_col))
    return DatabaseSchema(db_id=db_id or path.stem, tables=tuple(tables), foreign_keys=tuple(fks))


def introspect_postgres(dsn: str, db_id: str | None = None) -> DatabaseSchema:
    """Read tables, columns, primary and foreign keys of a PostgreSQL database's
    current schema (:func:`t2s.db.catalog.read_catalog`).

    Columns carry Spider's type words (``bigint`` is ``number``) and, in
    ``sql_type``, PostgreSQL's own, which DDL schema text in the ``postgres``
    dialect writes. ``db_id`` defaults to the DSN's database name.

    Raises:
        DataError: if the server cannot be reached, refuses the role, or the
            schema has no tables the role may read.
    """
    with open_readonly(dsn) as database:
        found = catalog.read_catalog(database)
        where = database.path
    columns: dict[str, list[Column]] = {}
    for table, name, sql_type in found.columns:
        columns.setdefault(table, []).append(Column(name, spider_type(sql_type), sql_type))
    if not columns:
        raise DataError(f"{where} has no tables this role may read (in its current schema; "
                        "set search_path in the DSN's options to pick another)")
    pks: dict[str, list[str]] = {}
    for table, name in found.primary_keys:
        pks.setdefault(table, []).append(name)
    tables = tuple(Table(name, tuple(cols), tuple(pks.get(name, ())))
                   for name, cols in columns.items())
    fks = tuple(ForeignKey(*row) for row in found.foreign_keys)
    return DatabaseSchema(db_id=db_id or catalog.database_name(dsn) or "postgres", tables=tables,
                          foreign_keys=fks)


def schema_from_database(database: Database, db_id: str | None = None) -> DatabaseSchema:
    """The schema of a live database: an SQLite file or a ``postgresql://`` DSN.

    Raises:
        DataError: if the file is missing or not SQLite, the server cannot be
            reached or refuses the role, or there are no tables.
    """
    if postgres.is_dsn(database):
        return introspect_postgres(str(database), db_id)
    return introspect_sqlite(database, db_id)


def _order(database: ReadOnlyDatabase, column: str) -> str:
    """``column`` as an ORDER BY term that sorts by code point on either engine:
    SQLite's default (BINARY); PostgreSQL's default collation is the locale's."""
    return column if isinstance(database.path, Path) else f'{column} COLLATE "C"'


def sample_values(path: Database, schema: DatabaseSchema, per_column: int) -> dict[tuple[str, str], list[str]]:
    """Up to ``per_column`` distinct, sorted values of each text column.

    Returns an empty mapping when ``per_column`` is 0. Values are cut to 40
    characters so one long cell cannot swamp the prompt.

    Raises:
        DataError: if the file is missing or not SQLite.
    """
    if per_column <= 0:
        return {}
    found = _distinct_text_values(
        path, schema, lambda column, order: f"{column} != '' ORDER BY {order} LIMIT {int(per_column)}")
    return {key: [value[:40] for value in values] for key, values in found.items()}


def _distinct_text_values(path: Database, schema: DatabaseSchema,
                          condition: Callable[[str, str], str]) -> dict[tuple[str, str], list[str]]:
    """``SELECT DISTINCT c FROM t WHERE c IS NOT NULL AND <condition(c, order)>`` per text column.

    ``condition`` gets the quoted column name and its ORDER BY term (see
    :func:`_order`), and may end in ORDER BY / LIMIT.
    A tables.json column missing from the file gives no entry.

    Raises:
        DataError: if the file is missing or not SQLite.
    """
    values: dict[tuple[str, str], list[str]] = {}
    with open_readonly(path) as database:
        for table in schema.tables:
            for column in table.columns:
                if column.type != "text":
                    continue
                quoted_c = _quoted(column.name)
                # Selected as ordered: PostgreSQL sorts a DISTINCT only by what it selects.
                order = _order(database, quoted_c)
                result = database.execute(
                    f"SELECT DISTINCT {order} FROM {_quoted(table.name)} "
                    f"WHERE {quoted_c} IS NOT NULL AND {condition(quoted_c, order)}")
                if result.ok:
                    values[(table.name, column.name)] = [str(row[0]) for row in result.rows]
    return values


# data.schema.matched_values reads each text column's first MATCH_SCAN_VALUES
# distinct values (table order) of at most MATCH_MAX_CHARS characters once per
# database: 2,000 x 60 characters bound one column at ~120 kB, and keep a
# free-text column (descriptions, comments) from matching every question.
MATCH_SCAN_VALUES = 2000
MATCH_MAX_CHARS = 60
_WORD = re.compile(r"\w+")
# Words that never make a value match on their own: a value "The Who" matches
# through "who" only together with "the", never through "the" alone.
_STOPWORDS = frozenset(
    "a an and are as at be by did do does for from has have how in is it its many much of "
    "on or the their them there these this those to was were what when where which who "
    "whose with".split())

Values = dict[tuple[str, str], list[str]]


def _words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(text.casefold()))


def text_column_values(path: Database, schema: DatabaseSchema,
                       limit: int = MATCH_SCAN_VALUES, max_chars: int = MATCH_MAX_CHARS) -> Values:
    """The first ``limit`` distinct values of each text column, each at most ``max_chars`` long.

    First in table order on SQLite; on PostgreSQL, whose DISTINCT may hash and
    so has no stable order, first in code-point order (the same on every run).

    Raises:
        DataError: if the file is missing or not SQLite, or the server cannot be reached.
    """
    def condition(column: str, order: str) -> str:
        sort = "" if order == column else f" ORDER BY {order}"
        return f"length({column}) BETWEEN 1 AND {int(max_chars)}{sort} LIMIT {int(limit)}"

    return _distinct_text_values(path, schema, condition)


class ValueIndex:
    """A database's text values, indexed by word, to find those a question names.

    A value matches a question (case-insensitively, on ``\\w+`` words) when its
    words appear in the question as one run (``'Rusty Hall'`` in "concerts held at
    rusty hall"), or else all somewhere in it (``'Hall, Rusty'``); values made only
    of stopwords or one-letter words never match. Per column, runs rank before
    scattered words, then longer values first, then alphabetically.

    Args:
        values: Values per ``(table, column)``, from :func:`text_column_values`.
    """

    def __init__(self, values: Values) -> None:
        self._entries: list[tuple[tuple[str, str], str, tuple[str, ...]]] = []
        self._by_word: dict[str, list[int]] = {}
        self._order = {key: i for i, key in enumerate(values)}
        for key, column_values in values.items():
            for value in dict.fromkeys(column_values):
                words = _words(value)
                keys = {w for w in words if len(w) > 1 and w not in _STOPWORDS}
                if not keys:
                    continue
                for word in keys:
                    self._by_word.setdefault(word, []).append(len(self._entries))
                self._entries.append((key, value, words))

    @classmethod
    def read(cls, path: Database, schema: DatabaseSchema) -> ValueIndex:
        """Index the text values of the SQLite file (or PostgreSQL DSN) ``path``.

        Raises:
            DataError: if the file is missing or not SQLite.
        """
        return cls(text_column_values(path, schema))

    def match(self, question: str, per_column: int) -> Values:
        """Up to ``per_column`` values of each text column that ``question`` names (columns in schema order)."""
        if per_column <= 0:
            return {}
        words = _words(question)
        present, run = set(words), f" {' '.join(words)} "
        candidates = sorted({i for w in present for i in self._by_word.get(w, ())})
        ranked: dict[tuple[str, str], list[tuple[int, int, str]]] = {}
        for i in candidates:
            key, value, value_words = self._entries[i]
            joined = " ".join(value_words)
            if f" {joined} " in run:
                rank = 0
            elif present.issuperset(value_words):
                rank = 1
            else:
                continue
            ranked.setdefault(key, []).append((rank, -len(joined), value))
        return {key: [value for *_, value in sorted(ranked[key])[:per_column]]
                for key in sorted(ranked, key=self._order.__getitem__)}


def merge_values(*parts: Values | None) -> Values:
    """Values per column from several sources, in order, each value once (matched before sampled)."""
    merged: Values = {}
    for part in parts:
        for key, values in (part or {}).items():
            merged[key] = list(dict.fromkeys([*merged.get(key, []), *values]))
    return merged


def serialize_schema(schema: DatabaseSchema, include_keys: bool = False,
                     samples: dict[tuple[str, str], list[str]] | None = None,
                     style: SchemaStyle = DEFAULT_SCHEMA_STYLE,
                     dialect: Dialect = DEFAULT_DIALECT) -> str:
    """Render a schema as prompt text, one ``TABLE:`` line per table (or DDL).

    Args:
        schema: The schema to render.
        include_keys: Add ``PRIMARY KEY``/``FOREIGN KEY`` lines (clauses in DDL).
        samples: Values per ``(table, column)``: from :func:`sample_values` and/or
            :meth:`ValueIndex.match` (combined with :func:`merge_values`).
        style: ``compact`` or ``ddl`` (see :class:`t2s.config.SchemaTextConfig`).
        dialect: ``ddl`` only: ``postgres`` writes PostgreSQL's types and quoting
            (see :func:`serialize_ddl`); compact text is the same in both.
    """
    samples = samples or {}
    if style == "ddl":
        return serialize_ddl(schema, include_keys, samples, dialect)
    lines = []
    for table in schema.tables:
        parts = []
        for column in table.columns:
            values = samples.get((table.name, column.name))
            detail = column.type
            if values:
                detail += ", e.g. " + ", ".join(repr(v) for v in values)
            parts.append(f"{column.name} ({detail})")
        lines.append(f"TABLE: {table.name} ({', '.join(parts)})")
    if include_keys:
        for table in schema.tables:
            if table.primary_keys:
                lines.append(f"PRIMARY KEY: {table.name} ({', '.join(table.primary_keys)})")
        for fk in schema.foreign_keys:
            lines.append(f"FOREIGN KEY: {fk.table}.{fk.column} -> {fk.ref_table}.{fk.ref_column}")
    return "\n".join(lines)


def serialize_ddl(schema: DatabaseSchema, include_keys: bool = False,
                  samples: dict[tuple[str, str], list[str]] | None = None,
                  dialect: Dialect = DEFAULT_DIALECT) -> str:
    """Render a schema as ``CREATE TABLE`` statements, sample values as comments.

    In the ``sqlite`` dialect names are written as they are and types are
    Spider's words (``number``), as the seed's models learned them. In
    ``postgres``, DDL the server would accept: each column's own type
    (``sql_type``, else the type word mapped: ``number`` is ``numeric``) and
    names quoted where PostgreSQL needs it (capitals, reserved words).

    >>> from t2s.data.spider import Column, Table
    >>> s = DatabaseSchema("d", (Table("t", (Column("id", "number"),), ("id",)),), ())
    >>> print(serialize_ddl(s, include_keys=True))
    CREATE TABLE t (
      id number,
      PRIMARY KEY (id)
    );
    """
    samples = samples or {}
    pg = dialect == "postgres"
    name = catalog.quote_name if pg else str

    def names(columns: tuple[str, ...] | list[str]) -> str:
        return ", ".join(name(c) for c in columns)

    statements = []
    for table in schema.tables:
        lines = []
        for column in table.columns:
            values = samples.get((table.name, column.name))
            comment = f"  -- e.g. {', '.join(repr(v) for v in values)}" if values else ""
            sql_type = (column.sql_type or _PG_TYPES.get(column.type, "text")) if pg else column.type
            lines.append((f"  {name(column.name)} {sql_type}", comment))
        if include_keys:
            if table.primary_keys:
                lines.append((f"  PRIMARY KEY ({names(table.primary_keys)})", ""))
            for fk in schema.foreign_keys:
                if fk.table == table.name:
                    lines.append((f"  FOREIGN KEY ({name(fk.column)}) REFERENCES "
                                  f"{name(fk.ref_table)}({name(fk.ref_column)})", ""))
        last = len(lines) - 1
        body = "\n".join(f"{text}{'' if i == last else ','}{comment}"
                         for i, (text, comment) in enumerate(lines))
        statements.append(f"CREATE TABLE {name(table.name)} (\n{body}\n);")
    return "\n".join(statements)


# Spider's type words as PostgreSQL types, for a schema from tables.json (no
# sql_type) written as PostgreSQL DDL; "others" (Spider's blobs) becomes text.
_PG_TYPES = {"number": "numeric", "text": "text", "time": "text", "boolean": "boolean",
             "others": "text"}
