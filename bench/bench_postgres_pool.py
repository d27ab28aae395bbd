"""Benchmark: serving's PostgreSQL session pool against a session per statement.

One small database (Spider's concert_singer shape, 4 singers) is imported into
PostgreSQL and read through a SELECT-only role. The baseline, in the same run, is
what serving would do without a pool: :func:`t2s.sqlexec.run_query` opens a
read-only session (role checks included), runs the statement and closes it. The
pool (:class:`t2s.db.pool.ConnectionPool`, as ``t2s serve`` uses it) keeps its
sessions. Both run N statements one after another, then the same N from
``--threads`` threads at once; the pool's row also gives the most sessions the
server held for the role (``pg_stat_activity``, read after every statement).

Usage (from the repository root; the server from scripts/postgres-local/start.sh)::

    PYTHONPATH=src .venv/bin/python bench/bench_postgres_pool.py \\
        --admin "$(cat /tmp/t2s-postgres/dsn)" [--n 200] [--threads 24] [--pool 3]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

from t2s.db import postgres
from t2s.db.grants import ReadOnlyGrant, grant_readonly_sql, quote_ident
from t2s.db.importer import import_sqlite
from t2s.sqlexec import open_pool, run_query

NAME, ROLE = "t2s_bench_pool", "t2s_bench_pool_reader"
SQL = "SELECT name, age FROM singer WHERE age > 30 ORDER BY age"


def _dsn(admin: str, user: str, dbname: str) -> str:
    params = postgres.load_psycopg().conninfo.conninfo_to_dict(admin)
    query = f"?host={params['host']}&port={params['port']}" if params.get("host", "").startswith("/") else ""
    netloc = "" if query else f"{params.get('host', 'localhost')}:{params.get('port', 5432)}"
    return f"postgresql://{quote(user, safe='')}@{netloc}/{dbname}{query}"


def setup(admin: str) -> str:
    """The database and its reader; the reader's DSN."""
    with postgres.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(NAME)} WITH (FORCE)")
        conn.execute(f"DROP ROLE IF EXISTS {quote_ident(ROLE)}")
        conn.execute(f"CREATE DATABASE {quote_ident(NAME)}")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "singers.sqlite"
        with sqlite3.connect(source) as conn:
            conn.executescript("CREATE TABLE singer (singer_id INTEGER PRIMARY KEY, name TEXT, age INT);"
                               "INSERT INTO singer VALUES (1,'Joe',52),(2,'Tim',32),(3,'Jus',29),(4,'Ro',41);")
        import_sqlite(source, _dsn(admin, "t2s_admin", NAME))
    with postgres.connect(_dsn(admin, "t2s_admin", NAME), autocommit=True) as conn:
        for statement in grant_readonly_sql(ReadOnlyGrant(ROLE, NAME)):
            conn.execute(statement)
    return _dsn(admin, ROLE, NAME)


def measure(run, n: int, threads: int) -> tuple[float, float, float]:
    """(p50 ms sequential, p95 ms sequential, wall s for n statements from ``threads`` threads)."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        assert run().ok
        times.append((time.perf_counter() - start) * 1000)
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as workers:
        assert all(r.ok for r in workers.map(lambda _: run(), range(n)))
    return statistics.median(times), statistics.quantiles(times, n=20)[18], time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--admin", required=True, help="a superuser DSN of the server")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--threads", type=int, default=24)
    parser.add_argument("--pool", type=int, default=3)
    args = parser.parse_args()
    reader = setup(args.admin)
    try:
        pool = open_pool(reader, args.pool)
        seen: list[int] = []
        lock = threading.Lock()
        with postgres.connect(args.admin, autocommit=True) as admin:
            def observe(_open: int) -> None:
                with lock:
                    seen.append(admin.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s",
                                              (ROLE,)).fetchone()[0])
            base = measure(lambda: run_query(reader, SQL), args.n, args.threads)
            pool.on_session = observe
            pooled = measure(lambda: pool.execute(SQL, wait_s=10.0), args.n, args.threads)
        pool.close()
        print(f"{args.n} statements; concurrent: {args.threads} threads\n")
        print("| path | p50 ms (one at a time) | p95 ms | concurrent wall s | max sessions |")
        print("| --- | --- | --- | --- | --- |")
        print(f"| session per statement (baseline) | {base[0]:.2f} | {base[1]:.2f} | {base[2]:.2f} | "
              f"up to {args.threads} |")
        print(f"| pool of {args.pool} | {pooled[0]:.2f} | {pooled[1]:.2f} | {pooled[2]:.2f} | "
              f"{max(seen)} |")
    finally:
        with postgres.connect(args.admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(NAME)} WITH (FORCE)")
            conn.execute(f"DROP ROLE IF EXISTS {quote_ident(ROLE)}")


if __name__ == "__main__":
    main()
