"""Benchmark: t2s evaluate vs the official Spider evaluator on the same predictions.

Both score the same Spider dev predictions (``--etype all``: exact match and
execution) in one run; the script prints their wall times, the ratio, and how
many per-example verdicts differ. Goal: t2s <= 0.5x the official wall time on
2 cores, with identical verdicts.

Usage (from the repository root; the official checkout and an interpreter with
its dependencies, nltk and sqlparse, live outside the repository)::

    PYTHONPATH=src .venv/bin/python bench/bench_eval.py \\
        --official-dir /work/official-eval --official-python /work/official-venv/bin/python \\
        [--spider-dir ../shared/data/spider] [--n 1000] [--workers 2] [--repeat 3]

How each side is run and timed (wall clock of a fresh process, start-up included):

* t2s: ``python -m t2s.cli evaluate --gold G --pred P --db D --table T --out R
  --etype all --no-progress eval.workers=N``.
* official: its ``evaluate()`` with the defaults of its command line (``--etype
  all``, no ``--plug_value``, no ``--keep_distinct``), in its own interpreter.
  Two things are patched in memory, neither changing a verdict on Spider:
  ``nltk.word_tokenize`` gets ``preserve_line=True`` (Punkt data cannot be
  downloaded here), and its per-example exec/exact results are recorded as they
  are computed (the official script prints only totals).

The databases are first copied to a temporary folder and both evaluators read
the copy, because the official evaluator opens databases read-write. Spider's
dev split has 1,034 questions but this copy lacks the wta_1 database (62), so
at most 972 examples can be executed; ``--n`` is capped there.

Predictions are the gold queries, deterministically perturbed (seeded): kept
as is, re-cased, columns reordered, DISTINCT added or dropped, a number or
string changed, ORDER BY direction flipped, LIMIT dropped, a table renamed,
truncated, ``count(*)`` -> ``count(1)``, ``>=`` written ``> =``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Runs inside the official evaluator's interpreter; argv: official_dir gold pred
# db tables verdicts_out. Contains no official code: it imports it and wraps
# two functions to record per-example verdicts.
_OFFICIAL_DRIVER = r"""
import functools, json, os, sys
official_dir, gold, pred, db, tables, out = sys.argv[1:7]
sys.path.insert(0, official_dir)
os.chdir(official_dir)
import nltk
nltk.word_tokenize = functools.partial(nltk.word_tokenize, preserve_line=True)
import process_sql
process_sql.word_tokenize = nltk.word_tokenize
import evaluation
exec_log, exact_log = [], []
_exec = evaluation.eval_exec_match
def exec_recorded(*args, **kwargs):
    result = _exec(*args, **kwargs)
    exec_log.append(int(result))
    return result
evaluation.eval_exec_match = exec_recorded
_exact = evaluation.Evaluator.eval_exact_match
depth = [0]
def exact_recorded(self, pred, label):
    depth[0] += 1  # nested INTERSECT/UNION/EXCEPT parts call it again: record the top only
    try:
        result = _exact(self, pred, label)
    finally:
        depth[0] -= 1
    if depth[0] == 0:
        exact_log.append(int(result))
    return result
evaluation.Evaluator.eval_exact_match = exact_recorded
kmaps = evaluation.build_foreign_key_map_from_json(tables)
with open(os.devnull, "w") as devnull:
    stdout, sys.stdout = sys.stdout, devnull
    evaluation.evaluate(gold, pred, db, "all", kmaps, False, False, False)
    sys.stdout = stdout
with open(out, "w") as handle:
    json.dump({"exec": exec_log, "exact": exact_log}, handle)
