"""Generic question/SQL templates, driven by the table descriptions.

A template is a generator function that reads the database through a
:class:`Context` (so every slot value exists in the data) and yields
:class:`Draft` question/SQL pairs. It picks tables and columns by role
("category", "measure", ...) and words its questions with the nouns of
:mod:`t2s.data.sample.schema`, choosing one of several paraphrases per draft.

The SQL follows Spider's gold style: upper-case keywords, ``T1``/``T2`` aliases
in joins, string literals in double quotes, no trailing semicolon.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from t2s.data.sample.schema import ColumnSpec, DatabaseSpec, TableSpec, pluralize

# Query shapes, in the order reports list them. Each template has exactly one.
SHAPES: tuple[str, ...] = (
    "select", "filter", "aggregate", "join", "group", "order", "nested", "set", "distinct",
)

# Draws per (template, table/column) combination: enough distinct slot values
# for the quota sampler to choose from without one template swamping the pool.
DRAWS = 3

# Rows of a table read at most to draw slot values from (the first ones, in
# table order). The sample databases hold at most a few hundred rows, so they
# are read whole as before; on a user's 1e6-row table ``t2s synth`` sorted every
# column in full for each template (87 s of 256 s for 50 pairs). Quantiles and
# category values of 10,000 rows are as good a source of question values.
SAMPLE_ROWS = 10_000


@dataclass(frozen=True)
class Draft:
    """A question/SQL pair before validation.

    Attributes:
        question: Natural-language question.
        query: Gold SQL.
        tie_check: For ``ORDER BY ... LIMIT k`` queries, SQL returning the
            ordering key of the first ``k + 1`` rows; the draft is dropped when
            rows ``k`` and ``k + 1`` tie, because the gold answer would then be
            an arbitrary pick among equals.
        limit: The ``k`` of ``tie_check``.
    """

    question: str
    query: str
    tie_check: str | None = None
    limit: int = 0


class Context:
    """Read access to one database plus the seeded random source and phrasing helpers."""

    def __init__(self, spec: DatabaseSpec, connection: sqlite3.Connection,
                 rng: random.Random) -> None:
        self.spec = spec
        self.connection = connection
        self.rng = rng

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """Run ``sql`` and return all rows."""
        return self.connection.execute(sql).fetchall()

    def values(self, table: str, column: str) -> list[Any]:
        """Non-null values of ``table.column`` in its first :data:`SAMPLE_ROWS` rows,
        sorted (duplicates kept)."""
        return [r[0] for r in self.rows(
            f"SELECT {column} FROM {_first_rows(table, column)} WHERE {column} IS NOT NULL "
            f"ORDER BY {column}")]

    def distinct(self, table: str, column: str) -> list[Any]:
        """Distinct non-null values of ``table.column`` in its first :data:`SAMPLE_ROWS`
        rows, sorted."""
        return [r[0] for r in self.rows(
            f"SELECT DISTINCT {column} FROM {_first_rows(table, column)} WHERE {column} IS NOT "
            f"NULL ORDER BY {column}")]

    def sample(self, items: Sequence[Any], k: int = DRAWS) -> list[Any]:
        """Up to ``k`` distinct items drawn from ``items``."""
        return self.rng.sample(list(items), min(k, len(items)))

    def threshold(self, table: str, column: ColumnSpec, lo: float = 0.3,
                  hi: float = 0.7) -> int | float:
        """A rounded value between the ``lo`` and ``hi`` quantiles of a column.

        Rounding gives questions a human number ("above 4800", not "above
        4754"); drawing between the 30th and 70th percentiles keeps both
        "above" and "below" questions non-empty.
        """
        values = self.values(table, column.name)
        index = self.rng.randint(int(lo * (len(values) - 1)), int(hi * (len(values) - 1)))
        return nice_number(values[index], integer=column.sql_type == "INTEGER")

    def say(self, options: Sequence[str], **slots: Any) -> str:
        """One of ``options``, formatted with ``slots``, first letter upper-case."""
        text = self.rng.choice(list(options)).format(**slots)
        return text[0].upper() + text[1:]

    def cond_eq(self, column: ColumnSpec, value: Any) -> str:
        """A phrase selecting rows where ``column`` equals ``value``."""
        if column.cond:
            return column.cond.format(v=value)
        return self.rng.choice(("whose {p} is {v}", "with {p} {v}")).format(
            p=column.phrase, v=value)

    def cond_cmp(self, column: ColumnSpec, op: str, value: Any) -> str:
        """A phrase selecting rows where ``column <op> value`` (``op`` is '>' or '<')."""
        p, v = column.phrase, fmt(value)
        if column.role in ("year", "date"):
            options = ((f"with {p} after {v}", f"whose {p} is later than {v}") if op == ">"
                       else (f"with {p} before {v}", f"whose {p} is earlier than {v}"))
        elif op == ">":
            options = (f"whose {p} is greater than {v}", f"with {p} above {v}",
                       f"with {p} over {v}")
        else:
            options = (f"whose {p} is less than {v}", f"with {p} below {v}",
                       f"with {p} under {v}")
        return self.rng.choice(options)


def _first_rows(table: str, column: str) -> str:
    """A subquery of ``column`` over the first :data:`SAMPLE_ROWS` rows of ``table``:
    the LIMIT stops the scan there, NULLs included, however large the table. (Named:
    PostgreSQL before 16 refuses a subquery in FROM without an alias.)"""
    return f"(SELECT {column} FROM {table} LIMIT {SAMPLE_ROWS}) AS first_rows"


def nice_number(value: Any, integer: bool) -> int | float:
    """Round ``value`` to two significant digits (or one decimal below 10)."""
    number = float(value)
    if abs(number) >= 100:
        digits = len(str(int(abs(number)))) - 2
        return int(round(number, -digits))
    if abs(number) >= 10 or integer:
        return int(round(number))
    return round(number, 1)


def fmt(value: Any) -> str:
    """A value as both the question and the SQL write it (no quotes)."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.2f}".rstrip("0")
    return str(value)


def lit(value: Any) -> str:
    """A SQL literal in Spider's style: strings in double quotes.

    Raises:
        ValueError: if a string contains a double quote (it could not be quoted).
    """
    if isinstance(value, str):
        if '"' in value:
            raise ValueError(f"cannot quote {value!r}")
        return f'"{value}"'
    return fmt(value)


def display(table: TableSpec, avoid: ColumnSpec | None = None) -> ColumnSpec:
    """The column that best stands for a row: its label, else a date, measure or
    category; never ``avoid`` (the column a question filters or sorts on).

    Raises:
        ValueError: if the table has no such column.
    """
    for role in ("label", "date", "measure", "category", "year"):
        for column in table.by_role(role):
            if column is not avoid:
                return column
    raise ValueError(f"table {table.name} has no column to display")


def article(noun: str) -> str:
    """``noun`` with "a" or "an" in front ("an appointment", "a venue")."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def children(child: TableSpec, fk: ColumnSpec, parent: TableSpec) -> str:
    """How a parent's question names its children: "concerts", or "games hosted by
    them" when the child refers to the parent twice (home and away team)."""
    twice = sum(1 for c in child.by_role("fk") if c.references and c.references[0] == parent.name)
    return f"{child.plural} {fk.via} them" if twice > 1 else child.plural


def rel(column: ColumnSpec, parent: TableSpec) -> str:
    """The noun a child row uses for the parent behind foreign key ``column``."""
    return column.rel or parent.noun


TemplateFn = Callable[[Context], Iterator[Draft]]
# (template name, shape, function), in registration order.
GENERIC: list[tuple[str, str, TemplateFn]] = []


def template(shape: str, registry: list[tuple[str, str, TemplateFn]] = GENERIC
             ) -> Callable[[TemplateFn], TemplateFn]:
    """Register a template function under ``shape`` in ``registry``.

    Raises:
        ValueError: if ``shape`` is not one of :data:`SHAPES`.
    """
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}")

    def register(fn: TemplateFn) -> TemplateFn:
        registry.append((fn.__name__, shape, fn))
        return fn

    return register


