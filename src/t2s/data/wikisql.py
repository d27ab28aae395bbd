"""WikiSQL (Zhong et al., 2017) in its native layout.

A WikiSQL folder holds, per split ``S`` (``train``, ``dev``, ``test``)::

    S.jsonl          {"phase", "table_id", "question", "sql": {"sel", "agg", "conds": [[col, op, value]]}}
    S.tables.jsonl   {"id", "header", "types", "rows", ...}   (types: "text" | "real")
    S.db             SQLite, one table "table_<id with '-' -> '_'>" with columns col0..colN

``data.train_file``/``data.eval_file`` name the question files (``train.jsonl``,
``dev.jsonl``). Each WikiSQL table is one database (db_id ``table_<id>``, the
``.db``'s table name) whose schema is the table's headers and types. SQL is
built from the ``sql`` struct with WikiSQL's operator tables; headers that are
not plain identifiers are double-quoted, text values single-quoted (``''``
inside), and a value of a ``real`` column is read as a number the way
WikiSQL's own query engine reads it. A text value that matches a cell of its
column case-insensitively takes the cell's spelling (WikiSQL's engine
lower-cases both sides; plain SQL compares exactly).

For execution, every table of a split is written into one SQLite file of the
view, with the headers as column names; the rows come from ``S.db`` where it
exists, else from ``S.tables.jsonl``. Each example gets a category:
``aggregation`` (an aggregate), ``filter`` (conditions only) or ``simple``.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from t2s.config import SourceConfig
from t2s.data.records import RowChecker, SourceData
from t2s.data.spider import Example
from t2s.errors import DataError
from t2s.jsonio import read_lines
from t2s.sqlexec import connect_readonly, create_database

AGG_OPS = ("", "MAX", "MIN", "COUNT", "SUM", "AVG")
"""WikiSQL's ``agg`` index -> SQL aggregate (0: none)."""
COND_OPS = ("=", ">", "<")
"""WikiSQL's condition ``op`` index -> SQL operator (its 4th, ``OP``, never occurs in the data)."""

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NUMBER = re.compile(r"[-+]?\d*\.?\d+")
# SQLite keywords a header could collide with (WikiSQL has headers such as
# "Order", "Group", "Date", "Year"); quoted, they stay column names.
_KEYWORDS = frozenset("""
abort action add after all alter analyze and as asc attach autoincrement before begin between by
cascade case cast check collate column commit conflict constraint create cross current current_date
current_time current_timestamp database default deferrable deferred delete desc detach distinct do
drop each else end escape except exclusive exists explain fail filter first following for foreign
from full glob group groups having if ignore immediate in index indexed initially inner insert
instead intersect into is isnull join key last left like limit match natural no not nothing notnull
null nulls of offset on or order others outer over partition plan pragma preceding primary query
raise range recursive references regexp reindex release rename replace restrict right rollback row
rows savepoint select set table temp temporary then ties to transaction trigger unbounded union
unique update using vacuum values view virtual when where window with without
""".split())


def quote_identifier(name: str) -> str:
    """``name`` bare if it is a plain, non-keyword identifier, else double-quoted.

    >>> quote_identifier("Player"), quote_identifier("No."), quote_identifier("Order")
    ('Player', '"No."', '"Order"')
    """
    if _IDENTIFIER.match(name) and name.lower() not in _KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def quote_text(value: str) -> str:
    """A single-quoted SQL string literal: ``it's`` -> ``'it''s'``."""
    return "'" + value.replace("'", "''") + "'"


def table_name(table_id: str) -> str:
    """The real ``.db``'s table name of a WikiSQL table id: ``1-10015132-11`` -> ``table_1_10015132_11``."""
    return "table_" + re.sub(r"[^A-Za-z0-9_]", "_", table_id)


def column_names(header: list[str]) -> list[str]:
    """Headers as usable, unique column names (an empty header is ``col<i>``, a repeat gets ``_<i>``)."""
    names: list[str] = []
    seen: set[str] = set()
    for index, raw in enumerate(header):
        name = " ".join(str(raw).split()) or f"col{index}"
        if name.lower() in seen:
            name = f"{name}_{index}"
        seen.add(name.lower())
        names.append(name)
    return names


@dataclass
class WikiTable:
    """One WikiSQL table: id, SQL name, column names and types, rows."""

    id: str
    name: str
    columns: list[str]
    types: list[str]
    rows: list[list[Any]]

    def tables_entry(self) -> dict[str, Any]:
        """The table as a one-table Spider tables.json entry (db_id = table name)."""
        return {
            "db_id": self.name,
            "table_names_original": [self.name],
            "table_names": [self.name.replace("_", " ")],
            "column_names_original": [[-1, "*"]] + [[0, c] for c in self.columns],
            "column_names": [[-1, "*"]] + [[0, c.lower()] for c in self.columns],
            "column_types": ["text"] + ["number" if t == "real" else "text" for t in self.types],
            "primary_keys": [],
            "foreign_keys": [],
        }


