"""Spider's exact set match, and a plain normalised-string match.

Exact set match (the ``match`` metric of the official evaluator,
taoyds/test-suite-sql-eval ``evaluation.py``, at its default settings):

1. Both queries are parsed into Spider's components (:mod:`spider_sql`).
2. Values are dropped: every literal or column on the right of a condition
   becomes ``None``; nested queries stay, with their own values dropped too.
   Queries in FROM are left untouched (values included), as officially.
3. Columns are rebuilt: DISTINCT flags are dropped, and a column of a table in
   the query's FROM that sits in a foreign-key cluster is replaced by the
   cluster's lowest-numbered column. This applies to the top query and its
   INTERSECT/UNION/EXCEPT chain (using the top query's tables), not inside
   nested queries, again as officially.
4. Components are compared: SELECT items, WHERE conditions and GROUP BY column
   names as multisets; GROUP BY columns and HAVING in order when either side
   groups; ORDER BY (one direction, units in order) with LIMIT presence; the
   set of AND/OR connectors in WHERE; the set-operation branch recursively; the
   keyword set; and the FROM table units as a multiset.

A prediction that does not parse is simply wrong. A gold query that does not
parse raises :class:`GoldQueryError` (a :class:`~t2s.errors.DataError`) naming
the query, since no verdict against it means anything; callers scoring many
examples can catch it per example and report it. Gold parses are cached per
(schema, SQL), so scoring the 1034 Spider dev examples parses each gold once.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from functools import lru_cache

from t2s.data.spider import MAX_SQL_CHARS, DatabaseSchema
from t2s.errors import DataError
from t2s.evaluation.spider_sql import (
    STAR,
    WHERE_OPS,
    ColUnit,
    Cond,
    Query,
    SchemaIndex,
    SpiderSQLError,
    ValUnit,
    cond_units,
    connectors,
    parse,
    schema_index,
)

# Enough for every gold query of Spider dev (1034) and train (7000) at once.
_GOLD_CACHE_SIZE = 16_384


class GoldQueryError(DataError):
    """A gold query that Spider's grammar cannot parse.

    Attributes:
        sql: The gold query.
        db_id: Its database.
        reason: The parser's message.
    """

    def __init__(self, sql: str, db_id: str, reason: str) -> None:
        super().__init__(f"gold query on {db_id} cannot be parsed ({reason}): {sql}")
        self.sql = sql
        self.db_id = db_id
        self.reason = reason


def exact_match(gold_sql: str, pred_sql: str, schema: DatabaseSchema) -> bool:
    """Spider's exact set match of ``pred_sql`` against ``gold_sql``.

    Raises:
        GoldQueryError: if the gold query cannot be parsed. A prediction that
            cannot be parsed gives ``False`` and never raises.
    """
    gold = normalized_gold(gold_sql, schema)
    try:
        pred = normalize(parse(_official_pred_text(pred_sql), schema), schema_index(schema))
    except SpiderSQLError:
        return False
    return queries_match(pred, gold)


def parse_failure(pred_sql: str, schema: DatabaseSchema) -> SpiderSQLError | None:
    """Why Spider's grammar rejects ``pred_sql``, or ``None`` if it parses."""
    try:
        parse(_official_pred_text(pred_sql), schema)
    except SpiderSQLError as error:
        return error
    return None


def parse_error(pred_sql: str, schema: DatabaseSchema) -> str | None:
    """Error class of an unparsable prediction, for an error taxonomy.

    Returns:
        ``"parse error"``, ``"unknown table"`` or ``"unknown column"``, or
        ``None`` when the prediction parses.
    """
    failure = parse_failure(pred_sql, schema)
    return None if failure is None else failure.kind


def parsed_gold(gold_sql: str, schema: DatabaseSchema) -> Query:
    """The (cached) parse of a gold query, values and DISTINCT kept.

    Raises:
        GoldQueryError: if it cannot be parsed.
    """
    return _parsed_gold(gold_sql, schema)


def normalized_gold(gold_sql: str, schema: DatabaseSchema) -> Query:
    """The (cached) gold query after exact-match normalisation.

    Raises:
        GoldQueryError: if it cannot be parsed.
    """
    return _normalized_gold(gold_sql, schema)


@lru_cache(maxsize=_GOLD_CACHE_SIZE)
def _parsed_gold(gold_sql: str, schema: DatabaseSchema) -> Query:
    try:
        return parse(gold_sql, schema)
    except SpiderSQLError as error:
        raise GoldQueryError(gold_sql, schema.db_id, str(error)) from None


@lru_cache(maxsize=_GOLD_CACHE_SIZE)
def _normalized_gold(gold_sql: str, schema: DatabaseSchema) -> Query:
    return normalize(_parsed_gold(gold_sql, schema), schema_index(schema))


def _official_pred_text(pred_sql: str) -> str:
    # The official evaluate() rewrites every "value" in a prediction to "1"
    # (a placeholder some models emit). It is case-sensitive and also hits
    # words such as "values"; we mirror it so verdicts agree.
    return pred_sql.replace("value", "1")


# --- normalisation (Spider's "rebuild" of values and columns) ---------------

def normalize(query: Query, index: SchemaIndex) -> Query:
    """Drop values, then DISTINCT flags and foreign-key aliases (steps 2-3 above)."""
    tables = frozenset(unit for unit in query.tables if isinstance(unit, str))
    return _rebuild_columns(_drop_values(query), tables, index.foreign_key_map)


def _drop_values(query: Query) -> Query:
    set_op = query.set_op
    return replace(
        query,
        join_conds=_drop_condition_values(query.join_conds),
        where=_drop_condition_values(query.where),
        having=_drop_condition_values(query.having),
        set_op=None if set_op is None else (set_op[0], _drop_values(set_op[1])),
    )