def _labelled(ctx: Context) -> list[TableSpec]:
    return [t for t in ctx.spec.tables if t.label is not None]


def _with(ctx: Context, role: str) -> list[tuple[TableSpec, ColumnSpec]]:
    return [(t, c) for t in ctx.spec.tables for c in t.by_role(role)]


def _shown(ctx: Context, role: str) -> list[tuple[TableSpec, ColumnSpec, ColumnSpec]]:
    """(table, column of ``role``, another column to show) where the table has one."""
    found = []
    for t, c in _with(ctx, role):
        try:
            found.append((t, c, display(t, avoid=c)))
        except ValueError:
            continue
    return found


def _top_tie(select_key: str, rest: str, k: int) -> str:
    return f"SELECT {select_key} {rest} LIMIT {k + 1}"


# --------------------------------------------------------------------- select

@template("select")
def select_label(ctx: Context) -> Iterator[Draft]:
    """``SELECT label FROM t``."""
    for t in _labelled(ctx):
        label = t.label
        assert label is not None
        q = ctx.say(("List the {lp} of all {plural}.", "What are the {lp} of all {plural}?",
                     "Show the {lp} of every {noun}.", "Give me the {lp} of each {noun}."),
                    lp=label.plural, plural=t.plural, noun=t.noun)
        yield Draft(q, f"SELECT {label.name} FROM {t.name}")


@template("select")
def select_two(ctx: Context) -> Iterator[Draft]:
    """``SELECT a, b FROM t``."""
    for t in ctx.spec.tables:
        first = display(t)
        others = [c for c in t.by_role("category", "measure", "year", "date") if c is not first]
        for other in ctx.sample(others, 2):
            q = ctx.say(("List the {a} and {b} of all {plural}.",
                         "What are the {a} and {b} of each {noun}?",
                         "Show every {noun}'s {a} and {b}.",
                         "For each {noun}, give its {a} and {b}."),
                        a=first.phrase, b=other.phrase, plural=t.plural, noun=t.noun)
            yield Draft(q, f"SELECT {first.name}, {other.name} FROM {t.name}")


@template("select")
def select_star(ctx: Context) -> Iterator[Draft]:
    """``SELECT * FROM t``."""
    for t in ctx.spec.tables:
        q = ctx.say(("Show all information about the {plural}.",
                     "Give every recorded detail of all {plural}.",
                     "List everything stored about each {noun}."), plural=t.plural, noun=t.noun)
        yield Draft(q, f"SELECT * FROM {t.name}")


# --------------------------------------------------------------------- filter

_FILTER_QUESTIONS = ("What are the {op} of {plural} {cond}?", "List the {op} of all {plural} {cond}.",
                     "Find the {o} of every {noun} {cond}.", "Show the {op} of the {plural} {cond}.")


def _filter_draft(ctx: Context, t: TableSpec, cond: str, where: str,
                  on: ColumnSpec | None = None) -> Draft:
    try:
        out = display(t, avoid=on)
    except ValueError:  # nothing else to show (order_item: only a quantity): all columns
        q = ctx.say(("Show all {plural} {cond}.", "List every {noun} {cond}."),
                    plural=t.plural, noun=t.noun, cond=cond)
        return Draft(q, f"SELECT * FROM {t.name} WHERE {where}")
    q = ctx.say(_FILTER_QUESTIONS, op=out.plural, o=out.phrase, plural=t.plural, noun=t.noun,
                cond=cond)
    return Draft(q, f"SELECT {out.name} FROM {t.name} WHERE {where}")


@template("filter")
def filter_eq(ctx: Context) -> Iterator[Draft]:
    """``SELECT x FROM t WHERE category = "v"``."""
    for t, c in _with(ctx, "category"):
        for v in ctx.sample(ctx.distinct(t.name, c.name)):
            yield _filter_draft(ctx, t, ctx.cond_eq(c, v), f"{c.name} = {lit(v)}", c)


@template("filter")
def filter_greater(ctx: Context) -> Iterator[Draft]:
    """``SELECT x FROM t WHERE measure > v``."""
    for t, c in _with(ctx, "measure"):
        v = ctx.threshold(t.name, c)
        yield _filter_draft(ctx, t, ctx.cond_cmp(c, ">", v), f"{c.name} > {lit(v)}", c)


@template("filter")
def filter_less(ctx: Context) -> Iterator[Draft]:
    """``SELECT x, measure FROM t WHERE measure < v``."""
    for t, c, out in _shown(ctx, "measure"):
        v = ctx.threshold(t.name, c)
        q = ctx.say(("List the {o} and {p} of {plural} {cond}.",
                     "What are the {o} and {p} of every {noun} {cond}?"),
                    o=out.phrase, p=c.phrase, plural=t.plural, noun=t.noun,
                    cond=ctx.cond_cmp(c, "<", v))
        yield Draft(q, f"SELECT {out.name}, {c.name} FROM {t.name} WHERE {c.name} < {lit(v)}")


