"""Per-example verdicts from the official Spider evaluator (test-suite-sql-eval).

The official ``evaluation.py`` prints aggregate tables only. This driver imports
its functions from a checkout given by ``--official-dir`` (it contains none of
their code) and applies them one example at a time, in the order that the
official ``evaluate()`` does, so the harness can compare verdicts per example.

Run it with an interpreter that has the official evaluator's dependencies
(nltk, sqlparse, tqdm), not with the t2s venv::

    /work/official-venv/bin/python scripts/agreement/official_driver.py \
        --official-dir /work/official-eval --gold GOLD.sql --pred PRED.sql \
        --db ../shared/data/spider/database --table ../shared/data/spider/tables.json \
        --etype all --out official.jsonl

Three adaptations, each needed to run it here and none changing a verdict on
Spider's queries:

1. ``nltk.word_tokenize`` is called with ``preserve_line=True``: the default
   first runs the Punkt sentence splitter, whose data cannot be downloaded here.
2. Databases are opened read-only (``mode=ro``) and every query gets a 60-s
   limit through a SQLite progress handler. The official code meant 60 s
   (``TIMEOUT = 60``) but ``asyncio.wait_for`` cannot interrupt a synchronous
   ``sqlite3`` call, so a runaway prediction would otherwise hang the run.
   A prediction stopped by the limit is wrong, as it would be officially.
3. A db_id without a SQLite file (wta_1 in this copy of Spider) is not opened:
   ``sqlite3.connect`` would create an empty file inside the data directory.
   Its exact-match schema is read from tables.json instead and its execution
   verdict is ``null``.
"""

from __future__ import annotations

import argparse
import functools
import json
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

# Official TIMEOUT in exec_eval.py; see the module docstring, point 2.
QUERY_LIMIT_S = 60.0
# The progress handler runs every N SQLite VM instructions; 10,000 is ~1 ms.
PROGRESS_EVERY = 10_000


def _load_official(official_dir: Path) -> dict[str, Any]:
    """Import the official modules and apply the adaptations of the docstring."""
    sys.path.insert(0, str(official_dir))
    import evaluation
    import exec_eval
    import nltk  # only in the official venv
    import process_sql

    process_sql.word_tokenize = functools.partial(nltk.word_tokenize, preserve_line=True)
    exec_eval.get_cursor_from_path = _read_only_cursor
    return {"evaluation": evaluation, "exec_eval": exec_eval, "process_sql": process_sql}


def _read_only_cursor(sqlite_path: str) -> sqlite3.Cursor:
    """A read-only cursor with a time limit, decoding text as the official code does."""
    connection = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    connection.text_factory = lambda b: b.decode(errors="ignore")
    deadline = time.monotonic() + QUERY_LIMIT_S
    connection.set_progress_handler(lambda: int(time.monotonic() > deadline), PROGRESS_EVERY)
    return connection.cursor()


def _schema_from_tables_json(entry: dict[str, Any]) -> dict[str, list[str]]:
    """``{table: [columns]}`` lower-cased, the shape of the official ``get_schema``."""
    tables = [name.lower() for name in entry["table_names_original"]]
    schema: dict[str, list[str]] = {name: [] for name in tables}
    for table_index, column in entry["column_names_original"]:
        if table_index >= 0:
            schema[tables[table_index]].append(column.lower())
    return schema


