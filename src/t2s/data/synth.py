"""Synthetic question/SQL pairs for a user's own databases: SQLite files or PostgreSQL.

``t2s synth --db my.sqlite [--db postgresql://reader@host/shop] --out DIR --n 500``
points the sample generator's templates (:mod:`t2s.data.sample.templates`) at any
SQLite file or PostgreSQL database. Each table's columns get the roles the templates pick by (``label``,
``category``, ``measure``, ``year``, ``date``, ``flag``, ``fk``), inferred from
declared types, keys and the values actually stored; questions are worded from
the table and column names. Every pair's SQL is executed through
:mod:`t2s.sqlexec` (read-only, time-limited) and kept only when it runs and
returns rows that are not all NULL (and not a zero count). The output is a
Spider-format directory that ``t2s train data.source=spider data.root=DIR`` reads::

    DIR/tables.json, train.json, dev.json, SYNTH.json (counts, skipped tables)
    DIR/database/<db_id>/<db_id>.sqlite    (a copy of each SQLite input)

On PostgreSQL the templates' SQL (SQLite's dialect, as Spider's gold SQL) is
transpiled (:func:`t2s.db.transpile.to_postgres`) and run there; a pair is kept
only when that runs and returns rows. Its record holds both: ``query`` in
SQLite's dialect (what ``data.dialect: postgres`` training transpiles, as for
Spider) and ``query_postgres``, the text that ran. No copy of the database is
written; SYNTH.json names it by its DSN, password redacted.
"""

from __future__ import annotations

import json
import math
import random
import re
import shutil
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from t2s.data.records import tables_entry
from t2s.data.sample.questions import KEEP_ROWS, SHAPE_QUOTAS, Pair, generate_pairs
from t2s.data.sample.schema import ColumnSpec, DatabaseSpec, TableSpec, pluralize
from t2s.data.schema_text import schema_from_database
from t2s.data.spider import DatabaseSchema
from t2s.db.transpile import TranspileError, schema_names, to_postgres
from t2s.errors import DataError
from t2s.sqlexec import ReadOnlyDatabase, connect_readonly, describe_target, is_dsn, run_query

MANIFEST = "SYNTH.json"
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_ADDITIVE = re.compile(r"amount|total|count|num|sales|quantity|population|sold|revenue|budget|"
                       r"points|goals|wins|hours|credits|attendance|enrollment|capacity", re.I)
# A text column with at most 20 distinct values, each repeated (distinct < 60%
# of rows), reads as a category ("city", "genre"); more varied text names rows.
CATEGORY_MAX_DISTINCT = 20
CATEGORY_MAX_RATIO = 0.6


@dataclass
class SynthReport:
    """What :func:`synthesize` wrote."""

    out: Path
    train: int
    dev: int
    per_db: dict[str, int] = field(default_factory=dict)
    per_shape: dict[str, int] = field(default_factory=dict)
    skipped_tables: dict[str, list[str]] = field(default_factory=dict)
    rejected: int = 0
    """Pairs dropped by the sqlexec check (error, or no rows)."""

    def summary(self) -> str:
        shapes = ", ".join(f"{k} {v}" for k, v in self.per_shape.items())
        return (f"wrote {self.train} train + {self.dev} dev pairs to {self.out} "
                f"({', '.join(f'{k}: {v}' for k, v in self.per_db.items())}); shapes: {shapes}")


