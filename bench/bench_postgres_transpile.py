"""Benchmark: how much of Spider dev's gold SQL survives the move to PostgreSQL.

Each dev database is imported (``t2s db import``'s library call) into one schema
of one PostgreSQL database, read through a SELECT-only role made from ``t2s db
grant-readonly``'s statements. Every gold query runs on SQLite as written and on
PostgreSQL as :func:`t2s.db.transpile.to_postgres` writes it, in three variants
(the baseline first, in the same run): sqlglot alone, + double-quoted non-names
as strings, + LIKE as ILIKE (the library's default, what scoring and training
use). Both engines are reached through :func:`t2s.sqlexec.run_query`. Results are
compared with the evaluator's ``results_match`` (multiset, ordered when the gold
has ORDER BY, columns may be permuted) after one normalisation: every number
becomes a float (PostgreSQL's ``sum``/``avg`` of integers are ``numeric``,
SQLite's are int/float).

Prints, per variant, the counts (executable on SQLite, transpiled, ran on
PostgreSQL, same rows) and, for the library's variant, the failure classes with
an example each.

Usage (from the repository root; the server from scripts/postgres-local/start.sh)::

    PYTHONPATH=src .venv/bin/python bench/bench_postgres_transpile.py \\
        --admin "$(cat /tmp/t2s-postgres/dsn)" --spider ../shared/data/spider [--out outputs/bench_pg.json]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

from t2s.data.spider import load_tables
from t2s.db import postgres
from t2s.db.grants import ReadOnlyGrant, grant_readonly_sql, quote_ident
from t2s.db.importer import INTEGER_TEXT, import_sqlite
from t2s.db.transpile import TranspileError, schema_names, to_postgres
from t2s.evaluation.execution import order_matters, results_match
from t2s.sqlexec import run_query

DATABASE = "t2s_bench_spider"
READER = "t2s_bench_reader"


def with_params(dsn: str, **params: str) -> str:
    """``dsn`` (a URI) with ``params`` set; the others kept."""
    conninfo = postgres.load_psycopg().conninfo
    merged = {**conninfo.conninfo_to_dict(dsn), **params}
    query = "&".join(f"{k}={quote(str(v), safe='/')}" for k, v in merged.items())
    return f"postgresql:///?{query}"


def prepare_server(admin: str, spider: Path, db_ids: list[str]) -> str:
    """Import ``db_ids`` into schemas of one fresh database; the reader's DSN template."""
    with postgres.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"DROP ROLE IF EXISTS {READER}")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    target = with_params(admin, dbname=DATABASE)
    with postgres.connect(target, autocommit=True) as conn:
        for db_id in db_ids:
            # Lowercase: search_path folds an unquoted name (cre_Doc_Template_Mgt).
            conn.execute(f"CREATE SCHEMA {quote_ident(db_id.lower())}")
    with tempfile.TemporaryDirectory() as tmp:
        for db_id in db_ids:
            # A copy: the share is read-only, and its files may be WAL-mode.
            copy = shutil.copy(spider / "database" / db_id / f"{db_id}.sqlite", Path(tmp) / db_id)
            import_sqlite(copy, target, schema=db_id.lower())
    with postgres.connect(target, autocommit=True) as conn:
        for statement in grant_readonly_sql(ReadOnlyGrant(READER, DATABASE, tuple(d.lower() for d in db_ids))):
            conn.execute(statement)
    return with_params(admin, dbname=DATABASE, user=READER)


def normalise(rows: list[tuple]) -> list[tuple]:
    """Numbers as floats, so ``sum`` in numeric and in int compare equal, and text
    that spells an integer as that number (the import made such columns bigint)."""
    def value(v):
        if isinstance(v, str) and INTEGER_TEXT.fullmatch(v):
            return float(v)
        return float(v) if isinstance(v, int | float | Decimal) and not isinstance(v, bool) else v
    return [tuple(value(v) for v in row) for row in rows]


# (label, to_postgres options): the baseline first, the library's default last.
VARIANTS = (("sqlglot alone", {"strings": False, "ilike": False}),
            ("+ double-quoted strings", {"strings": True, "ilike": False}),
            ("+ LIKE as ILIKE (library default)", {"strings": True, "ilike": True}))


