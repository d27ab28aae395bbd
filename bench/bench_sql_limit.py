"""Benchmark: how far past its time limit a hostile SELECT can run (issue 20).

Each case runs through :func:`t2s.sqlexec.run_query` on a scratch database at
``--limit`` seconds and the table shows its wall time, the ratio to the limit and
the outcome. The baseline is an ordinary runaway query (a cross join that the
progress handler stops), run in the same process at the same load. The cases:

* the costliest statements the program budget admits, one row of each per
  step of a million-row loop: the most LIKEs / GLOBs with a worst-case
  pattern at the pattern cap over a 256 KiB value, the most linear calls (``instr``,
  ``replace``, ``upper``) over 256 KiB values;
* the bypasses issue 20 found or that were found while fixing it: one quadratic
  ``instr`` over 2 MB, 20 ``instr`` calls at the value cap in one row, a
  two-argument ``ltrim`` at the cap, and CTEs referenced inside CTEs that
  explode while the statement compiles.

It also times Spider dev's executable gold queries with and without the
program-cost check (the one guard that adds work to every statement).

Usage (from the repository root)::

    PYTHONPATH=src .venv/bin/python bench/bench_sql_limit.py [--limit 1.0] \\
        [--spider-dir ../shared/data/spider]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path

from t2s import sqlexec

ROOT = Path(__file__).resolve().parents[1]

_VALUE = "printf('%.262000c','a')"
_LOOP = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 1000000) "


def _most_under_budget(db: Path, make: callable) -> tuple[int, str]:
    """The largest k whose ``make(k)`` statement passes the program budget."""
    conn = sqlexec.connect_readonly(db)
    try:
        k = 1
        while (sqlexec.program_cost(conn, make(k + 1)) or 0) <= sqlexec.MAX_PROGRAM_COST:
            k += 1
    finally:
        conn.close()
    return k, make(k)


def _per_row(expressions: str) -> str:
    return f"{_LOOP}, v(s) AS (SELECT {_VALUE}) SELECT {expressions} FROM n, v"


def _sum_of(call: str, k: int) -> str:
    return " + ".join(call.format(i=i) for i in range(k))


def _compile_bomb(levels: int, width: int) -> str:
    ctes = ["t0 AS (SELECT 1 AS x)"] + [
        f"t{k} AS (SELECT a0.x AS x FROM " + ", ".join(f"t{k - 1} a{i}" for i in range(width)) + ")"
        for k in range(1, levels + 1)]
    return "WITH " + ", ".join(ctes) + f" SELECT count(*) FROM t{levels}"


def cases(db: Path) -> list[tuple[str, str]]:
    # At the pattern cap: at each of the 262,000 positions after '%', the
    # literal 'a's match until 'b' fails (the slowest pattern tried here).
    size = sqlexec.MAX_LIKE_PATTERN_BYTES
    like_pattern = "'%" + "a" * (size - 2) + "b'"
    glob_pattern = "'*" + "a" * (size - 2) + "b'"
    built = []
    for label, call in [
        (f"LIKE, {size}-byte pattern", f"((s || {{i}}) LIKE {like_pattern})"),
        (f"GLOB, {size}-byte pattern", f"((s || {{i}}) GLOB {glob_pattern})"),
        ("instr at the value cap", "instr(s, substr(s, 1, 131000) || 'b' || {i})"),
        ("replace at the value cap", "length(replace(s, 'a', 'b' || {i}))"),
        ("upper at the value cap", "length(upper(s || {i}))"),
    ]:
        k, sql = _most_under_budget(db, lambda k, call=call: _per_row(_sum_of(call, k)))
        # One row is what can run past the deadline; then a million of them.
        built.append((f"budget max: {k} x {label}, one row", sql.replace("1000000", "1", 1)))
        built.append((f"budget max: {k} x {label}, per row", sql))
    return built + [
        ("issue 20: instr 2 MB / 1 MB, one call",
         "SELECT instr(printf('%.2000000c','a'), printf('%.1000000c','a')||'b')"),
        ("20 x instr at the cap in one row",
         "SELECT " + ", ".join(f"instr({_VALUE}, printf('%.131000c','a')||'b{i}')"
                               for i in range(20))),
        ("ltrim at the cap, per row",
         _per_row("length(ltrim(s, printf('%.262000c','b') || 'a' || i))")),
        ("compile bomb: CTEs 3 levels x 30", _compile_bomb(3, 30)),
        ("compile bomb: CTEs 4 levels x 20", _compile_bomb(4, 20)),
        ("compile bomb: CTEs 4 levels x 30", _compile_bomb(4, 30)),
        ("compile bomb: CTEs 5 levels x 30", _compile_bomb(5, 30)),
    ]


def _timed(db: Path, sql: str, limit: float) -> tuple[float, str]:
    start = time.perf_counter()
    result = sqlexec.run_query(db, sql, timeout_s=limit)
    return time.perf_counter() - start, result.error or "ok"


def spider_overhead(spider_dir: Path) -> tuple[int, float, float] | None:
    """Seconds to run Spider dev's executable gold with and without the cost check."""
    dev = spider_dir / "dev.json"
    if not dev.is_file():
        return None
    by_db: dict[str, list[str]] = {}
    for example in json.loads(dev.read_text()):
        by_db.setdefault(example["db_id"], []).append(example["query"])
    databases = {db_id: spider_dir / "database" / db_id / f"{db_id}.sqlite" for db_id in by_db}
    databases = {k: v for k, v in databases.items() if v.is_file()}
    real_cost = sqlexec.program_cost

    def run() -> float:
        elapsed = 0.0
        for db_id, path in databases.items():
            with sqlexec.ReadOnlyDatabase(path) as db:
                elapsed += sum(db.execute(sql).elapsed_s for sql in by_db[db_id])
        return elapsed

    # The first pass warms the page cache for both timed passes.
    run()
    with_check = run()
    sqlexec.program_cost = lambda conn, sql: None
    try:
        without = run()
    finally:
        sqlexec.program_cost = real_cost
    return sum(len(by_db[d]) for d in databases), without, with_check


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=float, default=1.0, help="time limit per query (s)")
    parser.add_argument("--spider-dir", type=Path, default=ROOT.parent / "shared/data/spider")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
          f"limit {args.limit} s; budget {sqlexec.MAX_PROGRAM_COST} units")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "scratch.sqlite"
        conn = sqlite3.connect(db)
        conn.execute("CREATE TABLE t (x INTEGER)")
        conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(200)])
        conn.commit()
        conn.close()
        baseline, outcome = _timed(db, "SELECT count(*) FROM t a, t b, t c, t d, t e", args.limit)
        print(f"\n{'case':52} {'wall s':>7} {'/limit':>7} {'/baseline':>9}  outcome")
        print(f"{'baseline: 5-way cross join (progress handler)':52} {baseline:7.2f} "
              f"{baseline / args.limit:7.2f} {1:9.2f}  {outcome}")
        worst = 0.0
        for label, sql in cases(db):
            elapsed, outcome = _timed(db, sql, args.limit)
            worst = max(worst, elapsed)
            print(f"{label:52} {elapsed:7.2f} {elapsed / args.limit:7.2f} "
                  f"{elapsed / baseline:9.2f}  {outcome}")
        print(f"\nworst case: {worst:.2f} s = limit + {worst - args.limit:.2f} s")
    overhead = spider_overhead(args.spider_dir)
    if overhead is not None:
        count, without, with_check = overhead
        print(f"Spider dev gold ({count} queries): {without:.2f} s without the program-cost "
              f"check, {with_check:.2f} s with it ({with_check / without:.2f}x)")


if __name__ == "__main__":
    main()