def words(name: str) -> str:
    """``firstName`` / ``first_name`` -> ``first name``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ")
    return " ".join(spaced.lower().split())


def _nouns(table: str) -> tuple[str, str]:
    phrase = words(table)
    if phrase.endswith("s") and not phrase.endswith("ss"):
        return phrase[:-1] if not phrase.endswith("ies") else phrase[:-3] + "y", phrase
    return phrase, pluralize(phrase)


def _sql_type(declared: str, values: list[Any]) -> str:
    upper = declared.upper()
    numbers = values and all(isinstance(v, int | float) for v in values)
    if "INT" in upper and numbers and all(isinstance(v, int) for v in values):
        return "INTEGER"
    if any(k in upper for k in ("REAL", "FLOA", "DOUB", "NUM", "DEC", "INT")) and numbers:
        return "REAL"
    if numbers and not upper:
        return "REAL"
    if values and all(isinstance(v, str) and _DATE.match(v) for v in values):
        return "DATE"
    return "TEXT"


def _role(name: str, sql_type: str, values: list[Any], rows: int, has_label: bool) -> str:
    distinct = set(values)
    if not values:
        return "text"
    if sql_type in ("INTEGER", "REAL"):
        if distinct <= {0, 1}:
            return "flag"
        if "year" in name.lower() and all(1000 <= v <= 2100 for v in distinct):
            return "year"
        if re.search(r"(^|_)id$|Id$|ID$", name):
            return "text"  # an identifier: nobody averages it
        return "measure" if len(distinct) > 1 else "text"
    if sql_type == "DATE":
        return "date" if len(distinct) > 10 else "text"
    if not all(isinstance(v, str) for v in values):
        return "text"
    if len(distinct) <= CATEGORY_MAX_DISTINCT and len(distinct) < CATEGORY_MAX_RATIO * rows \
            and len(distinct) > 1:
        return "category"
    if not has_label and len(distinct) > 1 and max(len(v) for v in distinct) <= 60:
        return "label"
    return "text"


class _Rows:
    """A finished result as the generator reads a sqlite3 cursor."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self._rows = rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._rows

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        return self._rows[:size]

    def __iter__(self):
        return iter(self._rows)


class ServerDatabase:
    """A PostgreSQL database as the templates use a SQLite connection: ``execute(sql)``.

    Each statement (SQLite's dialect) is transpiled to PostgreSQL and run
    through :mod:`t2s.sqlexec` (read-only session, time limit, row and byte
    budgets). A statement that fails raises ``sqlite3.OperationalError``, the
    one error type the generator drops a draft for.

    Args:
        dsn: The database.
        schema: Its schema (names that double quotes may hold, for the transpiler).
    """

    def __init__(self, dsn: str, schema: DatabaseSchema) -> None:
        self.database = ReadOnlyDatabase(dsn)
        self.names = schema_names(schema)

    def postgres_sql(self, sql: str) -> str:
        """``sql`` in PostgreSQL's dialect.

        Raises:
            sqlite3.OperationalError: if it cannot be transpiled.
        """
        try:
            return to_postgres(sql, self.names)
        except TranspileError as exc:
            raise sqlite3.OperationalError(str(exc)) from None

    def execute(self, sql: str) -> _Rows:
        """Run ``sql`` (SQLite's dialect) on the server.

        Raises:
            sqlite3.OperationalError: if it cannot be transpiled or fails there.
            DatabaseUnavailableError: if the server cannot be reached.
        """
        result = self.database.execute(self.postgres_sql(sql))
        if not result.ok:
            raise sqlite3.OperationalError(result.message)
        # numeric columns arrive as Decimal; the roles look for int and float.
        return _Rows([tuple(float(v) if isinstance(v, Decimal) else v for v in row)
                      for row in result.rows])

    def close(self) -> None:
        self.database.close()


def _open(path: Path | str, schema: DatabaseSchema) -> Any:
    """A connection the templates can use: SQLite's own (read-only) or a :class:`ServerDatabase`."""
    return ServerDatabase(str(path), schema) if is_dsn(path) else connect_readonly(path)


