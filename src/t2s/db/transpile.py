"""SQLite SQL in PostgreSQL's dialect: how gold SQL written for SQLite (Spider,
BIRD, WikiSQL) is scored on, and trained for, a PostgreSQL database.

sqlglot (``read="sqlite", write="postgres"``) does the syntax, and t2s names
the subqueries in FROM that SQLite lets go unnamed; two rewrites keep SQLite's
meaning where the same text means something else in PostgreSQL:

1. **Double-quoted strings.** SQLite reads ``"Jetblue"`` as a string when no
   column has that name (Spider writes ``WHERE name = "Jetblue"``); PostgreSQL
   reads an identifier and fails with "column does not exist". A double-quoted,
   unqualified column that names no table or column of the database becomes a
   string literal (an alias the query itself defines stays a name).
2. **LIKE is case-insensitive in SQLite** (for ASCII, by default), so
   ``LIKE '%shop%'`` finds "Shop"; in PostgreSQL it does not. ``LIKE`` becomes
   ``ILIKE`` (``NOT LIKE``: ``NOT ILIKE``).

What each rewrite is worth over Spider dev is measured by
``bench/bench_postgres_transpile.py`` (BENCHMARKS.md, "Spider gold SQL on PostgreSQL").
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlglot
from sqlglot import exp

from t2s.data.spider import DatabaseSchema
from t2s.errors import DataError


class TranspileError(DataError):
    """sqlglot could not read the SQLite SQL (or write it as PostgreSQL)."""


def to_postgres(sql: str, names: Iterable[str] | None = None, *, strings: bool = True,
                ilike: bool = True) -> str:
    """``sql``, written for SQLite, in PostgreSQL's dialect (see the module docstring).

    Args:
        sql: One SQLite statement.
        names: The database's table and column names (any case): with
            ``strings``, a double-quoted name not among them is a string. None:
            no name is known, so no double-quoted name is rewritten.
        strings: Rewrite 1 (double-quoted non-names as strings).
        ilike: Rewrite 2 (``LIKE`` as ``ILIKE``).

    Raises:
        TranspileError: if sqlglot cannot parse ``sql`` as one SQLite statement.
    """
    try:
        trees = sqlglot.parse(sql, read="sqlite")
    except sqlglot.errors.SqlglotError as exc:
        raise TranspileError(f"cannot transpile to PostgreSQL ({type(exc).__name__}): "
                             f"{str(exc).splitlines()[0][:200]}") from None
    trees = [t for t in trees if t is not None]
    if len(trees) != 1:
        raise TranspileError(f"cannot transpile to PostgreSQL: {len(trees)} statements, not one")
    tree = trees[0]
    if strings and names is not None:
        known = {name.lower() for name in names}
        known.update(a.alias.lower() for a in tree.find_all(exp.Alias, exp.TableAlias) if a.alias)
        for column in list(tree.find_all(exp.Column)):
            ident = column.this
            if (isinstance(ident, exp.Identifier) and ident.quoted and not column.table
                    and ident.name.lower() not in known):
                column.replace(exp.Literal.string(ident.name))
    _name_subqueries(tree)
    if ilike:
        for like in list(tree.find_all(exp.Like)):
            # All arguments carried over: NOT LIKE is a Like with negate=True.
            like.replace(exp.ILike(**like.args))
    try:
        return tree.sql(dialect="postgres")
    except sqlglot.errors.SqlglotError as exc:
        raise TranspileError(f"cannot write as PostgreSQL: {str(exc).splitlines()[0][:200]}") from None


def _name_subqueries(tree: exp.Expression) -> None:
    """Give each unnamed subquery in FROM/JOIN an alias: PostgreSQL 15 requires one
    ("subquery in FROM must have an alias"), SQLite does not (2 Spider dev queries)."""
    for number, subquery in enumerate(
            [s for s in tree.find_all(exp.Subquery)
             if not s.alias and isinstance(s.parent, exp.From | exp.Join)], start=1):
        subquery.set("alias", exp.TableAlias(this=exp.to_identifier(f"t2s_from_{number}")))


def schema_names(schema: DatabaseSchema) -> set[str]:
    """The names :func:`to_postgres` keeps as identifiers: the tables' and their columns'."""
    return {name.lower() for table in schema.tables
            for name in (table.name, *(c.name for c in table.columns))}


__all__ = ["TranspileError", "schema_names", "to_postgres"]
