"""Deterministic prediction sets built from gold queries, for the agreement harness.

Each set rewrites every gold query one way (a correct paraphrase the metric
should accept, or a mistake it should reject, or something in between) so that
both evaluators are exercised on realistic and adversarial predictions. A
rewrite that does not apply to a query leaves it unchanged. The text of every
prediction is a single line without tabs and never empty (the official reader
treats an empty line as a session break).

The rewrites work on the SQL text with a small scanner (top-level clause
keywords, commas and quotes), not with either evaluator's parser, so that
neither evaluator's parse shapes the test data.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlglot


@dataclass(frozen=True)
class GoldRow:
    """One gold line: SQL and db_id, plus the schema entry from tables.json."""

    sql: str
    db_id: str
    entry: dict[str, Any]


Rewrite = Callable[[GoldRow, random.Random, Sequence[GoldRow]], str]

_KEYWORDS = ("select", "from", "where", "group by", "having", "order by", "limit",
             "intersect", "union", "except", "join", "on")


def _scan(sql: str) -> list[tuple[int, int]]:
    """(position, depth) of every character outside string literals."""
    out, depth, quote = [], 0, ""
    for i, char in enumerate(sql):
        if quote:
            if char == quote:
                quote = ""
            continue
        if char in "'\"":
            quote = char
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        out.append((i, depth))
    return out


def _top_keywords(sql: str) -> list[tuple[int, int, str]]:
    """(start, end, keyword) of clause keywords at parenthesis depth 0."""
    depth_at = dict(_scan(sql))
    alternatives = "|".join(k.replace(" ", r"\s+") for k in _KEYWORDS)
    found = []
    for match in re.finditer(r"\b(" + alternatives + r")\b", sql, flags=re.IGNORECASE):
        if depth_at.get(match.start()) == 0:
            keyword = re.sub(r"\s+", " ", match.group(1).lower())
            found.append((match.start(), match.end(), keyword))
    return found


def _clause_span(sql: str, keyword: str) -> tuple[int, int] | None:
    """Span of the first top-level ``keyword`` clause body (up to the next keyword)."""
    keywords = _top_keywords(sql)
    for n, (_, end, kw) in enumerate(keywords):
        if kw == keyword:
            return end, keywords[n + 1][0] if n + 1 < len(keywords) else len(sql)
    return None


def _split_top_commas(text: str) -> list[str]:
    depth_at = dict(_scan(text))
    parts, last = [], 0
    for i, char in enumerate(text):
        if char == "," and depth_at.get(i) == 0:
            parts.append(text[last:i])
            last = i + 1
    parts.append(text[last:])
    return parts


# --- rewrites that should keep an exact match --------------------------------

def gold(row: GoldRow, rng: random.Random, rows: Sequence[GoldRow]) -> str:
    return row.sql


def reordered_select(row: GoldRow, rng: random.Random, rows: Sequence[GoldRow]) -> str:
    span = _clause_span(row.sql, "select")
    if span is None:
        return row.sql
    start, end = span
    body = row.sql[start:end]
    distinct = re.match(r"\s*distinct\b", body, flags=re.IGNORECASE)
    prefix = distinct.group(0) if distinct else ""
    items = _split_top_commas(body[len(prefix):])
    if len(items) < 2:
        return row.sql
    items = [item.strip() for item in items]
    items = items[1:] + items[:1]
    return row.sql[:start] + prefix + " " + " , ".join(items) + " " + row.sql[end:]


def reordered_where(row: GoldRow, rng: random.Random, rows: Sequence[GoldRow]) -> str:
    span = _clause_span(row.sql, "where")
    if span is None:
        return row.sql
    start, end = span
    body = row.sql[start:end]
    if re.search(r"\b(or|between)\b", body, flags=re.IGNORECASE):
        return row.sql
    depth_at = dict(_scan(body))
    cuts = [m for m in re.finditer(r"\band\b", body, flags=re.IGNORECASE)
            if depth_at.get(m.start()) == 0]
    if not cuts:
        return row.sql
    parts, last = [], 0
    for m in cuts:
        parts.append(body[last:m.start()].strip())
        last = m.end()
    parts.append(body[last:].strip())
    parts.reverse()
    return row.sql[:start] + " " + " AND ".join(parts) + " " + row.sql[end:]


def aliased(row: GoldRow, rng: random.Random, rows: Sequence[GoldRow]) -> str:
    """Rename T1, T2... aliases; give alias-free single-table queries an alias."""
    sql = row.sql
    if re.search(r"\bT\d\b", sql, flags=re.IGNORECASE):
        return re.sub(r"\b[Tt](\d)\b", r"alias\1", sql)
    keywords = _top_keywords(sql)
    if any(kw == "join" for _, _, kw in keywords) or sql.count("(") > sql.count("count("):
        return sql
    return re.sub(r"\bFROM\s+(\w+)", r"FROM \1 AS x0", sql, count=1, flags=re.IGNORECASE)


def wrong_values(row: GoldRow, rng: random.Random, rows: Sequence[GoldRow]) -> str:
    """Every string literal becomes 'zzz', every number in a condition changes."""
    sql = re.sub(r"'[^']*'|\"[^\"]*\"", "'zzz'", row.sql)
    return re.sub(r"([=<>]\s*)(\d+(\.\d+)?)\b",
                  lambda m: m.group(1) + str(int(float(m.group(2))) + 7), sql)


def extra_distinct(row: GoldRow, rng: random.Random, rows: Sequence[GoldRow]) -> str:
    if re.match(r"\s*select\s+distinct\b", row.sql, flags=re.IGNORECASE):
        return re.sub(r"^\s*select\s+distinct\b", "SELECT", row.sql, flags=re.IGNORECASE)
    return re.sub(r"^\s*select\b", "SELECT DISTINCT", row.sql, flags=re.IGNORECASE)


def lowercased(row: GoldRow, rng: random.Random, rows: Sequence[GoldRow]) -> str:
    """Lower-case everything outside string literals; collapse spacing."""
    pieces = re.split(r"('[^']*'|\"[^\"]*\")", row.sql)
    text = "".join(p if p[:1] in "'\"" else p.lower() for p in pieces)
    return re.sub(r"\s+", " ", text).strip()


def swapped_join(row: GoldRow, rng: random.Random, rows: Sequence[GoldRow]) -> str:
    """``FROM a AS T1 JOIN b AS T2 ON x = y`` -> ``FROM b AS T2 JOIN a AS T1 ON y = x``."""
    pattern = re.compile(
        r"FROM\s+(\w+\s+AS\s+\w+)\s+JOIN\s+(\w+\s+AS\s+\w+)\s+ON\s+([\w.]+)\s*=\s*([\w.]+)",
        flags=re.IGNORECASE)
    return pattern.sub(lambda m: f"FROM {m.group(2)} JOIN {m.group(1)} ON {m.group(4)} = {m.group(3)}",
                       row.sql, count=1)


def foreign_key_swap(row: GoldRow, rng: random.Random, rows: Sequence[GoldRow]) -> str:
    """Select the referenced column instead of the foreign-key column (T2.fk -> T1.pk)."""
    entry = row.entry
    names = entry["column_names_original"]
    tables = [t.lower() for t in entry["table_names_original"]]
    aliases = {a.lower(): t.lower() for t, a in re.findall(r"(\w+)\s+AS\s+(\w+)", row.sql, re.I)}
    by_table = {}
    for alias, table in aliases.items():
        by_table.setdefault(table, alias)
    refs = {}
    for a, b in entry["foreign_keys"]:
        for x, y in ((a, b), (b, a)):
            refs[(tables[names[x][0]], names[x][1].lower())] = (tables[names[y][0]], names[y][1])
    span = _clause_span(row.sql, "select")
    if span is None:
        return row.sql
    start, end = span

    def swap(match: re.Match[str]) -> str:
        alias, column = match.group(1), match.group(2)
        target = refs.get((aliases.get(alias.lower(), ""), column.lower()))
        if target and target[0] in by_table:
            return f"{by_table[target[0]].upper()}.{target[1]}"
        return match.group(0)

    body = re.sub(r"\b(\w+)\.(\w+)\b", swap, row.sql[start:end])
    return row.sql[:start] + body + row.sql[end:]


def sqlglot_rewrite(row: GoldRow, rng: random.Random, rows: Sequence[GoldRow]) -> str:
    """What a SQL formatter makes of the gold (quoting, spacing, keyword case)."""
    try:
        return sqlglot.transpile(row.sql, read="sqlite", write="sqlite")[0]
    except sqlglot.errors.SqlglotError:
        return row.sql


# --- rewrites that should break an exact match --------------------------------

def _columns_of(entry: dict[str, Any], table: str) -> list[str]:
    tables = [t.lower() for t in entry["table_names_original"]]
    if table.lower() not in tables:
        return []
    index = tables.index(table.lower())
    return [name for t, name in entry["column_names_original"] if t == index]


def wrong_column(row: GoldRow, rng: random.Random, rows: Sequence[GoldRow]) -> str:
    """Replace the first bare or qualified column of the SELECT list by another one."""
    match = re.search(r"\bFROM\s+(\w+)", row.sql, flags=re.IGNORECASE)
    span = _clause_span(row.sql, "select")
    if not match or span is None:
        return row.sql
    columns = _columns_of(row.entry, match.group(1))
    start, end = span
    body = row.sql[start:end]
    word = re.search(r"(?<![\w.])((\w+)\.)?([A-Za-z_]\w*)\b(?!\s*\()", body)
    if not word or word.group(3).lower() in ("distinct",):
        return row.sql
    options = [c for c in columns if c.lower() != word.group(3).lower()]
    if not options:
        return row.sql
    new = (word.group(1) or "") + rng.choice(options)
    return row.sql[:start] + body[:word.start()] + new + body[word.end():] + row.sql[end:]


_AGGS = ("count", "max", "min", "avg", "sum")


def wrong_aggregate(row: GoldRow, rng: random.Random, rows: Sequence[GoldRow]) -> str:
    match = re.search(r"\b(count|max|min|avg|sum)\s*\(", row.sql, flags=re.IGNORECASE)
    if match:
        other = rng.choice([a for a in _AGGS if a != match.group(1).lower()])
        return row.sql[:match.start(1)] + other + row.sql[match.end(1):]
    span = _clause_span(row.sql, "select")
    if span is None:
        return row.sql
    start, end = span
    items = _split_top_commas(row.sql[start:end])
    items[0] = f" count({items[0].strip()}) "
    return row.sql[:start] + ",".join(items) + row.sql[end:]


def dropped_clause(row: GoldRow, rng: random.Random, rows: Sequence[GoldRow]) -> str:
    """Drop one top-level WHERE, GROUP BY, HAVING, ORDER BY or LIMIT clause."""
    keywords = _top_keywords(row.sql)
    candidates = [(n, kw) for n, (_, _, kw) in enumerate(keywords)
                  if kw in ("where", "group by", "having", "order by", "limit")]
    if not candidates:
        return row.sql
    n, _ = rng.choice(candidates)
    start = keywords[n][0]
    end = keywords[n + 1][0] if n + 1 < len(keywords) else len(row.sql)
    return (row.sql[:start] + row.sql[end:]).strip()


def flipped_order(row: GoldRow, rng: random.Random, rows: Sequence[GoldRow]) -> str:
    if re.search(r"\bdesc\b", row.sql, flags=re.IGNORECASE):
        return re.sub(r"\bdesc\b", "ASC", row.sql, flags=re.IGNORECASE)
    if re.search(r"\border\s+by\b", row.sql, flags=re.IGNORECASE):
        return re.sub(r"(\border\s+by\s+[^ ]+(\s*\([^)]*\))?)", r"\1 DESC", row.sql, count=1,
                      flags=re.IGNORECASE)
    return row.sql + " ORDER BY 1"


def limit_changed(row: GoldRow, rng: random.Random, rows: Sequence[GoldRow]) -> str:
    """Change the LIMIT value (Spider ignores it), or add/remove a LIMIT."""
    if re.search(r"\blimit\s+\d+", row.sql, flags=re.IGNORECASE):
        if rng.random() < 0.5:
            return re.sub(r"\blimit\s+\d+", "LIMIT 5", row.sql, flags=re.IGNORECASE)
        return re.sub(r"\s*\blimit\s+\d+", "", row.sql, flags=re.IGNORECASE)
    return row.sql + " LIMIT 3"


def other_example_same_db(row: GoldRow, rng: random.Random, rows: Sequence[GoldRow]) -> str:
    """The gold of another question on the same database: a realistic wrong answer."""
    same = [r.sql for r in rows if r.db_id == row.db_id and r.sql != row.sql]
    return rng.choice(same) if same else row.sql


def other_example_any_db(row: GoldRow, rng: random.Random, rows: Sequence[GoldRow]) -> str:
    return rng.choice(rows).sql


def broken(row: GoldRow, rng: random.Random, rows: Sequence[GoldRow]) -> str:
    """Syntax errors and unknown names, the way generation goes wrong."""
    sql = row.sql
    choice = rng.randrange(8)
    if choice == 0:  # truncated generation
        return sql[: max(6, len(sql) * rng.randint(3, 9) // 10)].rstrip() or "SELECT"
    if choice == 1:  # misspelt table
        return re.sub(r"\bFROM\s+(\w+)", r"FROM \1s", sql, count=1, flags=re.IGNORECASE)
    if choice == 2:  # misspelt column
        return re.sub(r"(\w+)\s*(=|>|<)", r"\1_x \2", sql, count=1)
    if choice == 3:  # unbalanced parenthesis
        return sql.replace(")", "", 1) if ")" in sql else sql + " )"
    if choice == 4:  # prose instead of SQL
        return "I cannot answer that question ."
    if choice == 5:  # dropped FROM keyword
        return re.sub(r"\bFROM\b", "", sql, count=1, flags=re.IGNORECASE)
    if choice == 6:  # unterminated string
        return sql + " AND name = 'abc"
    return sql + " garbage tokens"


def llm_style(row: GoldRow, rng: random.Random, rows: Sequence[GoldRow]) -> str:
    """Habits of chat models: AS aliases for outputs, <> , LEFT JOIN, no-space '='."""
    sql = row.sql
    choice = rng.randrange(6)
    if choice == 0:
        return re.sub(r"\b(count|max|min|avg|sum)\s*\(([^)]*)\)", r"\1(\2) AS result", sql,
                      count=1, flags=re.IGNORECASE)
    if choice == 1:
        return re.sub(r"!=", "<>", sql)
    if choice == 2:
        return re.sub(r"\bJOIN\b", "LEFT JOIN", sql, count=1, flags=re.IGNORECASE)
    if choice == 3:
        return re.sub(r"\s*(=|,)\s*", r"\1", sql)
    if choice == 4:
        return sql + ";"
    return re.sub(r"\s+", " ", sql).strip()


def nested_changed(row: GoldRow, rng: random.Random, rows: Sequence[GoldRow]) -> str:
    """Change the inside of a nested query (its aggregate or its direction)."""
    match = re.search(r"\(\s*SELECT\b", row.sql, flags=re.IGNORECASE)
    if not match:
        return row.sql
    inner = row.sql[match.start():]
    changed = re.sub(r"\b(max|min)\s*\(", lambda m: ("min(" if m.group(1).lower() == "max"
                                                   else "max("), inner, count=1,
                     flags=re.IGNORECASE)
    if changed == inner:
        changed = re.sub(r"\bDESC\b", "ASC", inner, count=1, flags=re.IGNORECASE)
    if changed == inner:
        changed = re.sub(r"\b(count|avg)\s*\(", "sum(", inner, count=1, flags=re.IGNORECASE)
    if changed == inner:
        changed = re.sub(r"\bWHERE\b", "WHERE NOT", inner, count=1, flags=re.IGNORECASE)
    return row.sql[:match.start()] + changed


def group_by_reordered(row: GoldRow, rng: random.Random, rows: Sequence[GoldRow]) -> str:
    """Reverse a multi-column GROUP BY (Spider compares GROUP BY in order when grouping)."""
    span = _clause_span(row.sql, "group by")
    if span is None:
        return row.sql
    start, end = span
    items = [item.strip() for item in _split_top_commas(row.sql[start:end])]
    if len(items) < 2:
        return row.sql
    return row.sql[:start] + " " + " , ".join(reversed(items)) + " " + row.sql[end:]


def qualified_columns(row: GoldRow, rng: random.Random, rows: Sequence[GoldRow]) -> str:
    """Write bare columns of a single-table query as ``table.column``."""
    match = re.search(r"\bFROM\s+(\w+)\s*($|WHERE|GROUP|ORDER|LIMIT)", row.sql, flags=re.I)
    if not match or "(" in row.sql.replace("count(*)", ""):
        return row.sql
    table = match.group(1)
    columns = {c.lower() for c in _columns_of(row.entry, table)}
    pieces = re.split(r"('[^']*'|\"[^\"]*\")", row.sql)

    def qualify(m: re.Match[str]) -> str:
        word = m.group(0)
        return f"{table}.{word}" if word.lower() in columns else word

    return "".join(p if p[:1] in "'\"" else re.sub(r"(?<![\w.])\w+(?![\w.(])", qualify, p)
                   for p in pieces)


_FUZZ_WORDS = ("AND", "OR", "NOT", "DISTINCT", "(", ")", ",", "=", "AS", "JOIN", "ON", "*", "1",
               "'x'", "value", "LIMIT", "BY", "IN", "SELECT")


def token_fuzz(row: GoldRow, rng: random.Random, rows: Sequence[GoldRow]) -> str:
    """One random token edit: delete, duplicate, swap with the next, or insert a keyword."""
    tokens = row.sql.split()
    i = rng.randrange(len(tokens))
    op = rng.randrange(4)
    if op == 0 and len(tokens) > 1:
        del tokens[i]
    elif op == 1:
        tokens.insert(i, tokens[i])
    elif op == 2 and i + 1 < len(tokens):
        tokens[i], tokens[i + 1] = tokens[i + 1], tokens[i]
    else:
        tokens.insert(i, rng.choice(_FUZZ_WORDS))
    return " ".join(tokens)


_EDIT_WORDS = ("select", "from", "where", "group", "by", "order", "having", "limit", "join",
               "on", "as", "and", "or", "not", "in", "like", "between", "distinct", "count",
               "max", "avg", "(", ")", ",", "*", "=", ">", ">=", "!=", "-", "asc", "desc", "1",
               "2.5", "'x'", "T1", "T2", "union", "except")


def schema_token_edits(row: GoldRow, rng: random.Random, rows: Sequence[GoldRow]) -> str:
    """One to three random edits drawing on SQL words and the database's own names."""
    names = [name for _, name in row.entry["column_names_original"][1:]]
    vocab = [*_EDIT_WORDS, *names, *row.entry["table_names_original"],
             *(f"T{n}.{name}" for n in (1, 2) for name in names[:6])]
    tokens = row.sql.split()
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(tokens))
        op = rng.randrange(4)
        if op == 0 and len(tokens) > 1:
            del tokens[i]
        elif op == 1:
            tokens.insert(i, rng.choice(vocab))
        elif op == 2:
            tokens[i] = rng.choice(vocab)
        else:
            j = rng.randrange(len(tokens))
            tokens[i], tokens[j] = tokens[j], tokens[i]
    return " ".join(tokens)