"""


def perturb(sql: str, rng: random.Random) -> str:
    """One deterministic, plausible-looking mistake (or none) applied to ``sql``."""
    kind = rng.choice(["same", "same", "same", "lower", "reorder", "distinct", "nodistinct",
                       "number", "string", "order", "limit", "table", "truncate", "count1",
                       "spaced"])
    if kind == "lower":
        return sql.lower()
    if kind == "reorder":
        match = re.match(r"(?is)^select\s+(.*?)\s+from\s", sql)
        if match and "," in match.group(1) and "(" not in match.group(1):
            columns = [c.strip() for c in match.group(1).split(",")]
            rng.shuffle(columns)
            return "SELECT " + " , ".join(columns) + sql[match.end(1):]
        return sql
    if kind == "distinct":
        return re.sub(r"(?i)^select\s", "SELECT DISTINCT ", sql, count=1)
    if kind == "nodistinct":
        return re.sub(r"(?i)distinct\s*", "", sql)
    if kind == "number":
        return re.sub(r"\b(\d+)\b", lambda m: str(int(m.group(1)) + 1), sql, count=1)
    if kind == "string":
        return re.sub(r"'([^']*)'", lambda m: "'" + m.group(1)[::-1] + "'", sql, count=1)
    if kind == "order":
        if re.search(r"(?i)\bdesc\b", sql):
            return re.sub(r"(?i)\bdesc\b", "ASC", sql)
        return re.sub(r"(?i)\basc\b", "DESC", sql)
    if kind == "limit":
        return re.sub(r"(?i)\s+limit\s+\d+", "", sql)
    if kind == "table":
        return re.sub(r"(?i)\bfrom\s+(\w+)", lambda m: f"FROM {m.group(1)}_x", sql, count=1)
    if kind == "truncate":
        return sql[: max(1, len(sql) * 2 // 3)]
    if kind == "count1":
        return sql.replace("count(*)", "count(1)")
    if kind == "spaced":
        return sql.replace(">=", "> =").replace("<=", "< =").replace("!=", "! =")
    return sql


def prepare(spider_dir: Path, work: Path, n: int, seed: int) -> int:
    """Write gold.sql, pred.sql and a copy of the needed databases into ``work``."""
    gold = []
    for line in (spider_dir / "dev_gold.sql").read_text(encoding="utf-8").splitlines():
        sql, db_id = line.rsplit("\t", 1)
        if (spider_dir / "database" / db_id / f"{db_id}.sqlite").is_file():
            gold.append((sql.strip(), db_id.strip()))
    gold = gold[:n]
    rng = random.Random(seed)
    (work / "gold.sql").write_text("".join(f"{s}\t{d}\n" for s, d in gold), encoding="utf-8")
    (work / "pred.sql").write_text("".join(perturb(s, rng).replace("\n", " ") + "\n"
                                           for s, _ in gold), encoding="utf-8")
    for db_id in sorted({d for _, d in gold}):
        target = work / "database" / db_id
        target.mkdir(parents=True)
        shutil.copyfile(spider_dir / "database" / db_id / f"{db_id}.sqlite",
                        target / f"{db_id}.sqlite")
    shutil.copyfile(spider_dir / "tables.json", work / "tables.json")
    return len(gold)


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    """Run ``command`` to completion; return its wall time. Exits on failure."""
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"command failed ({done.returncode}): {' '.join(command[:4])} ...\n"
                 f"{done.stderr[-3000:]}")
    return wall


def main(argv: list[str] | None = None) -> int:
    """Prepare the inputs, time both evaluators, compare verdicts, print a table."""
    args = _parser().parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="t2s-bench-eval-"))
    try:
        n = prepare(args.spider_dir.resolve(), work, args.n, args.seed)
        files = [str(work / name) for name in ("gold.sql", "pred.sql", "database", "tables.json")]
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        t2s_cmd = [sys.executable, "-m", "t2s.cli", "evaluate", "--gold", files[0],
                   "--pred", files[1], "--db", files[2], "--table", files[3],
                   "--out", str(work / "REPORT.json"), "--etype", "all",
                   "--no-progress", f"eval.workers={args.workers}"]
        official_cmd = [args.official_python, "-c", _OFFICIAL_DRIVER,
                        str(args.official_dir.resolve()), *files, str(work / "official.json")]
        t2s_times, official_times = [], []
        for _ in range(args.repeat):  # interleaved, so machine load affects both alike
            official_times.append(timed(official_cmd))
            t2s_times.append(timed(t2s_cmd, env))
        report = json.loads((work / "REPORT.json").read_text(encoding="utf-8"))
        official = json.loads((work / "official.json").read_text(encoding="utf-8"))
        ours_exec = [int(e["execution_match"]) for e in report["examples"]]
        ours_exact = [int(e["exact_match"]) for e in report["examples"]]
        exec_diff = [i for i, (a, b) in enumerate(zip(ours_exec, official["exec"], strict=True))
                     if a != b]
        exact_diff = [i for i, (a, b) in enumerate(zip(ours_exact, official["exact"],
                                                       strict=True)) if a != b]
        official_s, t2s_s = statistics.median(official_times), statistics.median(t2s_times)
        print(f"{n} Spider dev predictions, --etype all, {os.cpu_count()} CPUs, "
              f"t2s --workers {args.workers}, median of {args.repeat} runs")
        print(f"{'evaluator':<12}{'wall s':>9}{'exec %':>9}{'exact %':>9}")
        print(f"{'official':<12}{official_s:>9.2f}{100 * sum(official['exec']) / n:>9.1f}"
              f"{100 * sum(official['exact']) / n:>9.1f}")
        print(f"{'t2s':<12}{t2s_s:>9.2f}{100 * sum(ours_exec) / n:>9.1f}"
              f"{100 * sum(ours_exact) / n:>9.1f}")
        print(f"ratio t2s/official: {t2s_s / official_s:.2f}x  (all runs: official "
              f"{', '.join(f'{t:.2f}' for t in official_times)}; t2s "
              f"{', '.join(f'{t:.2f}' for t in t2s_times)})")
        print(f"verdicts that differ: exec {len(exec_diff)}/{n} {exec_diff[:20]}, "
              f"exact {len(exact_diff)}/{n} {exact_diff[:20]}")
        if args.keep:
            print(f"inputs and reports kept in {work}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--official-dir", type=Path, required=True,
                        help="checkout of taoyds/test-suite-sql-eval (outside this repo)")
    parser.add_argument("--official-python", default="python3",
                        help="interpreter with nltk and sqlparse for the official evaluator")
    parser.add_argument("--spider-dir", type=Path,
                        default=Path(os.environ.get("T2S_SPIDER_DIR",
                                                    ROOT.parent / "shared/data/spider")))
    parser.add_argument("--n", type=int, default=1000, help="predictions (capped at 972)")
    parser.add_argument("--workers", type=int, default=2, help="t2s worker processes")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each (median)")
    parser.add_argument("--seed", type=int, default=0, help="perturbation seed")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return parser


if __name__ == "__main__":
    sys.exit(main())
