"""Per-example Soft-F1: t2s vs bird-bench/mini_dev's own evaluation_f1.py, on BIRD mini-dev.

The shared data has BIRD mini-dev's 500 questions, gold SQL and cleaned schema
file, but not its SQLite databases (1.4 GB). So this builds one SQLite database
per mini-dev db_id from that schema file: every table and column as BIRD names
them, ``--rows`` rows per table drawn from each column's own ``sample_values``
(real BIRD values), the literals the gold queries compare that column with, and
NULLs at the column's ``null_fraction``; columns joined by a foreign key share
one pool of values so joins find rows. Then it scores, for every question, the
gold query and realistic wrong ones: gold with one mutation (DISTINCT toggled,
ASC/DESC swapped, LIMIT changed, MAX/MIN, AVG/SUM, COUNT/SUM swapped, ``=`` made
``<>``, an extra column), another question's gold on the same database, a
misspelt keyword and an empty prediction.

t2s scores them with ``evaluate_predictions`` (``eval.exec_metric=bird``); the
official side imports ``evaluation_f1.py`` and ``evaluation_utils.py`` from
``--official`` (a checkout outside this repo, e.g. ``git -C mini_dev show
HEAD:evaluation/evaluation_f1.py``) and calls its ``execute_sql(pred, gold,
db, "SQLite", calculate_f1_score)`` per example, scoring any exception 0 as its
``execute_model`` does, on copies of the databases (it opens them read-write).
``func_timeout``, ``psycopg2`` and ``pymysql`` are stubbed when absent (no
timeout is needed: no query here runs for a second). The table counts the
examples whose two values are equal as floats (``==``), per prediction kind.

Usage:
    git -C /path/to/mini_dev show HEAD:evaluation/evaluation_f1.py > /tmp/bird_eval/evaluation_f1.py
    git -C /path/to/mini_dev show HEAD:evaluation/evaluation_utils.py > /tmp/bird_eval/evaluation_utils.py
    .venv/bin/python bench/bench_bird_soft_f1.py --official /tmp/bird_eval \\
        --data ../shared/data/bird_minidev --work /tmp/t2s-bird-f1
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import re
import shutil
import sqlite3
import sys
import time
import types
from collections import defaultdict
from pathlib import Path
from typing import Any

from t2s.config import EvalConfig
from t2s.data.bird import read_tables
from t2s.evaluation.inputs import read_gold
from t2s.evaluation.runner import evaluate_predictions

_COMPARED = re.compile(r"`?(\w+)`?\s*(?:=|<>|!=|>=|<=|>|<|LIKE)\s*('(?:[^']|'')*'|-?\d+(?:\.\d+)?)",
                       re.IGNORECASE)
_SQL_TYPES = {"integer": "INTEGER", "real": "REAL", "text": "TEXT", "date": "DATE",
              "datetime": "DATETIME"}


def _literal(text: str) -> Any:
    if text.startswith("'"):
        return text[1:-1].replace("''", "'").strip("%")
    return float(text) if "." in text else int(text)


def _pools(entry: dict[str, Any], golds: list[str]) -> dict[tuple[str, str], list[Any]]:
    """Values per (table, column): samples + compared literals, shared along foreign keys."""
    literals: dict[str, set[Any]] = defaultdict(set)
    for sql in golds:
        for column, value in _COMPARED.findall(sql):
            literals[column.lower()].add(_literal(value))
    pools: dict[tuple[str, str], set[Any]] = {}
    for table in entry["tables"]:
        for column in table["columns"]:
            numeric = column.get("type") in ("integer", "real")
            extra = {v for v in literals.get(column["name"].lower(), ())
                     if isinstance(v, (int, float)) == numeric}
            pools[(table["name"], column["name"])] = set(column.get("sample_values") or ()) | extra
    # union-find over foreign keys: joined columns draw from one pool
    parent = {key: key for key in pools}

    def root(key: tuple[str, str]) -> tuple[str, str]:
        while parent[key] != key:
            key = parent[key]
        return key

    for table in entry["tables"]:
        for column in table["columns"]:
            for fk in column.get("foreign_keys") or ():
                other = (fk["reference_table"], fk["reference_column"])
                if other in parent:
                    parent[root((table["name"], column["name"]))] = root(other)
    merged: dict[tuple[str, str], set[Any]] = defaultdict(set)
    for key, values in pools.items():
        merged[root(key)] |= values
    return {key: sorted(merged[root(key)] or {0}, key=repr) for key in pools}


def build_database(entry: dict[str, Any], golds: list[str], path: Path, rows: int,
                   rng: random.Random) -> None:
    """Write one synthetic database for ``entry`` (a cleaned-schema entry)."""
    pools = _pools(entry, golds)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    for table in entry["tables"]:
        columns = table["columns"]
        spec = ", ".join(f'"{c["name"]}" {_SQL_TYPES.get(c.get("type"), "TEXT")}' for c in columns)
        conn.execute(f'CREATE TABLE "{table["name"]}" ({spec})')
        data = [tuple(None if rng.random() < min(0.3, c.get("null_fraction") or 0)
                      else rng.choice(pools[(table["name"], c["name"])]) for c in columns)
                for _ in range(rows)]
        marks = ", ".join("?" for _ in columns)
        conn.executemany(f'INSERT INTO "{table["name"]}" VALUES ({marks})', data)
    conn.commit()
    conn.close()


_MUTATIONS = (
    ("distinct", lambda s: s.replace("SELECT DISTINCT ", "SELECT ", 1) if "SELECT DISTINCT " in s
     else s.replace("SELECT ", "SELECT DISTINCT ", 1)),
    ("order", lambda s: re.sub(r"\b(ASC|DESC)\b", lambda m: "DESC" if m[1] == "ASC" else "ASC", s)
     if re.search(r"\b(ASC|DESC)\b", s) else s.replace("ORDER BY", "ORDER BY 1 DESC,", 1)),
    ("limit", lambda s: re.sub(r"LIMIT (\d+)", lambda m: f"LIMIT {int(m[1]) + 2}", s, count=1)),
    ("aggregate", lambda s: next((s.replace(a, b, 1) for a, b in (
        ("MAX(", "MIN("), ("MIN(", "MAX("), ("AVG(", "SUM("), ("COUNT(", "SUM(")) if a in s), s)),
    ("comparison", lambda s: s.replace(" = ", " <> ", 1)),
    ("extra column", lambda s: re.sub(r"^SELECT (DISTINCT )?", r"SELECT \g<1>1, ", s, count=1)),
)


def predictions_for(golds: list[tuple[str, str]], rng: random.Random) -> list[tuple[int, str, str]]:
    """``(gold index, kind, prediction)`` for every gold query."""
    by_db: dict[str, list[int]] = defaultdict(list)
    for index, (_, db_id) in enumerate(golds):
        by_db[db_id].append(index)
    out = []
    for index, (sql, db_id) in enumerate(golds):
        out.append((index, "gold", sql))
        for kind, mutate in _MUTATIONS:
            mutated = mutate(sql)
            if mutated != sql:
                out.append((index, f"mutated: {kind}", mutated))
        other = rng.choice([i for i in by_db[db_id] if i != index])
        out.append((index, "another question's gold", golds[other][0]))
        if index % 10 == 0:
            out.append((index, "misspelt keyword", sql.replace("SELECT", "SELEC", 1)))
            out.append((index, "empty", ""))
    return out


def build_minidev(data: Path, work: Path, rows: int,
                  rng: random.Random) -> tuple[list[tuple[str, str]], Path, Path]:
    """Into a fresh ``work``: one database per mini-dev db_id and a Spider-format tables.json.

    Returns:
        ``(gold (sql, db_id) pairs, database folder, tables.json)``.
    """
    shutil.rmtree(work, ignore_errors=True)
    golds = [tuple(line.rsplit("\t", 1)) for line in
             (data / "mini_dev_sqlite_gold.sql").read_text(encoding="utf-8").splitlines()
             if line.strip()]
    entries = {e["name"]: e for e in json.loads(
        (data / "dev_tables_cleaned.json").read_text(encoding="utf-8"))}
    database = work / "database"
    for db_id in sorted({db for _, db in golds}):
        build_database(entries[db_id], [sql for sql, db in golds if db == db_id],
                       database / db_id / f"{db_id}.sqlite", rows, rng)
    tables = work / "tables.json"
    tables.write_text(json.dumps(list(read_tables(data / "dev_tables_cleaned.json").values())),
                      encoding="utf-8")
    return golds, database, tables  # type: ignore[return-value]


def load_official(folder: Path) -> Any:
    """``evaluation_f1`` from ``folder``, with stubs for the modules it needs but never uses here."""
    stubs = {"func_timeout": {"func_timeout": lambda timeout, func, args=(): func(*args),
                              "FunctionTimedOut": type("FunctionTimedOut", (Exception,), {})},
             "psycopg2": {}, "pymysql": {}}
    for name, attrs in stubs.items():
        try:
            importlib.import_module(name)
        except ImportError:
            module = types.ModuleType(name)
            module.__dict__.update(attrs)
            sys.modules[name] = module
    sys.path.insert(0, str(folder))
    return importlib.import_module("evaluation_f1"), importlib.import_module("evaluation_utils")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, required=True,
                        help="folder with mini_dev's evaluation_f1.py and evaluation_utils.py")
    parser.add_argument("--data", type=Path, default=Path("../shared/data/bird_minidev"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/t2s-bird-f1"))
    parser.add_argument("--rows", type=int, default=40, help="rows per synthetic table")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    gold_lines, database, tables = build_minidev(args.data, args.work, args.rows, rng)
    entries = {db for _, db in gold_lines}
    cases = predictions_for([(sql, db) for sql, db in gold_lines], rng)
    gold_file = args.work / "gold.sql"
    gold_file.write_text("".join(f"{gold_lines[i][0]}\t{gold_lines[i][1]}\n" for i, _, _ in cases),
                         encoding="utf-8")
    start = time.perf_counter()
    report = evaluate_predictions(
        read_gold(gold_file), [pred for _, _, pred in cases], db_dir=database, tables_path=tables,
        options=EvalConfig(etype="exec", exec_metric="bird"), workers=1, progress=False)
    t2s_s = time.perf_counter() - start
    ours = [e["soft_f1"] for e in report["examples"]]

    f1, utils = load_official(args.official)
    copies = args.work / "official_copy"
    shutil.copytree(database, copies)
    start = time.perf_counter()
    theirs = []
    for index, _, pred in cases:
        sql, db_id = gold_lines[index]
        try:
            theirs.append(utils.execute_sql(pred, sql, str(copies / db_id / f"{db_id}.sqlite"),
                                            "SQLite", f1.calculate_f1_score))
        except Exception:  # noqa: BLE001 - the official execute_model scores any exception 0
            theirs.append(0)
    official_s = time.perf_counter() - start

    by_kind: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for (_, kind, _), a, b in zip(cases, ours, theirs, strict=True):
        by_kind[kind].append((a, b))
    print(f"{len(cases)} predictions on {len(gold_lines)} BIRD mini-dev questions, "
          f"{len(entries)} synthetic databases ({args.rows} rows per table, seed {args.seed})\n")
    print("| prediction | N | equal | mean Soft-F1 t2s | official | nonzero |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind, pairs in [*by_kind.items(), ("all", [p for v in by_kind.values() for p in v])]:
        equal = sum(1 for a, b in pairs if a == b)
        print(f"| {kind} | {len(pairs)} | {equal} | {sum(a for a, _ in pairs) / len(pairs):.4f} | "
              f"{sum(b for _, b in pairs) / len(pairs):.4f} | {sum(1 for a, _ in pairs if a)} |")
    nonempty = 0
    for sql, db_id in gold_lines:
        with sqlite3.connect(copies / db_id / f"{db_id}.sqlite") as conn:
            nonempty += bool(conn.execute(sql).fetchone())
    print(f"\n{nonempty} of {len(gold_lines)} gold results have rows")
    # An empty prediction is 0 in t2s by design; the official code runs "" (no
    # rows) and scores 1 where the gold result is empty too (docs/evaluation.md).
    differing = [(i, kind, a, b) for (i, kind, _), a, b in zip(cases, ours, theirs, strict=True)
                 if a != b and kind != "empty"]
    for index, kind, a, b in differing[:20]:
        print(f"differs: question {index} ({kind}): t2s {a!r}, official {b!r}")
    print(f"{len(differing)} differ outside the empty predictions")
    print(f"time: t2s {t2s_s:.1f} s (1 worker), official {official_s:.1f} s")
    return 0 if not differing else 1


if __name__ == "__main__":
    sys.exit(main())