SETS: dict[str, Rewrite] = {
    "gold": gold,
    "reordered_select": reordered_select,
    "reordered_where": reordered_where,
    "aliased": aliased,
    "wrong_values": wrong_values,
    "extra_distinct": extra_distinct,
    "lowercased": lowercased,
    "swapped_join": swapped_join,
    "foreign_key_swap": foreign_key_swap,
    "sqlglot_rewrite": sqlglot_rewrite,
    "wrong_column": wrong_column,
    "wrong_aggregate": wrong_aggregate,
    "dropped_clause": dropped_clause,
    "flipped_order": flipped_order,
    "limit_changed": limit_changed,
    "nested_changed": nested_changed,
    "other_example_same_db": other_example_same_db,
    "other_example_any_db": other_example_any_db,
    "broken": broken,
    "llm_style": llm_style,
    "group_by_reordered": group_by_reordered,
    "qualified_columns": qualified_columns,
    "token_fuzz": token_fuzz,
    "schema_token_edits": schema_token_edits,
}


def make_set(name: str, rows: Sequence[GoldRow], seed: int = 0) -> list[str]:
    """Predictions of set ``name`` for ``rows``, the same for the same seed."""
    rewrite = SETS[name]
    rng = random.Random(f"{seed}:{name}")
    out = []
    for row in rows:
        text = re.sub(r"[\t\r\n]+", " ", rewrite(row, rng, rows)).strip()
        out.append(text or "SELECT")
    return out
