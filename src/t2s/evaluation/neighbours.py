"""Generated neighbour databases for test-suite accuracy (Zhong et al. 2020).

:func:`build_neighbours` fuzzes N small databases with the schema of an
original SQLite file: rows are sampled per column from the original's values
and the gold queries' literals, perturbed by column type (numbers +-1..2 or
+-10%, text with a changed case or suffix), with NULLs and duplicates mixed
in; foreign-key columns take values the parent table holds, and tables are
filled parents first. Of ``N x candidates`` fuzzed candidates, every one that
breaks a gold query (error, time limit, row cap) is dropped, and the rest are
kept greedily by how many near-miss mutations of gold (dropped DISTINCT,
flipped comparison, swapped column, changed aggregate, dropped condition) they
tell apart from gold where the original cannot; when fewer than N tell any
apart, the remaining valid candidates fill up to N (they still check gold).

The original is only read, through :class:`~t2s.sqlexec.ReadOnlyDatabase`; the
neighbours are written under a cache folder keyed by the original's schema and
bytes, the gold queries and every setting, so a second run reuses them, and a
seed always gives the same files.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from t2s.provenance import file_sha256, write_text_atomic
from t2s.sqlexec import ExecResult, ReadOnlyDatabase, create_database

GENERATOR_VERSION = 1
"""Bumped whenever the same inputs would give other neighbours (part of the cache key)."""

# Distinct values read per column of the original: enough to cover Spider's
# categorical columns (most have < 50 values) while reading at most
# 60 x columns values from a large BIRD table.
SAMPLE_VALUES = 60

# Mutations tried per gold query at most: Spider dev's 1,034 gold queries give
# ~6 each, so the cap only trims the longest BIRD queries.
MAX_MUTANTS = 16

# Mutants only decide which neighbours to keep, so each runs under a tighter
# budget than scoring: a mutant whose dropped join condition explodes is skipped.
MUTANT_TIMEOUT_S = 1.0
MUTANT_MAX_ROWS = 10_000

_LITERAL = re.compile(r"'((?:[^']|'')*)'|\"([^\"]*)\"|(?<![\w.])(-?\d+(?:\.\d+)?)(?![\w.])")


@dataclass
class _Table:
    name: str
    sql: str
    columns: list[tuple[str, str, bool, int]]  # name, declared type, not null, pk position
    parents: dict[str, tuple[str, str]] = field(default_factory=dict)  # column -> (table, col)
    values: dict[str, list[Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class NeighbourSet:
    """The neighbours built (or recalled) for one database.

    Attributes:
        paths: The neighbour files, in suite order.
        distinguished: Gold/mutant pairs the original could not tell apart that
            the kept neighbours do.
        undistinguished: Such pairs no kept neighbour tells apart.
        cached: Whether they came from the cache.
    """

    paths: list[Path]
    distinguished: int
    undistinguished: int
    cached: bool


def gold_literals(queries: Sequence[str]) -> tuple[list[float | int], list[str]]:
    """The numbers and strings the gold queries mention (``%`` of LIKE patterns dropped)."""
    numbers: set[float | int] = set()
    strings: set[str] = set()
    for query in queries:
        for single, double, number in _LITERAL.findall(query):
            if number:
                numbers.add(float(number) if "." in number else int(number))
            else:
                text = (single.replace("''", "'") if single else double).strip("%")
                if text:
                    strings.add(text)
    return sorted(numbers), sorted(strings)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _rows(result: ExecResult, what: str) -> list[tuple[Any, ...]]:
    if not result.ok:
        raise sqlite3.DatabaseError(f"{what}: {result.message}")
    return result.rows


def read_schema(db: ReadOnlyDatabase) -> tuple[list[_Table], list[str]]:
    """The original's tables (with sampled values) in parents-first order, and its views.

    Raises:
        sqlite3.DatabaseError: if the schema cannot be read.
    """
    master = _rows(db.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL "
                              "AND type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' "
                              "ORDER BY rowid"), "schema")
    tables: dict[str, _Table] = {}
    views = [sql for kind, _, sql in master if kind == "view"]
    for kind, name, sql in master:
        if kind != "table" or "virtual table" in sql.lower():
            continue
        info = _rows(db.execute(f"PRAGMA table_info({_quote(name)})"), name)
        table = _Table(name, sql, [(c[1], (c[2] or "").upper(), bool(c[3]), c[5]) for c in info])
        for fk in _rows(db.execute(f"PRAGMA foreign_key_list({_quote(name)})"), name):
            table.parents[fk[3]] = (fk[2], fk[4] or fk[3])
        for column, *_ in table.columns:
            sample = db.execute(f"SELECT DISTINCT {_quote(column)} FROM {_quote(name)} "
                                f"WHERE {_quote(column)} IS NOT NULL LIMIT {SAMPLE_VALUES}")
            table.values[column] = [row[0] for row in sample.rows] if sample.ok else []
        tables[name.lower()] = table
    order: list[_Table] = []
    seen: set[str] = set()

    def visit(key: str, path: frozenset[str]) -> None:
        if key in seen or key in path or key not in tables:
            return
        for parent, _ in tables[key].parents.values():
            visit(parent.lower(), path | {key})
        seen.add(key)
        order.append(tables[key])

    for key in tables:
        visit(key, frozenset())
    return order, views


def _affinity(declared: str, sample: Sequence[Any]) -> str:
    """SQLite's affinity rules on the declared type; untyped columns follow their values."""
    if "INT" in declared:
        return "int"
    if any(word in declared for word in ("CHAR", "CLOB", "TEXT")):
        return "text"
    if any(word in declared for word in ("REAL", "FLOA", "DOUB", "NUM", "DEC")):
        return "real"
    kinds = {type(v) for v in sample}
    return "int" if kinds == {int} else "real" if kinds <= {int, float} and kinds else "text"