def _drop_condition_values(condition: tuple[Cond | str, ...]) -> tuple[Cond | str, ...]:
    return tuple(
        replace(item, val1=_kept_value(item.val1), val2=_kept_value(item.val2))
        if isinstance(item, Cond) else item
        for item in condition
    )


def _kept_value(value: object) -> Query | None:
    return _drop_values(value) if isinstance(value, Query) else None


def _rebuild_columns(query: Query, tables: frozenset[str], fk_map: dict[str, str]) -> Query:
    def col(unit: ColUnit | None) -> ColUnit | None:
        if unit is None:
            return None
        column = unit.column
        if column != STAR and column.split(".", 1)[0] in tables:
            column = fk_map.get(column, column)
        return ColUnit(unit.agg, column, None)

    def val(unit: ValUnit) -> ValUnit:
        return ValUnit(unit.op, col(unit.left), col(unit.right))

    def condition(items: tuple[Cond | str, ...]) -> tuple[Cond | str, ...]:
        return tuple(replace(c, val_unit=val(c.val_unit)) if isinstance(c, Cond) else c
                     for c in items)

    order = query.order_by
    set_op = query.set_op
    return Query(
        distinct=None,
        select=tuple((agg, val(unit)) for agg, unit in query.select),
        tables=query.tables,
        join_conds=condition(query.join_conds),
        where=condition(query.where),
        group_by=tuple(col(unit) for unit in query.group_by),
        having=condition(query.having),
        order_by=None if order is None else (order[0], tuple(val(u) for u in order[1])),
        limit=query.limit,
        set_op=None if set_op is None else (set_op[0], _rebuild_columns(set_op[1], tables, fk_map)),
    )


# --- comparison --------------------------------------------------------------

def queries_match(pred: Query, gold: Query) -> bool:
    """Whether two normalised queries agree on every Spider component."""
    if not _components_match(pred, gold):
        return False
    # Spider skips the table comparison when the gold has no table units.
    return not gold.tables or Counter(pred.tables) == Counter(gold.tables)


def _components_match(pred: Query, gold: Query) -> bool:
    return (
        Counter(pred.select) == Counter(gold.select)
        and Counter(cond_units(pred.where)) == Counter(cond_units(gold.where))
        and Counter(map(_column_name, pred.group_by)) == Counter(map(_column_name, gold.group_by))
        and _group_having_match(pred, gold)
        and _order_match(pred, gold)
        and set(connectors(pred.where)) == set(connectors(gold.where))
        and _set_op_match(pred, gold)
        and keywords(pred) == keywords(gold)
    )


def _column_name(unit: ColUnit) -> str:
    # GROUP BY is first compared on column names alone, table ignored.
    return unit.column.split(".", 1)[-1]


def _group_having_match(pred: Query, gold: Query) -> bool:
    if not pred.group_by and not gold.group_by:
        return True
    return (
        bool(pred.group_by) and bool(gold.group_by)
        and [u.column for u in pred.group_by] == [u.column for u in gold.group_by]
        and pred.having == gold.having
    )


def _order_match(pred: Query, gold: Query) -> bool:
    if gold.order_by is None:
        return pred.order_by is None
    return pred.order_by == gold.order_by and pred.limit == gold.limit


def _set_op_match(pred: Query, gold: Query) -> bool:
    if pred.set_op is None or gold.set_op is None:
        return pred.set_op is None and gold.set_op is None
    return pred.set_op[0] == gold.set_op[0] and queries_match(pred.set_op[1], gold.set_op[1])


def keywords(query: Query) -> frozenset[str]:
    """Spider's keyword set of one query level (nested queries not included)."""
    found: set[str] = set()
    for present, keyword in (
        (bool(query.where), "where"), (bool(query.group_by), "group"),
        (bool(query.having), "having"), (query.limit, "limit"),
    ):
        if present:
            found.add(keyword)
    if query.order_by is not None:
        found.update(("order", query.order_by[0]))
    if query.set_op is not None:
        found.add(query.set_op[0])
    if "or" in connectors(query.join_conds) + connectors(query.where) + connectors(query.having):
        found.add("or")
    units = cond_units(query.join_conds) + cond_units(query.where) + cond_units(query.having)
    if any(unit.negated for unit in units):
        found.add("not")
    for op in ("in", "like"):
        if any(WHERE_OPS[unit.op] == op for unit in units):
            found.add(op)
    return frozenset(found)


# --- plain string match ------------------------------------------------------

_STRING_TOKEN = re.compile(
    r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|>=|<=|!=|<>|==|\|\||[A-Za-z0-9_.$]+|\S"""
)


def string_exact_match(gold_sql: str, pred_sql: str) -> bool:
    """Whether the two queries are the same text up to case, spacing, quotes and ';'.

    Keywords and identifiers compare case-insensitively, string literals
    case-sensitively and regardless of quote style; whitespace (including none
    around punctuation) and trailing semicolons are ignored.
    """
    if max(len(gold_sql), len(pred_sql)) > MAX_SQL_CHARS:  # as tokenize refuses it
        return False
    return _string_tokens(gold_sql) == _string_tokens(pred_sql)


def _string_tokens(sql: str) -> list[str]:
    tokens = []
    for token in _STRING_TOKEN.findall(sql.strip().rstrip(";").strip()):
        if token[0] in "'\"" and len(token) > 1:
            quote = token[0]
            body = token[1:-1].replace(quote * 2, quote)
            tokens.append("'" + body.replace("'", "''") + "'")
        else:
            tokens.append(token.lower())
    while tokens and tokens[-1] == ";":
        tokens.pop()
    return tokens
