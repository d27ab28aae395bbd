"""Per-example agreement of t2s's Spider metrics with the official evaluator.

Builds the prediction sets of ``prediction_sets.py`` from Spider dev gold,
scores every set with the official evaluator (through ``official_driver.py``,
run by an interpreter that has its dependencies) and with t2s, and prints one
row per set: accuracy by each evaluator and the share of examples on which the
verdicts agree. Every disagreement goes to ``OUT/disagreements.jsonl``.

Usage (from the repository root; the official checkout and its venv live
outside the repository, see docs/evaluation.md for how to make them)::

    PYTHONPATH=src .venv/bin/python scripts/agreement/run_agreement.py \
        --official-dir /work/official-eval --official-python /work/official-venv/bin/python \
        --spider-dir ../shared/data/spider --out /tmp/agreement --with-exec

Official verdicts are cached in ``OUT/official/`` under the hash of the
prediction file, so a rerun only re-scores sets whose predictions changed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from prediction_sets import SETS, GoldRow, make_set  # noqa: E402

from t2s.data.spider import DatabaseSchema, load_tables  # noqa: E402
from t2s.evaluation.exact_match import GoldQueryError, exact_match, parse_error  # noqa: E402

DRIVER = Path(__file__).resolve().parent / "official_driver.py"


def read_gold(spider_dir: Path, gold_file: str) -> tuple[Path, list[GoldRow]]:
    """Gold rows of ``gold_file`` (``SQL<TAB>db_id`` lines) with their tables.json entries."""
    with (spider_dir / "tables.json").open(encoding="utf-8") as handle:
        entries = {entry["db_id"]: entry for entry in json.load(handle)}
    path = spider_dir / gold_file
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            sql, db_id = line.strip().split("\t")
            rows.append(GoldRow(sql=sql, db_id=db_id, entry=entries[db_id]))
    return path, rows


def run_official(args: argparse.Namespace, gold_path: Path, pred_path: Path) -> list[dict[str, Any]]:
    """Official verdicts for one prediction file (cached by content hash)."""
    digest = hashlib.sha1(pred_path.read_bytes() + gold_path.read_bytes()).hexdigest()[:16]
    cached = args.out / "official" / f"{pred_path.stem}.{args.etype}.{digest}.jsonl"
    if not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(".partial")
        subprocess.run(
            [str(args.official_python), str(DRIVER), "--official-dir", str(args.official_dir),
             "--gold", str(gold_path), "--pred", str(pred_path),
             "--db", str(args.spider_dir / "database"),
             "--table", str(args.spider_dir / "tables.json"),
             "--etype", args.etype, "--out", str(partial)],
            check=True,
        )
        partial.replace(cached)
    with cached.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def t2s_verdicts(rows: Sequence[GoldRow], preds: Sequence[str],
                 schemas: dict[str, DatabaseSchema], executor: Any) -> list[dict[str, Any]]:
    """t2s exact-match (and, with an executor, execution) verdicts per example."""
    out = []
    for row, pred in zip(rows, preds, strict=True):
        schema = schemas[row.db_id]
        verdict: dict[str, Any] = {"parse_error": parse_error(pred, schema)}
        try:
            verdict["exact"] = exact_match(row.sql, pred, schema)
        except GoldQueryError as error:  # both evaluators reject this gold query
            verdict.update(exact=None, gold_error=str(error))
        if executor is not None:
            verdict["exec"] = _exec(executor, row, pred)
        out.append(verdict)
    return out


def _exec(executor: Any, row: GoldRow, pred: str) -> bool | None:
    from t2s.errors import DataError

    try:
        return executor.evaluate(row.db_id, row.sql, pred).match
    except DataError:  # no database for this db_id (wta_1 here)
        return None


def compare_set(name: str, rows: Sequence[GoldRow], preds: Sequence[str],
                official: Sequence[dict[str, Any]], ours: Sequence[dict[str, Any]]
                ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Agreement counts for one set, and its disagreements."""
    stats: dict[str, Any] = {
        "set": name, "n": len(rows),
        "changed": sum(p != r.sql for p, r in zip(preds, rows, strict=True)),
        # examples where the official run would abort (its gold or its
        # comparison raises): no official verdict to agree with
        "official_no_verdict": sum(o.get("exact") is None for o in official),
    }
    disagreements = []
    for metric in ("exact", "exec"):
        pairs = [(o.get(metric), t.get(metric)) for o, t in zip(official, ours, strict=True)]
        scored = [(bool(o), bool(t)) for o, t in pairs if o is not None and t is not None]
        if not scored:
            continue
        stats[metric] = {
            "scored": len(scored),
            "official": sum(o for o, _ in scored), "t2s": sum(t for _, t in scored),
            "agree": sum(o == t for o, t in scored),
        }
    for i, (row, pred, off, our) in enumerate(zip(rows, preds, official, ours, strict=True)):
        for metric in ("exact", "exec"):
            o, t = off.get(metric), our.get(metric)
            if o is not None and t is not None and bool(o) != bool(t):
                disagreements.append({
                    "set": name, "index": i, "metric": metric, "db_id": row.db_id,
                    "official": bool(o), "t2s": bool(t), "gold": row.sql, "pred": pred,
                    "official_pred_parsed": off.get("pred_parsed"),
                    "t2s_parse_error": our.get("parse_error"),
                })
    return stats, disagreements


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:6.2f}%" if whole else "     -"


