"""Structural categories of a (gold) query, for per-category breakdowns.

The seed project grouped queries as simple / filter / aggregation; t2s adds
join, nested, ordering and set-operation. A query has every category whose
feature it contains (:func:`categories`), and one primary category
(:func:`category`): the first of :data:`PRECEDENCE` that it has. The order
puts the feature that most changes what a model must get right first: a set
operation or a subquery is harder than a join, which is harder than an
aggregate, an ORDER BY, or a WHERE; "simple" is what is left (a projection,
possibly DISTINCT, from one table).

Categories need no schema: they are read from Spider's tokens, so they work for
any SQL that tokenises, parsable or not.

- set-operation: INTERSECT, UNION or EXCEPT anywhere;
- nested: a SELECT inside parentheses (in a condition or in FROM);
- join: JOIN, or a comma-separated FROM list;
- aggregation: COUNT/SUM/AVG/MIN/MAX applied, GROUP BY, or HAVING;
- ordering: ORDER BY;
- filter: WHERE;
- simple: none of the above.
"""

from __future__ import annotations

from t2s.evaluation.spider_sql import AGG_OPS, SET_OPS, SpiderSQLError, tokenize

PRECEDENCE = ("set-operation", "nested", "join", "aggregation", "ordering", "filter", "simple")


def categories(gold_sql: str) -> set[str]:
    """Every category whose feature ``gold_sql`` contains (``{"simple"}`` if none)."""
    tokens = _tokens(gold_sql)
    found: set[str] = set()
    if any(token in SET_OPS for token in tokens):
        found.add("set-operation")
    pairs = list(zip(tokens, tokens[1:], strict=False))
    if any(a == "(" and b == "select" for a, b in pairs):
        found.add("nested")
    if "join" in tokens or _comma_join(tokens):
        found.add("join")
    if (any(a in AGG_OPS[1:] and b == "(" for a, b in pairs)
            or ("group", "by") in pairs or "having" in tokens):
        found.add("aggregation")
    if ("order", "by") in pairs:
        found.add("ordering")
    if "where" in tokens:
        found.add("filter")
    return found or {"simple"}


def category(gold_sql: str) -> str:
    """The primary category: the first of :data:`PRECEDENCE` in :func:`categories`."""
    found = categories(gold_sql)
    return next(name for name in PRECEDENCE if name in found)


def _tokens(sql: str) -> list[str]:
    try:
        return tokenize(sql)
    except SpiderSQLError:  # unbalanced quotes: plain words still tell the clauses
        return sql.lower().replace("(", " ( ").replace(")", " ) ").replace(",", " , ").split()


def _comma_join(tokens: list[str]) -> bool:
    """Whether some FROM lists tables with commas (``FROM a, b``)."""
    in_from = False
    depth = from_depth = 0
    for token in tokens:
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif token == "from":
            in_from, from_depth = True, depth
        elif in_from and depth == from_depth:
            if token == ",":
                return True
            if token in ("where", "group", "order", "limit", "having", "union", "intersect",
                         "except", "join", "on"):
                in_from = False
    return False
