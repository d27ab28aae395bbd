"""Schema serialisation for prompts, and schema introspection of live SQLite files.

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

from t2s.config import DEFAULT_SCHEMA_STYLE, SchemaStyle
from t2s.data.spider import Column, DatabaseSchema, ForeignKey, Table
from t2s.errors import DataError
from t2s.sqlexec import ReadOnlyDatabase, describe_non_file, describe_target, is_dsn

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


def open_readonly(path: str | Path) -> ReadOnlyDatabase:
    """Open an SQLite file (or a PostgreSQL DSN) for schema reading, through the one SQL guard.

    Raises:
        DataError: if the file is missing or is not an SQLite database.
        t2s.db.postgres.PostgresConnectionError: (a DataError) if the server
            cannot be reached or the role may do more than read.
    """
    if is_dsn(path):
        return ReadOnlyDatabase(str(path), timeout_s=_READ_TIMEOUT_S)
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


def introspect_database(target: str | Path, db_id: str | None = None) -> DatabaseSchema:
    """The schema of a live database: a SQLite file, or a ``postgresql://`` DSN.

    Raises:
        DataError: if it cannot be opened or read, or has no tables.
    """
    if is_dsn(target):
        return _introspect_postgres(str(target), db_id)
    return introspect_sqlite(target, db_id)


# STAND-IN until the PostgreSQL introspection of branch pg-eval lands: tables,
# columns and keys of the ``public`` schema from information_schema, read through
# sqlexec like every other catalogue query.
_PG_COLUMNS = (
    "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
    "JOIN information_schema.tables t USING (table_schema, table_name) "
    "WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' "
    "ORDER BY c.table_name, c.ordinal_position")
# pg_catalog, not information_schema: its table_constraints hides the keys of
# tables a SELECT-only role does not own.
_PG_KEYS = (
    "SELECT c.contype, t.relname, a.attname, rt.relname, ra.attname FROM pg_constraint c "
    "JOIN pg_class t ON t.oid = c.conrelid "
    "JOIN pg_namespace n ON n.oid = t.relnamespace "
    "CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(attnum, refnum, ord) "
    "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum "
    "LEFT JOIN pg_class rt ON rt.oid = c.confrelid "
    "LEFT JOIN pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = k.refnum "
    "WHERE n.nspname = 'public' AND c.contype IN ('p', 'f') "
    "ORDER BY t.relname, c.contype, c.conname, k.ord")


def _introspect_postgres(dsn: str, db_id: str | None) -> DatabaseSchema:
    with open_readonly(dsn) as database:
        columns: dict[str, list[Column]] = {}
        for table, column, data_type in _rows(database, _PG_COLUMNS):
            columns.setdefault(table, []).append(Column(name=column, type=spider_type(data_type)))
        if not columns:
            raise DataError(f"{describe_target(dsn)} has no tables in schema public")
        pks: dict[str, list[str]] = {}
        fks = []
        for kind, table, column, ref_table, ref_column in _rows(database, _PG_KEYS):
            if kind == "p":
                pks.setdefault(table, []).append(column)
            elif ref_table is not None:
                fks.append(ForeignKey(table, column, ref_table, ref_column))
    tables = tuple(Table(name=name, columns=tuple(cols), primary_keys=tuple(pks.get(name, ())))
                   for name, cols in columns.items())
    return DatabaseSchema(db_id=db_id or "database", tables=tables, foreign_keys=tuple(fks))


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


def sample_values(path: str | Path, schema: DatabaseSchema, per_column: int) -> dict[tuple[str, str], list[str]]:
    """Up to ``per_column`` distinct, sorted values of each text column.

    Returns an empty mapping when ``per_column`` is 0. Values are cut to 40
    characters so one long cell cannot swamp the prompt.

    Raises:
        DataError: if the file is missing or not SQLite.
    """
    if per_column <= 0:
        return {}
    found = _distinct_text_values(
        path, schema, lambda column: f"{column} != '' ORDER BY {column} LIMIT {int(per_column)}")
    return {key: [value[:40] for value in values] for key, values in found.items()}


def _distinct_text_values(path: str | Path, schema: DatabaseSchema,
                          condition: Callable[[str], str]) -> dict[tuple[str, str], list[str]]:
    """``SELECT DISTINCT c FROM t WHERE c IS NOT NULL AND <condition(c)>`` per text column.

    ``condition`` gets the quoted column name and may end in ORDER BY / LIMIT.
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
                result = database.execute(
                    f"SELECT DISTINCT {quoted_c} FROM {_quoted(table.name)} "
                    f"WHERE {quoted_c} IS NOT NULL AND {condition(quoted_c)}")
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


def text_column_values(path: str | Path, schema: DatabaseSchema,
                       limit: int = MATCH_SCAN_VALUES, max_chars: int = MATCH_MAX_CHARS) -> Values:
    """The first ``limit`` distinct values (table order) of each text column, each at most ``max_chars`` long.

    Raises:
        DataError: if the file is missing or not SQLite.
    """
    return _distinct_text_values(
        path, schema,
        lambda column: f"length({column}) BETWEEN 1 AND {int(max_chars)} LIMIT {int(limit)}")


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
    def read(cls, path: str | Path, schema: DatabaseSchema) -> ValueIndex:
        """Index the text values of the SQLite file ``path``.

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
                     style: SchemaStyle = DEFAULT_SCHEMA_STYLE) -> str:
    """Render a schema as prompt text, one ``TABLE:`` line per table (or DDL).

    Args:
        schema: The schema to render.
        include_keys: Add ``PRIMARY KEY``/``FOREIGN KEY`` lines (clauses in DDL).
        samples: Values per ``(table, column)``: from :func:`sample_values` and/or
            :meth:`ValueIndex.match` (combined with :func:`merge_values`).
        style: ``compact`` or ``ddl`` (see :class:`t2s.config.SchemaTextConfig`).
    """
    samples = samples or {}
    if style == "ddl":
        return serialize_ddl(schema, include_keys, samples)
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
                  samples: dict[tuple[str, str], list[str]] | None = None) -> str:
    """Render a schema as ``CREATE TABLE`` statements, sample values as comments.

    >>> from t2s.data.spider import Column, Table
    >>> s = DatabaseSchema("d", (Table("t", (Column("id", "number"),), ("id",)),), ())
    >>> print(serialize_ddl(s, include_keys=True))
    CREATE TABLE t (
      id number,
      PRIMARY KEY (id)
    );
    """
    samples = samples or {}
    statements = []
    for table in schema.tables:
        lines = []
        for column in table.columns:
            values = samples.get((table.name, column.name))
            comment = f"  -- e.g. {', '.join(repr(v) for v in values)}" if values else ""
            lines.append((f"  {column.name} {column.type}", comment))
        if include_keys:
            if table.primary_keys:
                lines.append((f"  PRIMARY KEY ({', '.join(table.primary_keys)})", ""))
            for fk in schema.foreign_keys:
                if fk.table == table.name:
                    lines.append((f"  FOREIGN KEY ({fk.column}) REFERENCES "
                                  f"{fk.ref_table}({fk.ref_column})", ""))
        last = len(lines) - 1
        body = "\n".join(f"{text}{'' if i == last else ','}{comment}"
                         for i, (text, comment) in enumerate(lines))
        statements.append(f"CREATE TABLE {table.name} (\n{body}\n);")
    return "\n".join(statements)