def number_value(value: Any) -> int | float | None:
    """A ``real`` column's value as WikiSQL's engine reads it (``"1,234"`` -> 1234), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = str(value).replace(",", "").strip()
        try:
            number = float(text)
        except ValueError:
            found = _NUMBER.search(text)
            if not found:
                return None
            number = float(found.group())
    return int(number) if number.is_integer() else number


def literal(table: WikiTable, column: int, value: Any) -> str:
    """The SQL literal of a condition value on ``table``'s column ``column``."""
    if table.types[column] == "real":
        number = number_value(value)
        if number is not None:
            return repr(number)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    spellings = {str(row[column]).strip() for row in table.rows
                 if column < len(row) and str(row[column]).strip().lower() == text.lower()}
    if len(spellings) == 1:
        text = spellings.pop()
    return quote_text(text)


def build_sql(table: WikiTable, sql: Any) -> str:
    """SQL of a WikiSQL ``sql`` struct over ``table``.

    Raises:
        ValueError: if the struct is malformed (a message naming the field).
    """
    if not isinstance(sql, dict):
        raise ValueError(f"'sql' is {sql!r}, not an object")
    sel, agg, conds = sql.get("sel"), sql.get("agg"), sql.get("conds")
    width = len(table.columns)
    if not isinstance(sel, int) or not 0 <= sel < width:
        raise ValueError(f"'sql.sel' is {sel!r}; table {table.id} has {width} columns")
    if not isinstance(agg, int) or not 0 <= agg < len(AGG_OPS):
        raise ValueError(f"'sql.agg' is {agg!r}, not 0..{len(AGG_OPS) - 1}")
    if not isinstance(conds, list):
        raise ValueError(f"'sql.conds' is {conds!r}, not a list")
    column = quote_identifier(table.columns[sel])
    select = f"{AGG_OPS[agg]}({column})" if agg else column
    where = []
    for number, cond in enumerate(conds):
        if not (isinstance(cond, list) and len(cond) == 3):
            raise ValueError(f"'sql.conds[{number}]' is {cond!r}, not [column, op, value]")
        col, op, value = cond
        if not isinstance(col, int) or not 0 <= col < width:
            raise ValueError(f"'sql.conds[{number}]' column is {col!r}; table has {width} columns")
        if not isinstance(op, int) or not 0 <= op < len(COND_OPS):
            raise ValueError(f"'sql.conds[{number}]' op is {op!r}, not 0..{len(COND_OPS) - 1}")
        where.append(f"{quote_identifier(table.columns[col])} {COND_OPS[op]} "
                     f"{literal(table, col, value)}")
    text = f"SELECT {select} FROM {table.name}"
    return text + (" WHERE " + " AND ".join(where) if where else "")


def category(sql: dict[str, Any]) -> str:
    """``aggregation`` (an aggregate), ``filter`` (conditions only) or ``simple``."""
    if sql.get("agg"):
        return "aggregation"
    return "filter" if sql.get("conds") else "simple"


def split_stem(split_file: str) -> str:
    """``dev.jsonl`` -> ``dev`` (the prefix of the split's tables and .db files)."""
    return split_file[: -len(".jsonl")] if split_file.endswith(".jsonl") else Path(split_file).stem


def read_tables(path: Path, checker: RowChecker) -> dict[str, WikiTable]:
    """``S.tables.jsonl`` as ``{table id: WikiTable}``.

    Raises:
        DataError: if the file is missing, or a line is not JSON or lacks
            ``id``/``header``/``types``/``rows`` (file and line named), unless skipped.
    """
    tables: dict[str, WikiTable] = {}
    for number, record in _jsonl(path, checker):
        missing = [k for k in ("id", "header", "types", "rows") if k not in record]
        if missing:
            checker.bad(number, f"field {missing[0]!r} is missing")
            continue
        header, types, rows = record["header"], record["types"], record["rows"]
        if not (isinstance(header, list) and isinstance(types, list) and len(header) == len(types)):
            checker.bad(number, f"field 'types' has {len(types) if isinstance(types, list) else types!r} "
                        f"entries for {len(header) if isinstance(header, list) else header!r} headers")
            continue
        if not isinstance(rows, list) or any(not isinstance(r, list) or len(r) != len(header)
                                             for r in rows):
            checker.bad(number, f"field 'rows' must be a list of {len(header)}-value lists")
            continue
        table_id = str(record["id"])
        tables[table_id] = WikiTable(table_id, table_name(table_id), column_names(header),
                                     [str(t).lower() for t in types], rows)
    return tables


def read_db_rows(path: Path, tables: dict[str, WikiTable]) -> int:
    """Replace each table's rows by those of the real ``S.db`` (``col0..colN``); how many tables.

    Raises:
        DataError: if ``path`` is not a SQLite file.
    """
    try:
        conn = connect_readonly(path)
    except (OSError, sqlite3.DatabaseError) as exc:
        raise DataError(f"{path}: not a readable SQLite database ({exc})") from None
    replaced = 0
    try:
        present = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table in tables.values():
            if table.name in present:
                rows = conn.execute(f'SELECT * FROM "{table.name}"').fetchall()
                if rows and len(rows[0]) == len(table.columns):
                    table.rows = [list(r) for r in rows]
                    replaced += 1
    finally:
        conn.close()
    return replaced