def _perturb(value: Any, rng: random.Random) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, bytes):
        return value
    if isinstance(value, int):
        # Near misses (+-1..2) catch flipped comparisons; scaling by 0.5-1.5
        # lands between two thresholds (``> 50`` vs ``> 100``).
        if rng.random() < 0.5:
            return value + rng.choice((-2, -1, 1, 2))
        return round(value * rng.uniform(0.5, 1.5))
    if isinstance(value, float):
        return round(value * (1 + rng.uniform(-0.1, 0.1)), 2)
    text = str(value)
    choice = rng.randrange(4)
    if choice == 0:
        return text.upper() if text != text.upper() else text.lower()
    if choice == 1 and len(text) > 1:
        return text[:-1]
    return f"{text} {rng.randrange(10)}" if choice == 2 else f"{text}x"


def _unique(value: Any, used: set[Any]) -> Any:
    """``value``, or the next free one, so a single-column key never collides
    (INSERT OR IGNORE would otherwise drop most rows of a small key pool)."""
    if value in used or value is None:
        if isinstance(value, str):
            value = next(f"{value}_{n}" for n in range(len(used) + 1)
                         if f"{value}_{n}" not in used)
        else:
            numbers = [v for v in used if isinstance(v, int | float)]
            value = int(max(numbers, default=0)) + 1
    used.add(value)
    return value


class _Fuzzer:
    def __init__(self, tables: list[_Table], literals: tuple[list[Any], list[str]],
                 max_rows: int, rng: random.Random) -> None:
        self.tables, self.max_rows, self.rng = tables, max_rows, rng
        self.numbers, self.strings = literals

    def value(self, table: _Table, column: tuple[str, str, bool, int],
              done: dict[tuple[str, str], list[Any]], previous: list[Any]) -> Any:
        name, declared, not_null, pk = column
        rng = self.rng
        sample = table.values.get(name, [])
        kind = _affinity(declared, sample)
        parent = table.parents.get(name)
        pool = None if parent is None else done.get((parent[0].lower(), parent[1].lower()))
        if pool is not None:
            if pool and rng.random() < 0.9:
                return rng.choice(pool)
            return None if not not_null and not pk else (rng.choice(pool) if pool else 1)
        draw = rng.random()
        if draw < 0.1 and not not_null and not pk:
            return None
        if draw < 0.25 and previous and not pk:
            return rng.choice(previous)  # a duplicate
        literals = self.strings if kind == "text" else self.numbers
        if draw < 0.45 and literals:
            value: Any = rng.choice(literals)
            if kind == "int" and isinstance(value, float):
                value = int(value)
            return value if rng.random() < 0.6 else _perturb(value, rng)
        if sample:
            value = rng.choice(sample)
            return value if draw < 0.75 else _perturb(value, rng)
        if kind == "text":
            return f"v{rng.randrange(100)}"
        return rng.randrange(100) if kind == "int" else round(rng.uniform(0, 100), 2)

    def fill(self, conn: sqlite3.Connection) -> None:
        done: dict[tuple[str, str], list[Any]] = {}
        keys: dict[str, set[str]] = {}
        for child in self.tables:
            for parent, parent_column in child.parents.values():
                keys.setdefault(parent.lower(), set()).add(parent_column.lower())
        for table in self.tables:
            names = [c[0] for c in table.columns]
            count = self.rng.randint(1, self.max_rows)
            previous: dict[str, list[Any]] = {name: [] for name in names}
            insert = (f"INSERT OR IGNORE INTO {_quote(table.name)} "
                      f"({', '.join(map(_quote, names))}) VALUES ({', '.join('?' * len(names))})")
            single_key = [c[0] for c in table.columns if c[3]]
            used: set[Any] = set()
            for _ in range(count):
                row = []
                for column in table.columns:
                    value = self.value(table, column, done, previous[column[0]])
                    if single_key == [column[0]] and column[0] not in table.parents:
                        value = _unique(value, used)
                    previous[column[0]].append(value)
                    row.append(value)
                conn.execute(insert, row)
            # Children reference the parent's key values that were really inserted.
            for column in keys.get(table.name.lower(), ()):
                real = next((n for n in names if n.lower() == column), None)
                if real is not None:
                    done[(table.name.lower(), column)] = [r[0] for r in conn.execute(
                        f"SELECT {_quote(real)} FROM {_quote(table.name)} "
                        f"WHERE {_quote(real)} IS NOT NULL")]


