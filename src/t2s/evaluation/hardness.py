"""Spider's hardness levels (easy / medium / hard / extra) of a gold query.

The level comes from three counts on the parsed gold query (values kept), as
the official evaluator defines them:

- component 1: WHERE, GROUP BY, ORDER BY, LIMIT, one per joined table beyond
  the first, one per OR and one per LIKE in ON/WHERE/HAVING;
- component 2: nested queries in conditions, plus an INTERSECT/UNION/EXCEPT;
- others: +1 for more than one aggregation, +1 for more than one SELECT item,
  +1 for more than one WHERE condition, +1 for more than one GROUP BY column.

Spider's aggregation count has quirks we keep so that levels agree: a negated
WHERE/HAVING condition (``NOT IN``, ``NOT LIKE``) counts as an aggregation, each
AND/OR inside HAVING counts as one, an aggregate inside a WHERE or HAVING
condition does not; and "more than one WHERE condition" is true as soon as the
WHERE list holds a connector.
"""

from __future__ import annotations

from t2s.data.spider import DatabaseSchema
from t2s.evaluation.exact_match import parsed_gold
from t2s.evaluation.spider_sql import WHERE_OPS, ColUnit, Cond, Query, cond_units, connectors

LEVELS = ("easy", "medium", "hard", "extra")


def hardness(gold_sql: str, schema: DatabaseSchema) -> str:
    """Spider hardness level of ``gold_sql``: one of :data:`LEVELS`.

    Raises:
        GoldQueryError: if the query cannot be parsed (a DataError).
    """
    return query_hardness(parsed_gold(gold_sql, schema))


def query_hardness(query: Query) -> str:
    """Hardness level of an already parsed query."""
    comp1, comp2, others = component1(query), component2(query), count_others(query)
    if comp1 <= 1 and others == 0 and comp2 == 0:
        return "easy"
    if (others <= 2 and comp1 <= 1 and comp2 == 0) or (comp1 <= 2 and others < 2 and comp2 == 0):
        return "medium"
    if ((others > 2 and comp1 <= 2 and comp2 == 0)
            or (2 < comp1 <= 3 and others <= 2 and comp2 == 0)
            or (comp1 <= 1 and others == 0 and comp2 <= 1)):
        return "hard"
    return "extra"


def _all_conditions(query: Query) -> tuple[Cond, ...]:
    return cond_units(query.join_conds) + cond_units(query.where) + cond_units(query.having)


def component1(query: Query) -> int:
    """Clause count: WHERE, GROUP BY, ORDER BY, LIMIT, joins, ORs and LIKEs."""
    count = sum((bool(query.where), bool(query.group_by), query.order_by is not None, query.limit))
    count += max(len(query.tables) - 1, 0)
    all_connectors = connectors(query.join_conds) + connectors(query.where) + connectors(query.having)
    count += all_connectors.count("or")
    count += sum(WHERE_OPS[c.op] == "like" for c in _all_conditions(query))
    return count


def nested_queries(query: Query) -> list[Query]:
    """Queries nested in conditions, plus the set-operation branch (not FROM subqueries)."""
    nested = [value for cond in _all_conditions(query) for value in (cond.val1, cond.val2)
              if isinstance(value, Query)]
    if query.set_op is not None:
        nested.append(query.set_op[1])
    return nested


def component2(query: Query) -> int:
    """Number of nested queries (see :func:`nested_queries`)."""
    return len(nested_queries(query))


def count_others(query: Query) -> int:
    """The "others" count: multiple aggregations, SELECT items, WHERE conditions,
    GROUP BY columns (one point each)."""
    aggregations = sum(agg != 0 for agg, _ in query.select)
    aggregations += sum(cond.negated for cond in cond_units(query.where))
    aggregations += sum(unit.agg != 0 for unit in query.group_by)
    if query.order_by is not None:
        units: list[ColUnit] = [u.left for u in query.order_by[1]]
        units += [u.right for u in query.order_by[1] if u.right is not None]
        aggregations += sum(unit.agg != 0 for unit in units)
    # Spider counts every HAVING item that is "truthy" at position 0: negated
    # conditions and every connector string.
    aggregations += sum(item.negated if isinstance(item, Cond) else 1 for item in query.having)
    return sum((aggregations > 1, len(query.select) > 1, len(query.where) > 1,
                len(query.group_by) > 1))