def failure_class(message: str) -> str:
    """A message with its names and literals blanked, so alike failures count together."""
    message = message.splitlines()[0]
    message = re.sub(r'"[^"]*"', '"…"', message)
    return re.sub(r"\b\d+\b", "N", message)[:90]


def run_variant(gold: list[tuple[str, str]], sqlite_results: list, reader: str,
                names: dict[str, set[str]], options: dict[str, bool]) -> list[dict]:
    """One outcome per gold query: transpiled with ``options``, run on PostgreSQL, compared."""
    outcomes = []
    for (sql, db_id), sqlite in zip(gold, sqlite_results, strict=True):
        outcome = {"db_id": db_id, "sql": sql, "sqlite_ok": sqlite.ok}
        outcomes.append(outcome)
        if not sqlite.ok:
            continue
        try:
            pg_sql = to_postgres(sql, names[db_id], **options)
        except TranspileError as exc:
            outcome["class"] = f"transpile: {failure_class(str(exc))}"
            continue
        outcome["postgres_sql"] = pg_sql
        result = run_query(with_params(reader, options=f"-csearch_path={db_id.lower()}"), pg_sql)
        outcome["postgres_ok"], outcome["postgres_s"] = result.ok, result.elapsed_s
        if not result.ok:
            outcome["class"] = f"{result.error}: {failure_class(result.message)}"
        elif not results_match(normalise(sqlite.rows), normalise(result.rows), order_matters(sql)):
            outcome["class"] = "different rows"
        outcome["same"] = "class" not in outcome
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--admin", required=True, help="a superuser DSN of the server")
    parser.add_argument("--spider", type=Path, required=True, help="Spider folder (dev_gold.sql, database/)")
    parser.add_argument("--out", type=Path, help="write the library variant's per-query outcomes as JSON here")
    args = parser.parse_args()

    gold = [line.rsplit("\t", 1) for line in
            (args.spider / "dev_gold.sql").read_text(encoding="utf-8").splitlines() if line.strip()]
    # wta_1 ships only a .sql dump: its 62 questions are not executable (972 of 1,034 are).
    db_ids = sorted({db_id for _, db_id in gold
                     if (args.spider / "database" / db_id / f"{db_id}.sqlite").is_file()})
    gold = [(sql, db_id) for sql, db_id in gold if db_id in db_ids]
    start = time.perf_counter()
    reader = prepare_server(args.admin, args.spider, db_ids)
    schemas = load_tables(args.spider / "tables.json")
    names = {db_id: schema_names(schemas[db_id]) for db_id in db_ids}
    print(f"imported {len(db_ids)} databases in {time.perf_counter() - start:.1f} s")
    sqlite_results = [run_query(args.spider / "database" / db_id / f"{db_id}.sqlite", sql)
                      for sql, db_id in gold]
    print(f"SQLite: {len(gold)} gold queries, {sum(r.ok for r in sqlite_results)} executable, "
          f"{sum(r.elapsed_s for r in sqlite_results):.2f} s")

    print(f"{'variant':36s} {'transpiled':>10s} {'ran on PG':>10s} {'same rows':>10s} {'% of exec':>9s} {'PG s':>6s}")
    for label, options in VARIANTS:
        outcomes = run_variant(gold, sqlite_results, reader, names, options)
        executable = [o for o in outcomes if o["sqlite_ok"]]
        transpiled = [o for o in executable if "postgres_sql" in o]
        ran = [o for o in transpiled if o.get("postgres_ok")]
        same = [o for o in ran if o["same"]]
        pg_s = sum(o.get("postgres_s", 0.0) for o in outcomes)
        print(f"{label:36s} {len(transpiled):10d} {len(ran):10d} {len(same):10d} "
              f"{100 * len(same) / max(len(executable), 1):8.1f}% {pg_s:6.2f}")
    classes = Counter(o["class"] for o in outcomes if "class" in o)
    examples: dict[str, str] = {}
    for o in outcomes:
        if "class" in o:
            examples.setdefault(o["class"], f"{o['sql']}  =>  {o.get('postgres_sql', '')}")
    print("\nfailure classes of the library's variant:")
    for name, count in classes.most_common(25):
        print(f"{count:4d}  {name}\n      e.g. {examples[name][:220]}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(outcomes, indent=1), encoding="utf-8")
    with postgres.connect(args.admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {DATABASE} WITH (FORCE)")
        conn.execute(f"DROP ROLE {READER}")


if __name__ == "__main__":
    main()