def infer_spec(path: Path | str, db_id: str) -> tuple[DatabaseSpec, list[str]]:
    """Column roles and nouns of a live SQLite file or DSN, for the templates; also the tables skipped.

    Tables whose name or key columns are not plain identifiers, and empty
    tables, are skipped (the templates write unquoted names).

    Raises:
        DataError: if the file is not SQLite or no table is usable.
    """
    schema = schema_from_database(path, db_id)
    connection = _open(path, schema)
    tables: list[TableSpec] = []
    skipped: list[str] = []
    pks: dict[str, str] = {}
    try:
        for table in schema.tables:
            if not _PLAIN.match(table.name):
                skipped.append(f"{table.name} (name needs quoting)")
                continue
            pk = table.primary_keys[0] if len(table.primary_keys) == 1 else \
                next((c.name for c in table.columns if c.name.lower() == "id"), None)
            # A table without a one-column key (a link table) takes SQLite's
            # rowid as its id: it is never a join parent, only a child.
            pks[table.name] = pk if pk is not None and _PLAIN.match(pk) else "rowid"
        fk_of = {(fk.table, fk.column): (fk.ref_table, fk.ref_column) for fk in schema.foreign_keys
                 if pks.get(fk.ref_table, "").lower() == fk.ref_column.lower()}
        for table in schema.tables:
            if table.name not in pks:
                continue
            rows = connection.execute(f"SELECT COUNT(*) FROM {table.name}").fetchone()[0]
            if rows == 0:
                skipped.append(f"{table.name} (empty)")
                continue
            columns = [ColumnSpec(pks[table.name], "INTEGER", "id")]
            has_label = False
            for column in table.columns:
                if column.name == pks[table.name] or not _PLAIN.match(column.name):
                    continue
                values = [r[0] for r in connection.execute(
                    f"SELECT {column.name} FROM {table.name} WHERE {column.name} IS NOT NULL "
                    "LIMIT 2000")]
                sql_type = _sql_type(column.type, values)
                reference = fk_of.get((table.name, column.name))
                if reference is not None and reference[0] in pks:
                    ref = (reference[0], pks[reference[0]])
                    columns.append(ColumnSpec(column.name, sql_type, "fk", phrase=words(column.name),
                                              references=ref, via="linked to"))
                    continue
                role = _role(column.name, sql_type, values, rows, has_label)
                has_label = has_label or role == "label"
                columns.append(ColumnSpec(column.name, sql_type, role, phrase=words(column.name),
                                          additive=bool(_ADDITIVE.search(column.name))))
            noun, plural = _nouns(table.name)
            tables.append(TableSpec(table.name, noun, plural, tuple(columns)))
    finally:
        connection.close()
    kept = {t.name for t in tables}
    tables = [TableSpec(t.name, t.noun, t.plural, tuple(
        c if c.references is None or c.references[0] in kept
        else ColumnSpec(c.name, c.sql_type, "text", phrase=c.phrase) for c in t.columns))
        for t in tables]
    if not tables:
        raise DataError(f"{describe_target(path)}: no table the templates can use "
                        f"(skipped: {', '.join(skipped)})")
    return DatabaseSpec(db_id, tuple(tables)), skipped


def _quotas(target: int) -> dict[str, int]:
    scale = target / sum(SHAPE_QUOTAS.values())
    return {shape: math.ceil(quota * scale) for shape, quota in SHAPE_QUOTAS.items()}


def _draw(spec: DatabaseSpec, connection: Any, target: int, seed: int) -> list[Pair]:
    """Up to ``target`` distinct pairs: rounds of the generator with fresh seeds
    (new values and wordings) until the target is met or 3 rounds add nothing."""
    pairs: list[Pair] = []
    questions: set[str] = set()
    queries: set[str] = set()
    idle = 0
    for round_ in range(50):
        added = 0
        for pair in generate_pairs(spec, connection, random.Random(seed * 1000 + round_),
                                   quotas=_quotas(target), strict=False):
            if pair.question not in questions and pair.query not in queries:
                questions.add(pair.question)
                queries.add(pair.query)
                pairs.append(pair)
                added += 1
        idle = 0 if added else idle + 1
        if len(pairs) >= target or idle >= 3:
            break
    return pairs[:target]


def _checked(path: Path | str, pairs: list[Pair],
             server: ServerDatabase | None = None) -> tuple[list[Pair], int]:
    """Pairs whose SQL runs through sqlexec and returns rows that are not all NULL
    (on a server: its PostgreSQL text, through ``server``)."""
    kept = []
    for pair in pairs:
        # As the generator's own check: the first rows decide (KEEP_ROWS).
        if server is not None:
            try:
                rows = server.execute(pair.query).fetchmany(KEEP_ROWS)
            except sqlite3.Error:
                rows = []
        else:
            result = run_query(path, pair.query, max_rows=KEEP_ROWS)
            rows = result.rows if result.ok else []
        if rows and not all(v is None for row in rows for v in row) and rows != [(0,)]:
            kept.append(pair)
    return kept, len(pairs) - len(kept)