def _read_lines(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as handle:
        return [line.rstrip("\n") for line in handle]


def _verdict(mods: dict[str, Any], gold_sql: str, db_id: str, pred_sql: str,
             db_dir: Path, entries: dict[str, Any], kmaps: dict[str, Any],
             etype: str) -> dict[str, Any]:
    """One example, following the per-example steps of the official ``evaluate()``."""
    evaluation, process_sql = mods["evaluation"], mods["process_sql"]
    pred_sql = pred_sql.replace("value", "1")  # as official evaluate() does
    db_path = db_dir / db_id / f"{db_id}.sqlite"
    has_db = db_path.is_file()
    if has_db:
        schema = process_sql.Schema(process_sql.get_schema(str(db_path)))
    else:
        schema = process_sql.Schema(_schema_from_tables_json(entries[db_id]))
    result: dict[str, Any] = {"db_id": db_id, "has_db": has_db}
    try:
        gold = process_sql.get_sql(schema, gold_sql)
    except Exception as exc:  # the official parser raises anything (asserts, KeyError...)
        result.update(gold_error=f"{type(exc).__name__}: {exc}", exact=None, exec=None)
        return result
    result["hardness"] = evaluation.Evaluator().eval_hardness(gold)
    try:
        pred = process_sql.get_sql(schema, pred_sql)
        result["pred_parsed"] = True
    except Exception:  # the official evaluate() catches everything here too
        pred = _empty_sql()
        result["pred_parsed"] = False
    if etype in ("all", "exec"):
        result["exec"] = _exec_verdict(mods, db_path, pred_sql, gold_sql) if has_db else None
    kmap = kmaps[db_id]
    try:
        gold_units = evaluation.build_valid_col_units(gold["from"]["table_units"], schema)
        gold = evaluation.rebuild_sql_col(gold_units, evaluation.rebuild_sql_val(gold), kmap)
        pred_units = evaluation.build_valid_col_units(pred["from"]["table_units"], schema)
        pred = evaluation.rebuild_sql_col(pred_units, evaluation.rebuild_sql_val(pred), kmap)
        result["exact"] = int(evaluation.Evaluator().eval_exact_match(pred, gold))
    except Exception as exc:
        # The official run would crash here (e.g. a condition list misaligned
        # by a missing AND, or two FROM subqueries to sort): no verdict.
        result.update(exact=None, exact_error=f"{type(exc).__name__}: {exc}")
    return result


def _exec_verdict(mods: dict[str, Any], db_path: Path, pred_sql: str, gold_sql: str) -> int | None:
    try:
        return int(mods["exec_eval"].eval_exec_match(
            db=str(db_path), p_str=pred_sql, g_str=gold_sql, plug_value=False,
            keep_distinct=False, progress_bar_for_each_datapoint=False))
    except AssertionError:  # the gold query failed on its own database
        return None


def _empty_sql() -> dict[str, Any]:
    """The structure official evaluate() scores when a prediction does not parse."""
    return {"except": None, "from": {"conds": [], "table_units": []}, "groupBy": [],
            "having": [], "intersect": None, "limit": None, "orderBy": [],
            "select": [False, []], "union": None, "where": []}


def main(argv: list[str] | None = None) -> int:
    """Write one JSON line of official verdicts per example."""
    args = _parser().parse_args(argv)
    mods = _load_official(args.official_dir.resolve())
    with args.table.open(encoding="utf-8") as handle:
        entries = {entry["db_id"]: entry for entry in json.load(handle)}
    kmaps = {db_id: mods["evaluation"].build_foreign_key_map(e) for db_id, e in entries.items()}
    gold_lines = _read_lines(args.gold)
    pred_lines = _read_lines(args.pred)
    if len(gold_lines) != len(pred_lines):
        print(f"{args.gold} has {len(gold_lines)} lines, {args.pred} {len(pred_lines)}",
              file=sys.stderr)
        return 2
    with args.out.open("w", encoding="utf-8") as out:
        for index, (gold_line, pred_line) in enumerate(zip(gold_lines, pred_lines, strict=True)):
            gold_sql, db_id = gold_line.strip().split("\t")
            pred_sql = pred_line.strip().split("\t")[0]  # official: first tab field
            row = _verdict(mods, gold_sql, db_id, pred_sql, args.db, entries, kmaps, args.etype)
            out.write(json.dumps({"index": index, **row}) + "\n")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--official-dir", type=Path, required=True,
                        help="checkout of taoyds/test-suite-sql-eval")
    parser.add_argument("--gold", type=Path, required=True, help="SQL<TAB>db_id per line")
    parser.add_argument("--pred", type=Path, required=True, help="one SQL per line")
    parser.add_argument("--db", type=Path, required=True, help="database directory")
    parser.add_argument("--table", type=Path, required=True, help="tables.json")
    parser.add_argument("--etype", choices=("match", "all"), default="match")
    parser.add_argument("--out", type=Path, required=True, help="JSONL verdicts")
    return parser


if __name__ == "__main__":
    sys.exit(main())
