"""Turn templates into a validated, balanced set of question/SQL pairs per database.

Every draft is executed on its database before it is kept:

* a query that fails is a generator bug and raises;
* a query with an empty (or all-NULL, or zero-count) result is dropped: any
  prediction that returns nothing would "match" such a gold query, which would
  inflate execution accuracy;
* an ``ORDER BY ... LIMIT k`` query whose k-th and (k+1)-th keys tie is dropped:
  its gold rows would be one arbitrary pick among equals.

The kept drafts are then sampled per shape (quotas below), round-robin over the
templates of that shape so that no single template dominates.
"""

from __future__ import annotations

import random
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from t2s.data.sample.domain_templates import DOMAIN
from t2s.data.sample.schema import DatabaseSpec
from t2s.data.sample.templates import GENERIC, SHAPES, Context, Draft, TemplateFn

# Pairs per shape per database: 100 per database, 500 over the five. Filters and
# joins get the most because they are the most common shapes of real questions.
SHAPE_QUOTAS: dict[str, int] = {
    "select": 7, "filter": 22, "aggregate": 14, "join": 16, "group": 12,
    "order": 10, "nested": 9, "set": 5, "distinct": 5,
}
assert tuple(SHAPE_QUOTAS) == SHAPES

_STRING_LITERAL = re.compile(r'"([^"]*)"')


@dataclass(frozen=True)
class Pair:
    """A validated question/SQL pair.

    Attributes:
        db_id: Its database.
        question: The question.
        query: The gold SQL.
        shape: One of :data:`~t2s.data.sample.templates.SHAPES`.
        template: Name of the template that wrote it.
    """

    db_id: str
    question: str
    query: str
    shape: str
    template: str


class GeneratorBug(RuntimeError):
    """A template wrote SQL that does not run, or quoted a value SQLite would read
    as a column name. Not a user error: the generator itself must be fixed."""


def generate_pairs(spec: DatabaseSpec, connection: sqlite3.Connection,
                   rng: random.Random, quotas: dict[str, int] | None = None,
                   strict: bool = True) -> list[Pair]:
    """Generate the question/SQL pairs of one database.

    Args:
        spec: The database description.
        connection: An open connection to its SQLite file.
        rng: The seeded random source (drives value and paraphrase choices).
        quotas: Pairs per shape (default :data:`SHAPE_QUOTAS`).
        strict: Raise on a template whose SQL fails (the sample databases, where
            that is a generator bug); false drops such drafts, and a template
            that fails on unusual data (a user's database, :mod:`t2s.data.synth`).

    Returns:
        Pairs in a seeded-random order, at most ``sum(quotas.values())``.

    Raises:
        GeneratorBug: if ``strict`` and a template's SQL fails or is ambiguous.
    """
    ctx = Context(spec, connection, rng)
    columns = {c.name.lower() for t in spec.tables for c in t.columns}
    pool: dict[str, dict[str, list[Pair]]] = {shape: {} for shape in SHAPES}
    seen_questions: set[str] = set()
    seen_queries: set[str] = set()
    templates: Iterable[tuple[str, str, TemplateFn]] = [*DOMAIN.get(spec.db_id, []), *GENERIC]
    for name, shape, fn in templates:
        bucket = pool[shape].setdefault(name, [])
        try:
            for draft in fn(ctx):
                if draft.question in seen_questions or draft.query in seen_queries:
                    continue
                try:
                    if not _keep(connection, draft, columns, name):
                        continue
                except GeneratorBug:
                    if strict:
                        raise
                    continue
                seen_questions.add(draft.question)
                seen_queries.add(draft.query)
                bucket.append(Pair(spec.db_id, draft.question, draft.query, shape, name))
        except (GeneratorBug, sqlite3.Error, ValueError, IndexError, KeyError, TypeError,
                ZeroDivisionError, AttributeError):
            if strict:
                raise
            # A template that cannot read this database's values (an empty
            # column, text in a numeric column): keep what it wrote so far.
            continue
    quotas = quotas or SHAPE_QUOTAS
    chosen = [pair for shape in SHAPES for pair in _round_robin(pool[shape], quotas.get(shape, 0), rng)]
    rng.shuffle(chosen)
    return chosen


# Rows of a draft's result looked at to keep or drop it: more than any sample
# database's result, so its pairs are unchanged.
KEEP_ROWS = 1_000


def _keep(connection: sqlite3.Connection, draft: Draft, columns: set[str], name: str) -> bool:
    """Whether ``draft`` runs, has a non-trivial result (in its first :data:`KEEP_ROWS`
    rows) and no tie at its LIMIT.

    Raises:
        GeneratorBug: if the SQL fails, or a double-quoted value is also a column
            name (SQLite resolves ``"x"`` to a column first).
    """
    for value in _STRING_LITERAL.findall(draft.query):
        if value.lower() in columns:
            raise GeneratorBug(f"{name}: literal {value!r} is also a column name: {draft.query}")
    try:
        # The verdict needs only the first rows (empty, all NULL, a zero count):
        # fetching every row of a draft over a 1e6-row table cost 97 s in synth.
        rows = connection.execute(draft.query).fetchmany(KEEP_ROWS)
        ties = connection.execute(draft.tie_check).fetchall() if draft.tie_check else []
    except sqlite3.Error as exc:
        raise GeneratorBug(f"{name}: {exc}: {draft.query}") from exc
    if not rows or all(value is None for row in rows for value in row):
        return False
    if len(rows) == 1 and len(rows[0]) == 1 and rows[0][0] == 0:
        return False  # a COUNT of nothing
    if draft.tie_check and len(ties) > draft.limit and ties[draft.limit - 1] == ties[draft.limit]:
        return False
    return True


def _round_robin(by_template: dict[str, list[Pair]], quota: int, rng: random.Random) -> list[Pair]:
    """Up to ``quota`` pairs, taking one from each template in turn.

    Templates are visited in registration order (hand-written domain templates
    first); the pairs of each template are shuffled first.
    """
    queues = []
    for pairs in by_template.values():
        queue = list(pairs)
        rng.shuffle(queue)
        queues.append(queue)
    chosen: list[Pair] = []
    while len(chosen) < quota and any(queues):
        for queue in queues:
            if queue and len(chosen) < quota:
                chosen.append(queue.pop())
    return chosen