def db_id_for(path: Path | str, taken: set[str]) -> str:
    """A safe, unused db_id from a file name (``My Shop.sqlite`` -> ``My_Shop``) or a DSN's database."""
    stem = schema_from_database(path).db_id if is_dsn(path) else Path(path).stem
    base = re.sub(r"[^A-Za-z0-9_-]", "_", stem).strip("_-") or "db"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    return candidate


def synthesize(db_paths: list[str | Path], out_dir: str | Path, n: int = 500, seed: int = 0,
               dev_fraction: float = 0.1, force: bool = False) -> SynthReport:
    """Write a Spider-format dataset of about ``n`` pairs over ``db_paths`` into ``out_dir``.

    Args:
        db_paths: SQLite files and/or ``postgresql://`` DSNs.

    Raises:
        DataError: if a database is missing or not SQLite, none yields a pair,
            or ``out_dir`` holds files this command did not write (without ``force``);
            DatabaseUnavailableError (a DataError) if a server cannot be reached.
    """
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not (out / MANIFEST).is_file() and not force:
        raise DataError(f"{out} is not empty and was not written by t2s synth; choose another "
                        "--out or pass --force")
    paths: list[Path | str] = [str(p) if is_dsn(p) else Path(p) for p in db_paths]
    for path in paths:
        if isinstance(path, Path) and not path.is_file():
            raise DataError(f"database {path} does not exist")
    rng = random.Random(seed)
    target = math.ceil(n / len(paths))
    pairs: list[Pair] = []
    report = SynthReport(out=out, train=0, dev=0)
    entries, taken = [], set()
    # (db_id, query) of a server pair -> the PostgreSQL that ran.
    postgres_sql: dict[tuple[str, str], str] = {}
    if out.exists():
        shutil.rmtree(out)
    (out / "database").mkdir(parents=True)
    for path in paths:
        db_id = db_id_for(path, taken)
        taken.add(db_id)
        spec, skipped = infer_spec(path, db_id)
        report.skipped_tables[db_id] = skipped
        schema = schema_from_database(path, db_id)
        connection = _open(path, schema)
        try:
            drafted = _draw(spec, connection, target, seed)
            server = connection if isinstance(connection, ServerDatabase) else None
            kept, rejected = _checked(path, drafted, server)
            if server is not None:
                postgres_sql.update({(p.db_id, p.query): server.postgres_sql(p.query)
                                     for p in kept})
        finally:
            connection.close()
        report.rejected += rejected
        report.per_db[db_id] = len(kept)
        pairs += kept
        entries.append(tables_entry(schema))
        if isinstance(path, Path):
            (out / "database" / db_id).mkdir()
            shutil.copyfile(path, out / "database" / db_id / f"{db_id}.sqlite")
    if not pairs:
        raise DataError("no executable question/SQL pair could be generated for "
                        f"{', '.join(map(describe_target, paths))}")
    rng.shuffle(pairs)
    pairs = pairs[:n]
    dev_count = round(dev_fraction * len(pairs))
    dev, train = pairs[:dev_count], pairs[dev_count:]
    report.train, report.dev = len(train), len(dev)
    report.per_shape = dict(Counter(p.shape for p in pairs).most_common())
    _dump(out / "tables.json", entries)
    _dump(out / "train.json", [_record(p, postgres_sql) for p in train])
    _dump(out / "dev.json", [_record(p, postgres_sql) for p in dev])
    _dump(out / MANIFEST, {"generator": "t2s synth", "seed": seed, "n": n,
                           "databases": {e["db_id"]: describe_target(p) if is_dsn(p)
                                         else str(Path(p).resolve())
                                         for e, p in zip(entries, paths, strict=True)},
                           "train": report.train, "dev": report.dev, "per_db": report.per_db,
                           "per_shape": report.per_shape, "rejected_by_sqlexec": report.rejected,
                           "skipped_tables": report.skipped_tables})
    return report


def _record(pair: Pair, postgres_sql: dict[tuple[str, str], str]) -> dict[str, str]:
    record = {"db_id": pair.db_id, "question": pair.question, "query": pair.query,
              "category": pair.shape}
    if (pair.db_id, pair.query) in postgres_sql:
        record["query_postgres"] = postgres_sql[(pair.db_id, pair.query)]
    return record


def _dump(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
