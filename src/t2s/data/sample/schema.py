"""Table descriptions shared by the database builders and the question templates.

One :class:`TableSpec` per table says everything the rest of the generator needs:
the DDL (with real PRIMARY KEY / FOREIGN KEY constraints), the Spider tables.json
entry, and the words the question templates use ("venue"/"venues", "capacity",
"held at").
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# SQL type -> the column type Spider's tables.json uses for it.
SPIDER_TYPES: dict[str, str] = {
    "INTEGER": "number",
    "REAL": "number",
    "TEXT": "text",
    "DATE": "time",
    "BOOLEAN": "boolean",
}

# What a column is for; the question templates pick columns by role.
#   id: the primary key; fk: a foreign key; label: names a row ("name", "title");
#   category: few distinct text values ("city", "genre"); measure: a number worth
#   comparing and averaging; year: an integer year; date: ISO date text;
#   flag: a 0/1 boolean; text: free text nobody filters on (an email).
ROLES: frozenset[str] = frozenset(
    {"id", "fk", "label", "category", "measure", "year", "date", "flag", "text"}
)


@dataclass(frozen=True)
class ColumnSpec:
    """One column.

    Attributes:
        name: SQL name.
        sql_type: One of :data:`SPIDER_TYPES`' keys.
        role: One of :data:`ROLES`.
        phrase: Readable name for questions and tables.json; defaults to
            ``name`` with underscores as spaces.
        plural: Plural of ``phrase`` (category columns: "cities").
        references: ``(table, column)`` for a foreign key.
        rel: For a foreign key, the noun a child uses for its parent ("home
            team" for ``game.home_team_id``); defaults to the parent's noun.
        via: For a foreign key, how a child row relates to its parent, read as
            "<child plural> <via> <parent plural>": "concerts held at venues".
        cond: For a category, a filter phrase with ``{v}`` ("located in {v}").
        additive: For a measure, whether a SUM means something (tickets sold,
            yes; age, no).
    """

    name: str
    sql_type: str
    role: str
    phrase: str = ""
    plural: str = ""
    references: tuple[str, str] | None = None
    rel: str = ""
    via: str = ""
    cond: str = ""
    additive: bool = False

    def __post_init__(self) -> None:
        if self.sql_type not in SPIDER_TYPES:
            raise ValueError(f"column {self.name}: unknown SQL type {self.sql_type!r}")
        if self.role not in ROLES:
            raise ValueError(f"column {self.name}: unknown role {self.role!r}")
        if (self.role == "fk") != (self.references is not None):
            raise ValueError(f"column {self.name}: role 'fk' and references go together")
        if not self.phrase:
            object.__setattr__(self, "phrase", self.name.replace("_", " "))
        if not self.plural:
            object.__setattr__(self, "plural", pluralize(self.phrase))

    @property
    def spider_type(self) -> str:
        """The tables.json type of this column."""
        return SPIDER_TYPES[self.sql_type]


@dataclass(frozen=True)
class TableSpec:
    """One table: its columns (the first is the integer primary key) and its nouns.

    Attributes:
        name: SQL name.
        noun: Singular noun for a row ("venue").
        plural: Plural noun ("venues").
        columns: Columns in declaration order.
        phrase: Readable name for tables.json; defaults to ``name`` with spaces.
    """

    name: str
    noun: str
    plural: str
    columns: tuple[ColumnSpec, ...]
    phrase: str = ""

    def __post_init__(self) -> None:
        if not self.columns or self.columns[0].role != "id":
            raise ValueError(f"table {self.name}: the first column must be the 'id' key")
        if not self.phrase:
            object.__setattr__(self, "phrase", self.name.replace("_", " "))

    @property
    def primary_key(self) -> ColumnSpec:
        """The primary-key column (always the first)."""
        return self.columns[0]

    @property
    def label(self) -> ColumnSpec | None:
        """The column that names a row, if the table has one."""
        return next((c for c in self.columns if c.role == "label"), None)

    def by_role(self, *roles: str) -> list[ColumnSpec]:
        """Columns whose role is one of ``roles``, in declaration order."""
        return [c for c in self.columns if c.role in roles]

    def column(self, name: str) -> ColumnSpec:
        """The column called ``name``.

        Raises:
            KeyError: if there is none.
        """
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.name}.{name}")


@dataclass(frozen=True)
class DatabaseSpec:
    """A database: its tables and their rows (tuples in column order).

    Attributes:
        db_id: The Spider db_id and file name.
        tables: Tables in creation order (parents before children).
        rows: Rows per table name.
    """

    db_id: str
    tables: tuple[TableSpec, ...]
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)

    def table(self, name: str) -> TableSpec:
        """The table called ``name``.

        Raises:
            KeyError: if there is none.
        """
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(name)

    def foreign_keys(self) -> list[tuple[TableSpec, ColumnSpec, TableSpec]]:
        """Every ``(child table, fk column, parent table)`` in declaration order."""
        edges = []
        for table in self.tables:
            for column in table.by_role("fk"):
                assert column.references is not None  # guaranteed by ColumnSpec
                edges.append((table, column, self.table(column.references[0])))
        return edges


def col(name: str, sql_type: str, role: str, **kwargs: Any) -> ColumnSpec:
    """Shorthand for :class:`ColumnSpec` used by the database builders."""
    return ColumnSpec(name=name, sql_type=sql_type, role=role, **kwargs)


def create_table_sql(table: TableSpec) -> str:
    """``CREATE TABLE`` statement with PRIMARY KEY and FOREIGN KEY constraints."""
    lines = []
    for column in table.columns:
        constraint = " PRIMARY KEY" if column is table.primary_key else ""
        if column.role in ("label", "fk"):
            constraint += " NOT NULL"
        lines.append(f"  {column.name} {column.sql_type}{constraint}")
    for column in table.by_role("fk"):
        assert column.references is not None
        ref_table, ref_column = column.references
        lines.append(f"  FOREIGN KEY ({column.name}) REFERENCES {ref_table} ({ref_column})")
    return f"CREATE TABLE {table.name} (\n" + ",\n".join(lines) + "\n)"


def write_sqlite(spec: DatabaseSpec, path: Path) -> None:
    """Create ``path`` holding ``spec``'s tables and rows.

    Foreign keys are enforced while inserting, so a builder that points at a
    missing parent row fails here instead of shipping a broken database.

    Raises:
        sqlite3.IntegrityError: if a row breaks a key constraint (a builder bug).
        FileExistsError: if ``path`` already exists.
    """
    if path.exists():
        raise FileExistsError(path)
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA foreign_keys = ON")
        for table in spec.tables:
            connection.execute(create_table_sql(table))
            marks = ", ".join("?" for _ in table.columns)
            connection.executemany(
                f"INSERT INTO {table.name} VALUES ({marks})", spec.rows.get(table.name, [])
            )
        connection.commit()
    finally:
        connection.close()


def tables_json_entry(spec: DatabaseSpec) -> dict[str, Any]:
    """The Spider tables.json entry of ``spec`` (keys in Spider's sorted order)."""
    column_names: list[list[Any]] = [[-1, "*"]]
    column_names_original: list[list[Any]] = [[-1, "*"]]
    column_types = ["text"]
    index: dict[tuple[str, str], int] = {}
    for table_index, table in enumerate(spec.tables):
        for column in table.columns:
            index[(table.name, column.name)] = len(column_names)
            column_names.append([table_index, column.phrase])
            column_names_original.append([table_index, column.name])
            column_types.append(column.spider_type)
    primary_keys = [index[(t.name, t.primary_key.name)] for t in spec.tables]
    foreign_keys = [
        [index[(child.name, column.name)], index[column.references]]  # type: ignore[index]
        for child, column, _ in spec.foreign_keys()
    ]
    return {
        "column_names": column_names,
        "column_names_original": column_names_original,
        "column_types": column_types,
        "db_id": spec.db_id,
        "foreign_keys": foreign_keys,
        "primary_keys": primary_keys,
        "table_names": [t.phrase for t in spec.tables],
        "table_names_original": [t.name for t in spec.tables],
    }


def pluralize(phrase: str) -> str:
    """English plural of a noun phrase ("city" -> "cities", "box" -> "boxes")."""
    if phrase.endswith("y") and phrase[-2:-1] not in "aeiou":
        return phrase[:-1] + "ies"
    if phrase.endswith(("s", "x", "ch", "sh")):
        return phrase + "es"
    return phrase + "s"