@template("filter")
def filter_time(ctx: Context) -> Iterator[Draft]:
    """``SELECT x FROM t WHERE date_or_year > / < v``."""
    for t, c in _with(ctx, "year") + _with(ctx, "date"):
        v: Any = ctx.rng.choice(ctx.values(t.name, c.name)[5:-5])
        if c.role == "date":
            v = v[:8] + "01"  # the first of a month reads like a person's question
        op = ctx.rng.choice((">", "<"))
        yield _filter_draft(ctx, t, ctx.cond_cmp(c, op, v), f"{c.name} {op} {lit(v)}", c)


def _label_words(ctx: Context, t: TableSpec, column: ColumnSpec) -> list[str]:
    """Words of ``column`` values that some but not all rows contain."""
    labels = ctx.values(t.name, column.name)
    words = sorted({w for label in labels for w in label.split() if len(w) >= 4 and w.isalpha()})
    return [w for w in words
            if 0 < sum(w.lower() in label.lower() for label in labels) < len(labels)]


@template("filter")
def filter_like(ctx: Context) -> Iterator[Draft]:
    """``SELECT label FROM t WHERE label LIKE "%word%"``."""
    for t in _labelled(ctx):
        label = t.label
        assert label is not None
        for word in ctx.sample(_label_words(ctx, t, label), 2):
            q = ctx.say(('Which {plural} have a {l} containing "{w}"?',
                         "List the {lp} of {plural} whose {l} contains the word {w}.",
                         'Find all {plural} with "{w}" in their {l}.'),
                        plural=t.plural, l=label.phrase, lp=label.plural, w=word)
            yield Draft(q, f'SELECT {label.name} FROM {t.name} WHERE {label.name} LIKE "%{word}%"')


@template("filter")
def filter_prefix(ctx: Context) -> Iterator[Draft]:
    """``SELECT label FROM t WHERE label LIKE "word%"``."""
    for t in _labelled(ctx):
        label = t.label
        assert label is not None
        firsts = sorted({v.split()[0] for v in ctx.values(t.name, label.name)})
        for word in ctx.sample([w for w in firsts if w.isalpha()], 2):
            q = ctx.say(('Which {plural} have a {l} starting with "{w}"?',
                         "List the {lp} of {plural} whose {l} begins with {w}."),
                        plural=t.plural, l=label.phrase, lp=label.plural, w=word)
            yield Draft(q, f'SELECT {label.name} FROM {t.name} WHERE {label.name} LIKE "{word}%"')


@template("filter")
def filter_between(ctx: Context) -> Iterator[Draft]:
    """``SELECT x FROM t WHERE measure BETWEEN a AND b``."""
    for t, c, out in _shown(ctx, "measure"):
        low = ctx.threshold(t.name, c, 0.1, 0.4)
        high = ctx.threshold(t.name, c, 0.6, 0.9)
        if low >= high:
            continue
        q = ctx.say(("List the {op} of {plural} whose {p} is between {a} and {b}.",
                     "Which {plural} have {p} between {a} and {b}? Give their {op}.",
                     "Find the {o} of each {noun} with {p} from {a} to {b}."),
                    op=out.plural, o=out.phrase, plural=t.plural, noun=t.noun, p=c.phrase,
                    a=fmt(low), b=fmt(high))
        yield Draft(q, f"SELECT {out.name} FROM {t.name} "
                       f"WHERE {c.name} BETWEEN {lit(low)} AND {lit(high)}")


@template("filter")
def filter_in(ctx: Context) -> Iterator[Draft]:
    """``SELECT x FROM t WHERE category = "a" OR category = "b"``.

    Not ``IN ("a", "b")``: Spider's grammar (the official parser and ours) has
    no IN-list of literals, so such a gold query could not be scored by exact
    match.
    """
    for t, c, out in _shown(ctx, "category"):
        choices = ctx.distinct(t.name, c.name)
        if len(choices) < 3:
            continue
        a, b = sorted(ctx.sample(choices, 2))
        q = ctx.say(("List the {op} of {plural} whose {p} is either {a} or {b}.",
                     "Which {plural} have {p} {a} or {b}? Show their {op}.",
                     "Find the {o} of every {noun} whose {p} is {a} or {b}."),
                    op=out.plural, o=out.phrase, plural=t.plural, noun=t.noun, p=c.phrase,
                    a=a, b=b)
        yield Draft(q, f"SELECT {out.name} FROM {t.name} "
                       f"WHERE {c.name} = {lit(a)} OR {c.name} = {lit(b)}")