def write_database(path: Path, tables: list[WikiTable]) -> None:
    """Write ``tables`` (headers as column names) into a new SQLite file ``path``.

    Raises:
        FileExistsError: if ``path`` exists.
    """
    conn = create_database(path)
    try:
        for table in tables:
            columns = ", ".join(f"{quote_identifier(c)} {'REAL' if t == 'real' else 'TEXT'}"
                                for c, t in zip(table.columns, table.types, strict=True))
            conn.execute(f"CREATE TABLE {quote_identifier(table.name)} ({columns})")
            marks = ", ".join("?" for _ in table.columns)
            conn.executemany(f"INSERT INTO {quote_identifier(table.name)} VALUES ({marks})",
                             [[_cell(v) for v in row] for row in table.rows])
        conn.commit()
    finally:
        conn.close()


def _cell(value: Any) -> Any:
    return value if value is None or isinstance(value, int | float | str) else json.dumps(value)


def load_source(spec: SourceConfig, bad_rows: str = "error") -> SourceData:
    """Read the WikiSQL splits of ``spec`` (``train_file``/``eval_file``: ``S.jsonl``).

    Raises:
        DataError: if a file is missing or a row is malformed (file, line and
            field named), unless ``bad_rows`` is ``skip``.
    """
    root = Path(spec.root)
    if not root.is_dir():
        raise DataError(f"WikiSQL folder {root} does not exist (data.root)")
    splits: dict[str, list[Example]] = {}
    entries: dict[str, dict[str, Any]] = {}
    per_split_tables: dict[str, list[WikiTable]] = {}
    inputs: list[Path] = []
    skipped = []
    report: dict[str, Any] = {"categories": {}, "db_rows_from": {}}
    for split_file in (spec.train_file, spec.eval_file):
        if not split_file:
            continue
        stem = split_stem(split_file)
        tables_path, db_path = root / f"{stem}.tables.jsonl", root / f"{stem}.db"
        table_checker = RowChecker(tables_path, bad_rows, "line")
        tables = read_tables(tables_path, table_checker)
        inputs.append(tables_path)
        if db_path.is_file():
            read_db_rows(db_path, tables)
            inputs.append(db_path)
            report["db_rows_from"][split_file] = db_path.name
        else:
            report["db_rows_from"][split_file] = tables_path.name
        checker = RowChecker(root / split_file, bad_rows, "line")
        examples = []
        used: dict[str, WikiTable] = {}
        for number, record in _jsonl(root / split_file, checker):
            question = checker.text(number, record, "question")
            table_id = checker.text(number, record, "table_id")
            if question is None or table_id is None:
                continue
            table = tables.get(table_id)
            if table is None:
                checker.bad(number, f"field 'table_id' {table_id!r} is not in {tables_path.name}")
                continue
            try:
                sql = build_sql(table, record.get("sql"))
            except ValueError as exc:
                checker.bad(number, str(exc))
                continue
            example = Example(index=len(examples), question=question, query=sql,
                              db_id=table.name, category=category(record["sql"]))
            if checker.sized(number, example):
                examples.append(example)
                used[table.name] = table
        inputs.append(root / split_file)
        skipped += [c.report for c in (table_checker, checker) if c.report.count]
        for c in (table_checker, checker):
            c.log_summary()
        splits[split_file] = examples
        per_split_tables[stem] = list(used.values())
        for table in used.values():
            entries[table.name] = table.tables_entry()
        report["categories"][split_file] = dict(sorted(Counter(e.category for e in examples).items()))

    def build(folder: Path) -> dict[str, Path]:
        paths: dict[str, Path] = {}
        for stem, tables in per_split_tables.items():
            fresh = [t for t in tables if t.name not in paths]
            path = folder / f"{stem}.sqlite"
            write_database(path, fresh)
            paths.update({t.name: path for t in fresh})
        return paths

    return SourceData(kind="wikisql", splits=splits, tables=entries, inputs=inputs,
                      skipped=skipped, build_databases=build, report=report)


def _jsonl(path: Path, checker: RowChecker):
    """``(line number, object)`` of each non-blank line; bad lines go to ``checker``.

    Lines are read by :func:`t2s.jsonio.read_lines`: one too long, not UTF-8,
    not JSON or nested too deep is a bad row like any other.

    Raises:
        DataError: if the file is missing.
    """
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    for line in read_lines(path):
        if line.error is not None:
            checker.bad(line.number, line.error)
            continue
        if not isinstance(line.value, dict):
            checker.bad(line.number, f"a {type(line.value).__name__}, not an object")
            continue
        yield line.number, line.value
