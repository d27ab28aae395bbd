"""An inline schema given as ``CREATE TABLE`` statements, turned into a :class:`DatabaseSchema`.

Parsed with sqlglot (SQLite dialect), never executed: the text only names
tables, columns, types and keys, which go into the prompt exactly as a
tables.json entry's would (:func:`t2s.data.schema_text.serialize_schema`).
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from t2s.data.schema_text import spider_type
from t2s.data.spider import Column, DatabaseSchema, ForeignKey, Table
from t2s.errors import InputError

# Tables accepted in one inline schema; Spider's largest database has 26.
MAX_TABLES = 200


def schema_from_ddl(ddl: str, db_id: str = "inline") -> DatabaseSchema:
    """The schema declared by ``CREATE TABLE`` statements.

    Raises:
        InputError: if the text does not parse, holds a statement other than
            CREATE TABLE, declares no table or more than :data:`MAX_TABLES`.
    """
    try:
        statements = [s for s in sqlglot.parse(ddl, read="sqlite") if s is not None]
    except sqlglot.errors.ParseError as exc:
        raise InputError(f"schema: not valid DDL ({str(exc).splitlines()[0]})") from None
    tables, foreign_keys = [], []
    for statement in statements:
        if not (isinstance(statement, exp.Create) and statement.args.get("kind") == "TABLE"
                and isinstance(statement.this, exp.Schema)):
            raise InputError(f"schema: only CREATE TABLE statements, got {statement.sql()[:60]!r}")
        name = statement.this.this.name
        columns, primary = [], []
        for item in statement.this.expressions:
            if isinstance(item, exp.ColumnDef):
                kind = item.args.get("kind")
                columns.append(Column(item.name, spider_type(kind.sql("sqlite") if kind else "")))
                for constraint in item.args.get("constraints") or []:
                    if isinstance(constraint.kind, exp.PrimaryKeyColumnConstraint):
                        primary.append(item.name)
                    elif isinstance(constraint.kind, exp.Reference):
                        target = constraint.kind.this
                        refs = [c.name for c in target.expressions] or [item.name]
                        foreign_keys.append(ForeignKey(name, item.name, target.this.name, refs[0]))
            elif isinstance(item, exp.PrimaryKey):
                primary += [c.name for c in item.expressions]
            elif isinstance(item, exp.ForeignKey):
                target = item.args["reference"].this
                for own, ref in zip(item.expressions, target.expressions, strict=False):
                    foreign_keys.append(ForeignKey(name, own.name, target.this.name, ref.name))
        if not columns:
            raise InputError(f"schema: table {name!r} declares no columns")
        tables.append(Table(name, tuple(columns), tuple(primary)))
    if not tables:
        raise InputError("schema: no CREATE TABLE statement")
    if len(tables) > MAX_TABLES:
        raise InputError(f"schema: {len(tables)} tables, at most {MAX_TABLES}")
    return DatabaseSchema(db_id, tuple(tables), tuple(foreign_keys))