@template("filter")
def filter_and(ctx: Context) -> Iterator[Draft]:
    """``SELECT x FROM t WHERE category = "v" AND measure > n``."""
    for t in ctx.spec.tables:
        for c in t.by_role("category"):
            for m in ctx.sample(t.by_role("measure"), 1):
                v = ctx.rng.choice(ctx.distinct(t.name, c.name))
                inside = ctx.rows(f"SELECT {m.name} FROM {t.name} WHERE {c.name} = {lit(v)} "
                                  f"ORDER BY {m.name}")
                x = nice_number(inside[len(inside) // 3][0], m.sql_type == "INTEGER")
                yield _filter_draft(ctx, t, f"{ctx.cond_eq(c, v)} and {ctx.cond_cmp(m, '>', x)}",
                                    f"{c.name} = {lit(v)} AND {m.name} > {lit(x)}")


# ------------------------------------------------------------------ aggregate

@template("aggregate")
def count_all(ctx: Context) -> Iterator[Draft]:
    """``SELECT COUNT(*) FROM t``."""
    for t in ctx.spec.tables:
        q = ctx.say(("How many {plural} are there?", "Count the number of {plural}.",
                     "What is the total number of {plural}?", "How many {plural} are recorded?"),
                    plural=t.plural)
        yield Draft(q, f"SELECT COUNT(*) FROM {t.name}")


@template("aggregate")
def count_where(ctx: Context) -> Iterator[Draft]:
    """``SELECT COUNT(*) FROM t WHERE category = "v" (or measure > n)``."""
    for t, c in _with(ctx, "category"):
        for v in ctx.sample(ctx.distinct(t.name, c.name), 2):
            q = ctx.say(("How many {plural} {cond} are there?", "Count the {plural} {cond}.",
                         "What is the number of {plural} {cond}?"),
                        plural=t.plural, cond=ctx.cond_eq(c, v))
            yield Draft(q, f"SELECT COUNT(*) FROM {t.name} WHERE {c.name} = {lit(v)}")
    for t, c in _with(ctx, "measure"):
        v = ctx.threshold(t.name, c)
        q = ctx.say(("How many {plural} {cond} are there?", "Count the {plural} {cond}."),
                    plural=t.plural, cond=ctx.cond_cmp(c, ">", v))
        yield Draft(q, f"SELECT COUNT(*) FROM {t.name} WHERE {c.name} > {lit(v)}")


_STAT_QUESTIONS: dict[str, tuple[str, ...]] = {
    "AVG": ("What is the average {p} of all {plural}?", "Find the mean {p} over all {plural}.",
            "What is the average {p} of the {plural}?"),
    "MAX": ("What is the highest {p} of any {noun}?", "What is the maximum {p} among {plural}?"),
    "MIN": ("What is the lowest {p} of any {noun}?", "Find the minimum {p} among all {plural}."),
    "SUM": ("What is the total {p} of all {plural}?", "Find the sum of the {p} over all {plural}."),
}


@template("aggregate")
def stat_all(ctx: Context) -> Iterator[Draft]:
    """``SELECT AVG|MAX|MIN|SUM(measure) FROM t``."""
    for t, c in _with(ctx, "measure"):
        functions = ["AVG", "MAX", "MIN"] + (["SUM"] if c.additive else [])
        for fn in ctx.sample(functions, 2):
            q = ctx.say(_STAT_QUESTIONS[fn], p=c.phrase, plural=t.plural, noun=t.noun)
            yield Draft(q, f"SELECT {fn}({c.name}) FROM {t.name}")


@template("aggregate")
def stat_minmax(ctx: Context) -> Iterator[Draft]:
    """``SELECT MAX(measure), MIN(measure) FROM t``."""
    for t, c in _with(ctx, "measure"):
        q = ctx.say(("What are the maximum and minimum {p} of {plural}?",
                     "Give the largest and smallest {p} among all {plural}."),
                    p=c.phrase, plural=t.plural)
        yield Draft(q, f"SELECT MAX({c.name}), MIN({c.name}) FROM {t.name}")


@template("aggregate")
def stat_where(ctx: Context) -> Iterator[Draft]:
    """``SELECT AVG|MAX|MIN(measure) FROM t WHERE category = "v"``."""
    for t in ctx.spec.tables:
        for c in t.by_role("category"):
            for m in ctx.sample(t.by_role("measure"), 1):
                v = ctx.rng.choice(ctx.distinct(t.name, c.name))
                fn = ctx.rng.choice(("AVG", "MAX", "MIN"))
                word = {"AVG": "average", "MAX": "highest", "MIN": "lowest"}[fn]
                q = ctx.say(("What is the {w} {p} of {plural} {cond}?",
                             "Find the {w} {p} among {plural} {cond}."),
                            w=word, p=m.phrase, plural=t.plural, cond=ctx.cond_eq(c, v))
                yield Draft(q, f"SELECT {fn}({m.name}) FROM {t.name} WHERE {c.name} = {lit(v)}")


# ----------------------------------------------------------------------- join

def _join(child: TableSpec, fk: ColumnSpec, parent: TableSpec,
          aliases: tuple[str, str] = ("T1", "T2")) -> str:
    c, p = aliases
    return (f"FROM {child.name} AS {c} JOIN {parent.name} AS {p} "
            f"ON {c}.{fk.name} = {p}.{parent.primary_key.name}")


def _labelled_edges(ctx: Context) -> list[tuple[TableSpec, ColumnSpec, TableSpec]]:
    return [(c, fk, p) for c, fk, p in ctx.spec.foreign_keys() if p.label is not None]


@template("join")
def join_pair(ctx: Context) -> Iterator[Draft]:
    """``SELECT T1.x, T2.label FROM child AS T1 JOIN parent AS T2 ON ...``."""
    for child, fk, parent in _labelled_edges(ctx):
        x, label, r = display(child), parent.label, rel(fk, parent)
        assert label is not None
        q = ctx.say(("List each {cn}'s {x} together with the {l} of its {r}.",
                     "For every {cn}, show its {x} and the {l} of its {r}.",
                     "What are the {xp} of all {cp} and the {lp} of their {rp}?"),
                    cn=child.noun, cp=child.plural, x=x.phrase, xp=x.plural, l=label.phrase,
                    lp=label.plural, r=r, rp=pluralize(r))
        yield Draft(q, f"SELECT T1.{x.name}, T2.{label.name} {_join(child, fk, parent)}")


@template("join")
def join_parent_label(ctx: Context) -> Iterator[Draft]:
    """``SELECT T1.x FROM child AS T1 JOIN parent AS T2 ON ... WHERE T2.label = "v"``."""
    for child, fk, parent in _labelled_edges(ctx):
        label, x = parent.label, display(child)
        assert label is not None
        used = ctx.rows(f"SELECT DISTINCT T2.{label.name} {_join(child, fk, parent)} "
                        f"ORDER BY T2.{label.name}")
        for (v,) in ctx.sample(used, 2):
            q = ctx.say(("What are the {xp} of the {cp} {via} {v}?",
                         "List the {x} of every {cn} {via} {v}.",
                         "Show the {xp} of {cp} {via} the {pn} {v}."),
                        xp=x.plural, x=x.phrase, cp=child.plural, cn=child.noun, via=fk.via,
                        v=v, pn=parent.noun)
            yield Draft(q, f"SELECT T1.{x.name} {_join(child, fk, parent)} "
                           f"WHERE T2.{label.name} = {lit(v)}")


@template("join")
def join_parent_category(ctx: Context) -> Iterator[Draft]:
    """``SELECT T1.x FROM child AS T1 JOIN parent AS T2 ON ... WHERE T2.category = "v"``."""
    for child, fk, parent in ctx.spec.foreign_keys():
        x = display(child)
        for c in ctx.sample(parent.by_role("category"), 1):
            v = ctx.rng.choice(ctx.distinct(parent.name, c.name))
            q = ctx.say(("List the {xp} of {cp} {via} {pp} {cond}.",
                         "What are the {xp} of all {cp} {via} {pp} {cond}?"),
                        xp=x.plural, cp=child.plural, via=fk.via, pp=parent.plural,
                        cond=ctx.cond_eq(c, v))
            yield Draft(q, f"SELECT T1.{x.name} {_join(child, fk, parent)} "
                           f"WHERE T2.{c.name} = {lit(v)}")


@template("join")
def join_child_measure(ctx: Context) -> Iterator[Draft]:
    """``SELECT DISTINCT T2.label FROM child AS T1 JOIN parent AS T2 ON ... WHERE T1.measure > n``."""
    for child, fk, parent in _labelled_edges(ctx):
        label = parent.label
        assert label is not None
        for m in ctx.sample(child.by_role("measure"), 1):
            v = ctx.threshold(child.name, m, 0.6, 0.9)
            q = ctx.say(("Which {pp} have {cp} {cond}? List their {lp} without duplicates.",
                         "Give the distinct {lp} of {pp} that have {cp} {cond}."),
                        pp=parent.plural, cp=children(child, fk, parent), lp=label.plural,
                        cond=ctx.cond_cmp(m, ">", v))
            yield Draft(q, f"SELECT DISTINCT T2.{label.name} {_join(child, fk, parent)} "
                           f"WHERE T1.{m.name} > {lit(v)}")


@template("join")
def join_three(ctx: Context) -> Iterator[Draft]:
    """Two parents through a child with foreign keys to both (a bridge table)."""
    for child in ctx.spec.tables:
        edges = [(fk, ctx.spec.table(fk.references[0])) for fk in child.by_role("fk")
                 if fk.references is not None]
        for (fk1, p1), (fk2, p2) in ((a, b) for a in edges for b in edges if a is not b):
            if p1.label is None or p2.label is None:
                continue
            l1, l2 = p1.label, p2.label
            sql_from = (f"FROM {p1.name} AS T1 JOIN {child.name} AS T2 "
                        f"ON T1.{p1.primary_key.name} = T2.{fk1.name} "
                        f"JOIN {p2.name} AS T3 ON T2.{fk2.name} = T3.{p2.primary_key.name}")
            used = ctx.rows(f"SELECT DISTINCT T1.{l1.name} {sql_from} ORDER BY T1.{l1.name}")
            for (v,) in ctx.sample(used, 2):
                r2 = rel(fk2, p2)
                q = ctx.say(("List the {l2p} of the {r2p} of all {cp} {via} {v}.",
                             "For the {cp} {via} {v}, what are the {l2p} of their {r2p}?",
                             "Show the {l2} of the {r2} for each {cn} {via} {v}."),
                            l2p=l2.plural, l2=l2.phrase, r2p=pluralize(r2), r2=r2,
                            cp=child.plural, cn=child.noun, via=fk1.via, v=v)
                yield Draft(q, f"SELECT T3.{l2.name} {sql_from} WHERE T1.{l1.name} = {lit(v)}")


# ---------------------------------------------------------------------- group

@template("group")
def group_count(ctx: Context) -> Iterator[Draft]:
    """``SELECT category, COUNT(*) FROM t GROUP BY category``."""
    for t, c in _with(ctx, "category"):
        q = ctx.say(("How many {plural} are there for each {p}?", "Count the {plural} for each {p}.",
                     "For each {p}, how many {plural} are there?",
                     "Show each {p} and the number of {plural} with it."),
                    plural=t.plural, p=c.phrase)
        yield Draft(q, f"SELECT {c.name}, COUNT(*) FROM {t.name} GROUP BY {c.name}")


@template("group")
def group_stat(ctx: Context) -> Iterator[Draft]:
    """``SELECT category, AVG|MAX|MIN(measure) FROM t GROUP BY category``."""
    for t in ctx.spec.tables:
        for c in t.by_role("category"):
            for m in ctx.sample(t.by_role("measure"), 1):
                fn = ctx.rng.choice(("AVG", "AVG", "MAX", "MIN"))
                word = {"AVG": "average", "MAX": "highest", "MIN": "lowest"}[fn]
                q = ctx.say(("What is the {w} {m} of {plural} for each {p}?",
                             "For each {p}, find the {w} {m} of the {plural}.",
                             "Show every {p} with the {w} {m} of its {plural}."),
                            w=word, m=m.phrase, plural=t.plural, p=c.phrase)
                yield Draft(q, f"SELECT {c.name}, {fn}({m.name}) FROM {t.name} GROUP BY {c.name}")


def _middle_count(counts: Sequence[int]) -> int | None:
    """A count that some groups exceed and some do not, or None."""
    ordered = sorted(counts)
    n = ordered[len(ordered) // 2]
    return n if n < ordered[-1] else None


@template("group")
def group_having(ctx: Context) -> Iterator[Draft]:
    """``SELECT category FROM t GROUP BY category HAVING COUNT(*) > n``."""
    for t, c in _with(ctx, "category"):
        n = _middle_count([r[0] for r in ctx.rows(
            f"SELECT COUNT(*) FROM {t.name} GROUP BY {c.name}")])
        if n is None:
            continue
        # "more than 1 teams" reads badly; "more than one team" does not.
        many = f"one {t.noun}" if n == 1 else f"{n} {t.plural}"
        q = ctx.say(("Which {cp} have more than {many}?", "List the {cp} with more than {many}.",
                     "Find every {p} that has more than {many}."),
                    cp=c.plural, p=c.phrase, many=many)
        yield Draft(q, f"SELECT {c.name} FROM {t.name} GROUP BY {c.name} HAVING COUNT(*) > {n}")


@template("group")
def group_join_count(ctx: Context) -> Iterator[Draft]:
    """``SELECT T2.label, COUNT(*) FROM child AS T1 JOIN parent AS T2 ON ... GROUP BY T1.fk``."""
    for child, fk, parent in _labelled_edges(ctx):
        label, r = parent.label, rel(fk, parent)
        assert label is not None
        q = ctx.say(("For each {r}, how many {cp} are there? Give the {l} and the count.",
                     "Show the {l} of each {r} and the number of {cp} {via} it.",
                     "Count the {cp} per {r}, listing the {r}'s {l}."),
                    r=r, cp=child.plural, l=label.phrase, via=fk.via)
        yield Draft(q, f"SELECT T2.{label.name}, COUNT(*) {_join(child, fk, parent)} "
                       f"GROUP BY T1.{fk.name}")


@template("group")
def group_join_having(ctx: Context) -> Iterator[Draft]:
    """``... GROUP BY T1.fk HAVING COUNT(*) >= n``."""
    for child, fk, parent in _labelled_edges(ctx):
        label = parent.label
        assert label is not None
        n = _middle_count([r[0] for r in ctx.rows(
            f"SELECT COUNT(*) FROM {child.name} GROUP BY {fk.name}")])
        if n is None:
            continue
        q = ctx.say(("Which {pp} have at least {n} {cp} {via} them? Give their {lp}.",
                     "List the {lp} of {pp} with {n} or more {cp} {via} them."),
                    pp=parent.plural, n=n + 1, cp=child.plural, via=fk.via, lp=label.plural)
        yield Draft(q, f"SELECT T2.{label.name} {_join(child, fk, parent)} "
                       f"GROUP BY T1.{fk.name} HAVING COUNT(*) >= {n + 1}")


@template("group")
def group_join_most(ctx: Context) -> Iterator[Draft]:
    """``... GROUP BY T1.fk ORDER BY COUNT(*) DESC LIMIT 1``."""
    for child, fk, parent in _labelled_edges(ctx):
        label, r = parent.label, rel(fk, parent)
        assert label is not None
        rest = f"{_join(child, fk, parent)} GROUP BY T1.{fk.name} ORDER BY COUNT(*) DESC"
        q = ctx.say(("Which {r} has the most {cp}?",
                     "What is the {l} of the {r} with the largest number of {cp}?"),
                    r=r, cp=child.plural, l=label.phrase)
        yield Draft(q, f"SELECT T2.{label.name} {rest} LIMIT 1", _top_tie("COUNT(*)", rest, 1), 1)


@template("group")
def group_most(ctx: Context) -> Iterator[Draft]:
    """``SELECT category FROM t GROUP BY category ORDER BY COUNT(*) DESC LIMIT 1``."""
    for t, c in _with(ctx, "category"):
        rest = f"FROM {t.name} GROUP BY {c.name} ORDER BY COUNT(*) DESC"
        q = ctx.say(("Which {p} has the most {plural}?", "What is the most common {p} among {plural}?"),
                    p=c.phrase, plural=t.plural)
        yield Draft(q, f"SELECT {c.name} {rest} LIMIT 1", _top_tie("COUNT(*)", rest, 1), 1)


# ---------------------------------------------------------------------- order

@template("order")
def order_extreme(ctx: Context) -> Iterator[Draft]:
    """``SELECT x FROM t ORDER BY measure DESC|ASC LIMIT 1``."""
    for t, m in _with(ctx, "measure"):
        out = display(t)
        if out is m:
            continue
        for desc in ctx.sample((True, False), 2):
            word = ctx.rng.choice(("highest", "largest")) if desc else ctx.rng.choice(
                ("lowest", "smallest"))
            rest = f"FROM {t.name} ORDER BY {m.name} {'DESC' if desc else 'ASC'}"
            q = ctx.say(("Which {noun} has the {w} {p}? Give its {o}.",
                         "What is the {o} of the {noun} with the {w} {p}?"),
                        noun=t.noun, w=word, p=m.phrase, o=out.phrase)
            yield Draft(q, f"SELECT {out.name} {rest} LIMIT 1", _top_tie(m.name, rest, 1), 1)


@template("order")
def order_top(ctx: Context) -> Iterator[Draft]:
    """``SELECT x, measure FROM t ORDER BY measure DESC LIMIT k``."""
    for t, m in _with(ctx, "measure"):
        out = display(t)
        if out is m:
            continue
        k = ctx.rng.choice((3, 5))
        rest = f"FROM {t.name} ORDER BY {m.name} DESC"
        q = ctx.say(("List the {o} and {p} of the {k} {plural} with the highest {p}.",
                     "Show the top {k} {plural} by {p}, with their {o} and {p}."),
                    o=out.phrase, p=m.phrase, k=k, plural=t.plural)
        yield Draft(q, f"SELECT {out.name}, {m.name} {rest} LIMIT {k}",
                    _top_tie(m.name, rest, k), k)


@template("order")
def order_all(ctx: Context) -> Iterator[Draft]:
    """``SELECT x FROM t ORDER BY key ASC|DESC``."""
    for t in ctx.spec.tables:
        out = display(t)
        keys = [c for c in t.by_role("measure", "year", "date") if c is not out]
        for key in ctx.sample(keys, 1):
            timely = key.role in ("date", "year")
            if ctx.rng.random() < 0.5:
                way = "from earliest to latest" if timely else "from lowest to highest"
                q = ctx.say(("List the {op} of all {plural} in ascending order of {p}.",
                             "Sort the {plural} by {p} {way} and show their {op}."),
                            op=out.plural, plural=t.plural, p=key.phrase, way=way)
                yield Draft(q, f"SELECT {out.name} FROM {t.name} ORDER BY {key.name} ASC")
            else:
                way = "latest first" if timely else "highest first"
                q = ctx.say(("List the {op} of all {plural} in descending order of {p}.",
                             "Sort the {plural} by {p}, {way}, and give their {op}."),
                            op=out.plural, plural=t.plural, p=key.phrase, way=way)
                yield Draft(q, f"SELECT {out.name} FROM {t.name} ORDER BY {key.name} DESC")


@template("order")
def order_alphabetical(ctx: Context) -> Iterator[Draft]:
    """``SELECT label FROM t ORDER BY label``."""
    for t in _labelled(ctx):
        label = t.label
        assert label is not None
        q = ctx.say(("List the {lp} of all {plural} in alphabetical order.",
                     "Sort the {plural} by {l} alphabetically and list the {lp}."),
                    lp=label.plural, l=label.phrase, plural=t.plural)
        yield Draft(q, f"SELECT {label.name} FROM {t.name} ORDER BY {label.name}")


@template("order")
def order_where(ctx: Context) -> Iterator[Draft]:
    """``SELECT label FROM t WHERE category = "v" ORDER BY measure DESC LIMIT 1``."""
    for t in _labelled(ctx):
        label = t.label
        assert label is not None
        for c in t.by_role("category"):
            for m in ctx.sample(t.by_role("measure"), 1):
                v = ctx.rng.choice(ctx.distinct(t.name, c.name))
                rest = f"FROM {t.name} WHERE {c.name} = {lit(v)} ORDER BY {m.name} DESC"
                q = ctx.say(("Which {noun} {cond} has the highest {p}?",
                             "Among {plural} {cond}, which one has the largest {p}?"),
                            noun=t.noun, plural=t.plural, cond=ctx.cond_eq(c, v), p=m.phrase)
                yield Draft(q, f"SELECT {label.name} {rest} LIMIT 1", _top_tie(m.name, rest, 1), 1)


# --------------------------------------------------------------------- nested

@template("nested")
def nested_average(ctx: Context) -> Iterator[Draft]:
    """``SELECT x FROM t WHERE measure > (SELECT AVG(measure) FROM t)``."""
    for t, m in _with(ctx, "measure"):
        out = display(t)
        if out is m:
            continue
        above = ctx.rng.random() < 0.6
        word, op = ("above", ">") if above else ("below", "<")
        q = ctx.say(("Which {plural} have {p} {w} the average {p}? List their {op}.",
                     "List the {op} of {plural} whose {p} is {w} the average of all {plural}.",
                     "Find {plural} with {p} {w} average and show their {op}."),
                    plural=t.plural, p=m.phrase, w=word, op=out.plural)
        yield Draft(q, f"SELECT {out.name} FROM {t.name} "
                       f"WHERE {m.name} {op} (SELECT AVG({m.name}) FROM {t.name})")


@template("nested")
def nested_count_above(ctx: Context) -> Iterator[Draft]:
    """``SELECT COUNT(*) FROM t WHERE measure > (SELECT AVG(measure) FROM t)``."""
    for t, m in _with(ctx, "measure"):
        q = ctx.say(("How many {plural} have {p} above the average?",
                     "Count the {plural} whose {p} is greater than the average {p}."),
                    plural=t.plural, p=m.phrase)
        yield Draft(q, f"SELECT COUNT(*) FROM {t.name} "
                       f"WHERE {m.name} > (SELECT AVG({m.name}) FROM {t.name})")


@template("nested")
def nested_not_in(ctx: Context) -> Iterator[Draft]:
    """``SELECT label FROM parent WHERE id NOT IN (SELECT fk FROM child)``."""
    for child, fk, parent in _labelled_edges(ctx):
        label = parent.label
        assert label is not None
        q = ctx.say(("Which {pp} have no {cp} {via} them? Give their {lp}.",
                     "List the {lp} of {pp} without any {cp} {via} them.",
                     "Find the {lp} of the {pp} that have no {kids}."),
                    pp=parent.plural, cp=child.plural, via=fk.via, lp=label.plural,
                    kids=children(child, fk, parent))
        yield Draft(q, f"SELECT {label.name} FROM {parent.name} WHERE {parent.primary_key.name} "
                       f"NOT IN (SELECT {fk.name} FROM {child.name})")


@template("nested")
def nested_in(ctx: Context) -> Iterator[Draft]:
    """``SELECT label FROM parent WHERE id IN (SELECT fk FROM child WHERE ...)``."""
    for child, fk, parent in _labelled_edges(ctx):
        label = parent.label
        assert label is not None
        for c in ctx.sample(child.by_role("category", "measure"), 1):
            if c.role == "category":
                v: Any = ctx.rng.choice(ctx.distinct(child.name, c.name))
                cond, where = ctx.cond_eq(c, v), f"{c.name} = {lit(v)}"
            else:
                v = ctx.threshold(child.name, c, 0.7, 0.95)
                cond, where = ctx.cond_cmp(c, ">", v), f"{c.name} > {lit(v)}"
            kids = children(child, fk, parent)
            q = ctx.say(("Which {pp} have {cp} {cond}? Give their {lp}.",
                         "List the {lp} of {pp} that have at least one {cn} {cond}."),
                        pp=parent.plural, cp=kids, cn=child.noun, cond=cond, lp=label.plural)
            if kids != child.plural:  # "at least one game" would not say home or away
                q = ctx.say(("Which {pp} have {cp} {cond}? Give their {lp}.",),
                            pp=parent.plural, cp=kids, cond=cond, lp=label.plural)
            yield Draft(q, f"SELECT {label.name} FROM {parent.name} WHERE {parent.primary_key.name} "
                           f"IN (SELECT {fk.name} FROM {child.name} WHERE {where})")


@template("nested")
def nested_compare_group(ctx: Context) -> Iterator[Draft]:
    """``SELECT x FROM t WHERE measure > (SELECT MAX|AVG(measure) FROM t WHERE category = "v")``."""
    for t in ctx.spec.tables:
        out = display(t)
        for c in t.by_role("category"):
            for m in ctx.sample([x for x in t.by_role("measure") if x is not out], 1):
                v = ctx.rng.choice(ctx.distinct(t.name, c.name))
                if ctx.rng.random() < 0.5:
                    fn, words = "MAX", "greater than that of every {noun} {cond}"
                else:
                    fn, words = "AVG", "above the average {p} of {plural} {cond}"
                cond = words.format(noun=t.noun, plural=t.plural, p=m.phrase,
                                    cond=ctx.cond_eq(c, v))
                q = ctx.say(("List the {op} of {plural} whose {p} is {cond}.",
                             "Which {plural} have {p} {cond}? Give their {op}."),
                            op=out.plural, plural=t.plural, p=m.phrase, cond=cond)
                yield Draft(q, f"SELECT {out.name} FROM {t.name} WHERE {m.name} > "
                               f"(SELECT {fn}({m.name}) FROM {t.name} WHERE {c.name} = {lit(v)})")


# ------------------------------------------------------------------------ set

def _category_measures(ctx: Context, labelled: bool = False
                       ) -> list[tuple[TableSpec, ColumnSpec, ColumnSpec]]:
    """Every (table, category column, measure column) triple."""
    return [(t, c, m) for t in ctx.spec.tables if t.label is not None or not labelled
            for c in t.by_role("category") for m in t.by_role("measure")]


@template("set")
def set_union(ctx: Context) -> Iterator[Draft]:
    """``SELECT label ... WHERE category = "v" UNION SELECT label ... WHERE measure > n``."""
    for t, c, m in _category_measures(ctx, labelled=True):
        label = t.label
        assert label is not None
        for v in ctx.sample(ctx.distinct(t.name, c.name), 2):
            x = ctx.threshold(t.name, m, 0.8, 0.95)
            q = ctx.say(("Find the {lp} of all {plural} {c1} or {c2}.",
                         "Give the {lp} of {plural} {c1}, together with those {c2}."),
                        lp=label.plural, plural=t.plural, c1=ctx.cond_eq(c, v),
                        c2=ctx.cond_cmp(m, ">", x))
            yield Draft(q, f"SELECT {label.name} FROM {t.name} WHERE {c.name} = {lit(v)} "
                           f"UNION SELECT {label.name} FROM {t.name} WHERE {m.name} > {lit(x)}")


@template("set")
def set_intersect(ctx: Context) -> Iterator[Draft]:
    """``SELECT category ... WHERE measure > a INTERSECT SELECT category ... WHERE measure < b``."""
    for t, c, m in _category_measures(ctx):
        for _ in range(2):
            high = ctx.threshold(t.name, m, 0.6, 0.8)
            low = ctx.threshold(t.name, m, 0.2, 0.4)
            q = ctx.say(("Which {cp} have both {plural} with {p} above {hi} and {plural} "
                         "with {p} below {lo}?",
                         "Find the {cp} that have some {noun} whose {p} is greater than {hi} "
                         "and also some {noun} whose {p} is less than {lo}."),
                        cp=c.plural, plural=t.plural, noun=t.noun, p=m.phrase,
                        hi=fmt(high), lo=fmt(low))
            yield Draft(q, f"SELECT {c.name} FROM {t.name} WHERE {m.name} > {lit(high)} "
                           f"INTERSECT SELECT {c.name} FROM {t.name} WHERE {m.name} < {lit(low)}")


@template("set")
def set_except(ctx: Context) -> Iterator[Draft]:
    """``SELECT category FROM t EXCEPT SELECT category FROM t WHERE measure > n``."""
    for t, c, m in _category_measures(ctx):
        # The largest value of a group among those with the smallest maxima: at
        # least that group has no row above it, so the answer is never empty.
        maxima = [r[0] for r in ctx.rows(
            f"SELECT MAX({m.name}) FROM {t.name} GROUP BY {c.name} ORDER BY 1")]
        for v in ctx.sample(maxima[:max(1, len(maxima) // 2)], 2):
            q = ctx.say(("Which {cp} have no {noun} with {p} above {v}?",
                         "List the {cp} of {plural}, except those that have {an} whose "
                         "{p} is greater than {v}."),
                        cp=c.plural, noun=t.noun, an=article(t.noun), plural=t.plural,
                        p=m.phrase, v=fmt(v))
            yield Draft(q, f"SELECT {c.name} FROM {t.name} EXCEPT SELECT {c.name} "
                           f"FROM {t.name} WHERE {m.name} > {lit(v)}")


@template("set")
def set_two_children(ctx: Context) -> Iterator[Draft]:
    """Parents with (or without) children in two different child tables."""
    edges = _labelled_edges(ctx)
    for (c1, fk1, p1), (c2, fk2, p2) in ((a, b) for a in edges for b in edges):
        if p1 is not p2 or c1 is c2:
            continue
        label = p1.label
        assert label is not None
        first = f"SELECT T2.{label.name} {_join(c1, fk1, p1)}"
        # Other aliases in the second branch: Spider's parser maps an alias to
        # its last definition in the whole query, so a T1 reused for another
        # child table would resolve the first branch's T1.fk in the wrong table.
        second = f"SELECT T4.{label.name} {_join(c2, fk2, p2, aliases=('T3', 'T4'))}"
        words = {"pp": p1.plural, "k1": children(c1, fk1, p1), "k2": children(c2, fk2, p2),
                 "lp": label.plural}
        if ctx.rng.random() < 0.5:
            q = ctx.say(("Which {pp} have both {k1} and {k2}? Give their {lp}.",
                         "List the {lp} of {pp} that have {k1} and also {k2}."), **words)
            yield Draft(q, f"{first} INTERSECT {second}")
        else:
            q = ctx.say(("Which {pp} have {k1} but no {k2}? Give their {lp}.",
                         "List the {lp} of {pp} that have {k1} and no {k2}."), **words)
            yield Draft(q, f"{first} EXCEPT {second}")


@template("set")
def set_join(ctx: Context) -> Iterator[Draft]:
    """Parents with children of two category values (INTERSECT), or none of one (EXCEPT)."""
    for child, fk, parent in _labelled_edges(ctx):
        label = parent.label
        assert label is not None
        for c in ctx.sample(child.by_role("category"), 1):
            values = ctx.distinct(child.name, c.name)
            a, b = ctx.sample(values, 2)
            select = f"SELECT T2.{label.name} {_join(child, fk, parent)} WHERE T1.{c.name} = "
            if ctx.rng.random() < 0.5:
                q = ctx.say(("Which {pp} have both {cp} {ca} and {cp} {cb}? Give their {lp}.",
                             "List the {lp} of {pp} with {cp} {ca} as well as {cp} {cb}."),
                            pp=parent.plural, cp=children(child, fk, parent),
                            ca=ctx.cond_eq(c, a), cb=ctx.cond_eq(c, b), lp=label.plural)
                yield Draft(q, f"{select}{lit(a)} INTERSECT {select}{lit(b)}")
            else:
                q = ctx.say(("Which {pp} have no {cp} {ca}? Give their {lp}.",
                             "List the {lp} of {pp} that never had {cn} {ca}."),
                            pp=parent.plural, cp=children(child, fk, parent),
                            cn=article(child.noun),
                            ca=ctx.cond_eq(c, a), lp=label.plural)
                yield Draft(q, f"SELECT {label.name} FROM {parent.name} EXCEPT {select}{lit(a)}")


# ------------------------------------------------------------------- distinct

@template("distinct")
def distinct_values(ctx: Context) -> Iterator[Draft]:
    """``SELECT DISTINCT category FROM t``."""
    for t, c in _with(ctx, "category"):
        q = ctx.say(("What are the different {cp} of the {plural}?",
                     "List the distinct {cp} of all {plural}.",
                     "Which {cp} do the {plural} have? List each only once."),
                    cp=c.plural, plural=t.plural)
        yield Draft(q, f"SELECT DISTINCT {c.name} FROM {t.name}")


@template("distinct")
def distinct_count(ctx: Context) -> Iterator[Draft]:
    """``SELECT COUNT(DISTINCT category) FROM t``."""
    for t, c in _with(ctx, "category"):
        q = ctx.say(("How many different {cp} are there among the {plural}?",
                     "Count the distinct {cp} of {plural}."), cp=c.plural, plural=t.plural)
        yield Draft(q, f"SELECT COUNT(DISTINCT {c.name}) FROM {t.name}")


@template("distinct")
def distinct_join(ctx: Context) -> Iterator[Draft]:
    """``SELECT DISTINCT T1.category / T2.category FROM child AS T1 JOIN parent AS T2 ...``."""
    for child, fk, parent in _labelled_edges(ctx):
        label = parent.label
        assert label is not None
        for c in ctx.sample(child.by_role("category"), 1):
            used = ctx.rows(f"SELECT DISTINCT T2.{label.name} {_join(child, fk, parent)} "
                            f"ORDER BY T2.{label.name}")
            for (v,) in ctx.sample(used, 2):
                q = ctx.say(("What are the different {ccp} of {cp} {via} {v}?",
                             "List the distinct {ccp} of the {cp} {via} {v}."),
                            ccp=c.plural, cp=child.plural, via=fk.via, v=v)
                yield Draft(q, f"SELECT DISTINCT T1.{c.name} {_join(child, fk, parent)} "
                               f"WHERE T2.{label.name} = {lit(v)}")
        for c in ctx.sample(parent.by_role("category"), 1):
            q = ctx.say(("What are the distinct {pcp} of {pp} that have {cp} {via} them?",
                         "List the different {pcp} of the {pp} with at least one {cn} {via} them."),
                        pcp=c.plural, pp=parent.plural, cp=child.plural, cn=child.noun,
                        via=fk.via)
            yield Draft(q, f"SELECT DISTINCT T2.{c.name} {_join(child, fk, parent)}")