def _mutations(sql: str) -> list[str]:
    """Near-miss mutations of ``sql``, as sqlglot writes them (at most :data:`MAX_MUTANTS`)."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except sqlglot.errors.ParseError:
        return []
    flips: dict[type, type] = {exp.GT: exp.GTE, exp.GTE: exp.GT, exp.LT: exp.LTE,
                               exp.LTE: exp.LT, exp.EQ: exp.NEQ, exp.NEQ: exp.EQ}
    aggregates: dict[type, type] = {exp.Max: exp.Min, exp.Min: exp.Max, exp.Avg: exp.Sum,
                                    exp.Sum: exp.Avg}
    out: list[str] = []

    def each(kind: type | tuple[type, ...]) -> Iterator[tuple[Any, Any]]:
        for position in range(len(list(tree.find_all(kind)))):
            copy = tree.copy()
            yield copy, list(copy.find_all(kind))[position]

    def emit(copy: Any) -> None:
        text = copy.sql(dialect="sqlite")
        if text not in out and len(out) < MAX_MUTANTS:
            out.append(text)

    for copy, node in each(exp.Distinct):
        node.pop()
        emit(copy)
    for copy, node in each(tuple(flips)):
        node.replace(flips[type(node)](this=node.this, expression=node.expression))
        emit(copy)
    for copy, node in each(tuple(aggregates)):
        node.replace(aggregates[type(node)](this=node.this))
        emit(copy)
    for copy, node in each(exp.Count):
        if not isinstance(node.this, exp.Star):
            node.set("this", exp.Star())
            node.set("distinct", None)
            emit(copy)
    for copy, node in each(exp.And):
        node.replace(node.left)
        emit(copy)
    for copy, node in each(exp.Where):
        node.pop()
        emit(copy)
    columns = sorted({c.name for c in tree.find_all(exp.Column)})
    for copy, node in each(exp.Column):
        others = [name for name in columns if name != node.name]
        if others:
            node.set("this", exp.to_identifier(others[0]))
            emit(copy)
    return out


def _cache_key(original: Path, schema_sql: str, golds: Sequence[str], settings: dict[str, Any]
               ) -> str:
    digest = hashlib.sha256()
    for part in (str(GENERATOR_VERSION), schema_sql, file_sha256(original),
                 json.dumps(sorted(set(golds))), json.dumps(settings, sort_keys=True)):
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()


def build_neighbours(original: str | Path, golds: Sequence[str], *, count: int, seed: int,
                     cache_dir: str | Path, same: Callable[[str, ExecResult, ExecResult], bool],
                     max_rows_per_table: int = 40, candidates: int = 3,
                     timeout_s: float = 10.0, max_rows: int = 100_000,
                     max_result_bytes: int = 64 * 1024 * 1024) -> NeighbourSet:
    """Build (or recall from the cache) ``count`` neighbours of ``original``.

    Args:
        original: The SQLite file (only read).
        golds: The gold queries on it, as they are run (already rewritten the
            way the scorer rewrites them); those that fail on the original are
            left out of every check.
        count: Neighbours wanted.
        seed: Fuzzing seed.
        cache_dir: Cache folder.
        same: ``same(gold, gold_result, other_result)``: whether two results
            match by the scoring semantics (row order by the gold query).
        max_rows_per_table: Rows per table at most.
        candidates: Candidates fuzzed per neighbour wanted.
        timeout_s, max_rows, max_result_bytes: Scoring's budget, which every
            gold query must keep on every neighbour.

    Raises:
        sqlite3.DatabaseError: if the original's schema cannot be read.
        OSError: if the cache folder cannot be written.
    """
    original = Path(original)
    limits = {"timeout_s": timeout_s, "max_rows": max_rows, "max_result_bytes": max_result_bytes}
    with ReadOnlyDatabase(original, **limits) as db:  # type: ignore[arg-type]
        tables, views = read_schema(db)
        schema_sql = "\n".join([t.sql for t in tables] + views)
        settings = {"count": count, "seed": seed, "max_rows_per_table": max_rows_per_table,
                    "candidates": candidates, **limits}
        key = _cache_key(original, schema_sql, golds, settings)
        folder = Path(cache_dir) / f"{original.stem}-{key[:16]}"
        manifest = folder / "neighbours.json"
        if manifest.is_file():
            saved = json.loads(manifest.read_text(encoding="utf-8"))
            paths = [folder / name for name in saved["files"]]
            if all(p.is_file() for p in paths):
                return NeighbourSet(paths, saved["distinguished"], saved["undistinguished"], True)
        runnable: dict[str, ExecResult] = {}
        for gold in dict.fromkeys(golds):
            result = db.execute(gold)
            if result.ok and not result.truncated:
                runnable[gold] = result
        # The pairs that matter: mutants the original cannot tell from gold.
        alive: list[tuple[str, str]] = []
        for gold, gold_result in runnable.items():
            for mutant in _mutations(gold):
                result = db.execute(mutant, timeout_s=min(timeout_s, MUTANT_TIMEOUT_S),
                                    max_rows=MUTANT_MAX_ROWS)
                if result.ok and not result.truncated and same(gold, gold_result, result):
                    alive.append((gold, mutant))
    literals = gold_literals(list(runnable))
    # Built in a private folder, then renamed into place whole: a concurrent run
    # or an interrupted one never leaves a half-built cache entry behind.
    final_folder = folder
    folder = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    valid: list[tuple[Path, set[tuple[str, str]]]] = []
    for index in range(count * candidates):
        rng = random.Random(f"{seed}:{key}:{index}")
        path = folder / f"candidate_{index}.sqlite"
        path.unlink(missing_ok=True)  # a candidate left by an interrupted build
        conn = create_database(path)
        try:
            for table in tables:
                conn.execute(table.sql)
            for view in views:
                conn.execute(view)
            _Fuzzer(tables, literals, max_rows_per_table, rng).fill(conn)
            conn.commit()
        except sqlite3.DatabaseError:
            conn.close()
            path.unlink(missing_ok=True)
            continue
        conn.close()
        killed = _check(path, runnable, alive, same, limits, timeout_s)
        if killed is None:
            path.unlink(missing_ok=True)
        else:
            valid.append((path, killed))
    kept: list[Path] = []
    remaining = set(alive)
    pool = list(valid)
    while pool and len(kept) < count:
        best = max(range(len(pool)), key=lambda i: len(pool[i][1] & remaining))
        path, killed = pool.pop(best)
        kept.append(path)
        remaining -= killed
    for path, _ in pool:
        path.unlink(missing_ok=True)
    names = []
    for position, path in enumerate(kept):
        final = folder / f"neighbour_{position}.sqlite"
        os.replace(path, final)
        names.append(final.name)
    result = {"files": names, "distinguished": len(alive) - len(remaining),
              "undistinguished": len(remaining), "generator": GENERATOR_VERSION,
              "settings": settings}
    write_text_atomic(folder / manifest.name, json.dumps(result, indent=1) + "\n")
    if not manifest.is_file():  # a stale entry of an older layout, without its manifest
        shutil.rmtree(final_folder, ignore_errors=True)
    try:
        folder.rename(final_folder)
    except OSError:  # another run renamed the same entry first: the same files
        shutil.rmtree(folder, ignore_errors=True)
    return NeighbourSet([final_folder / n for n in names], result["distinguished"],
                        result["undistinguished"], False)


def _check(path: Path, runnable: dict[str, ExecResult], alive: Sequence[tuple[str, str]],
           same: Callable[[str, ExecResult, ExecResult], bool], limits: dict[str, Any],
           timeout_s: float) -> set[tuple[str, str]] | None:
    """The pairs ``path`` tells apart, or ``None`` when a gold query fails on it."""
    with ReadOnlyDatabase(path, **limits) as db:
        results: dict[str, ExecResult] = {}
        for gold in runnable:
            result = db.execute(gold)
            if not result.ok or result.truncated:
                return None
            results[gold] = result
        killed = set()
        for gold, mutant in alive:
            result = db.execute(mutant, timeout_s=min(timeout_s, MUTANT_TIMEOUT_S),
                                max_rows=MUTANT_MAX_ROWS)
            if result.ok and not result.truncated and not same(gold, results[gold], result):
                killed.add((gold, mutant))
    return killed