def format_table(all_stats: Sequence[dict[str, Any]]) -> str:
    """The agreement table, one row per set plus a total."""
    lines = [f"{'set':24} {'n':>5} {'changed':>7}  {'EM off':>7} {'EM t2s':>7} {'EM agree':>9}"
             f"  {'EX off':>7} {'EX t2s':>7} {'EX agree':>9}  {'no off.':>7}"]
    totals = {m: {"scored": 0, "official": 0, "t2s": 0, "agree": 0} for m in ("exact", "exec")}
    for stats in [*all_stats, None]:
        rows_ = all_stats if stats is None else [stats]
        label = "TOTAL" if stats is None else stats["set"]
        n, changed, none = (sum(s[key] for s in rows_)
                            for key in ("n", "changed", "official_no_verdict"))
        cells = []
        for metric in ("exact", "exec"):
            s = totals[metric] if stats is None else stats.get(metric)
            if stats is not None and s is not None:
                for key in totals[metric]:
                    totals[metric][key] += s[key]
            if not s or not s["scored"]:
                cells.append(f"{'-':>7} {'-':>7} {'-':>9}")
                continue
            cells.append(f"{_pct(s['official'], s['scored']):>7} {_pct(s['t2s'], s['scored']):>7} "
                         f"{_pct(s['agree'], s['scored']):>9}")
        lines.append(f"{label:24} {n:>5} {changed:>7}  " + "  ".join(cells) + f"  {none:>7}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Build the sets, score them both ways, print the table, write disagreements."""
    args = _parser().parse_args(argv)
    names = list(SETS) if args.sets == "all" else args.sets.split(",")
    unknown = [n for n in names if n not in SETS]
    if unknown:
        print(f"unknown sets {unknown}; valid: {', '.join(SETS)}", file=sys.stderr)
        return 2
    gold_path, rows = read_gold(args.spider_dir, args.gold_file)
    schemas = load_tables(args.spider_dir / "tables.json")
    executor = None
    if args.with_exec:
        from t2s.evaluation.execution import ExecutionEvaluator

        executor = ExecutionEvaluator(args.spider_dir / "database")
    (args.out / "sets").mkdir(parents=True, exist_ok=True)
    pred_paths = {}
    for name in names:
        preds = make_set(name, rows, args.seed)
        pred_paths[name] = args.out / "sets" / f"{name}.sql"
        pred_paths[name].write_text("\n".join(preds) + "\n", encoding="utf-8")
    # The official evaluator is single-threaded; two processes fill 2 cores.
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        official = dict(zip(names, pool.map(lambda n: run_official(args, gold_path, pred_paths[n]),
                                            names), strict=True))
    all_stats, all_disagreements, t2s_seconds = [], [], 0.0
    for name in names:
        preds = pred_paths[name].read_text(encoding="utf-8").splitlines()
        start = time.perf_counter()
        ours = t2s_verdicts(rows, preds, schemas, executor)
        t2s_seconds += time.perf_counter() - start
        stats, disagreements = compare_set(name, rows, preds, official[name], ours)
        all_stats.append(stats)
        all_disagreements += disagreements
    print(format_table(all_stats))
    print(f"t2s scoring time: {t2s_seconds:.1f} s for {len(names)} sets")
    with (args.out / "disagreements.jsonl").open("w", encoding="utf-8") as handle:
        for item in all_disagreements:
            handle.write(json.dumps(item) + "\n")
    (args.out / "summary.json").write_text(json.dumps(all_stats, indent=2) + "\n",
                                           encoding="utf-8")
    print(f"{len(all_disagreements)} disagreements -> {args.out / 'disagreements.jsonl'}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--official-dir", type=Path, required=True,
                        help="checkout of taoyds/test-suite-sql-eval (outside this repository)")
    parser.add_argument("--official-python", type=Path, required=True,
                        help="python with nltk, sqlparse and tqdm for the official code")
    parser.add_argument("--spider-dir", type=Path, default=Path("../shared/data/spider"))
    parser.add_argument("--gold-file", default="dev_gold.sql")
    parser.add_argument("--out", type=Path, default=Path("agreement-out"))
    parser.add_argument("--sets", default="all", help=f"comma list of: {', '.join(SETS)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--etype", choices=("match", "all"), default="match",
                        help="'all' also collects official execution verdicts (slower)")
    parser.add_argument("--with-exec", action="store_true",
                        help="also score execution with t2s (use with --etype all)")
    parser.add_argument("--jobs", type=int, default=2, help="official driver processes")
    return parser


if __name__ == "__main__":
    sys.exit(main())
