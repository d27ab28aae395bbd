"""Benchmark: the cost of sampling metrics and of bootstrap intervals on Spider dev.

Scores the same Spider dev examples three ways in one run, in-process with
:func:`t2s.evaluation.runner.evaluate_predictions` (``eval.etype: all``):

* one prediction per question (the baseline: EX, EM and their intervals);
* ``--n`` candidates per question: the gold query and ``n - 1`` seeded
  perturbations of it (``bench_eval.perturb``: a third are kept as is, the rest
  are plausible mistakes), the first candidate a perturbation, so pass@k and
  maj@k differ from EX;
* the same candidates with intervals off (``eval.bootstrap_samples: 0``).

It prints the best wall time of ``--repeat`` runs, the ratio to the baseline and the metrics; then the time
of building the summary (the bootstrap) with 0 and with 1000 draws. Goal:
n candidates cost at most ~2n x the baseline (each distinct candidate runs
twice: verdict and vote), and 1000 draws add well under a second.

Usage (from the repository root)::

    PYTHONPATH=src .venv/bin/python bench/bench_sampling.py \\
        [--spider-dir ../shared/data/spider] [--n 4] [--limit 972] [--workers 2] [--seed 0] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench_eval import perturb

from t2s.config import EvalConfig
from t2s.data.spider import load_tables
from t2s.evaluation.inputs import GoldExample
from t2s.evaluation.report import build_summary
from t2s.evaluation.runner import evaluate_predictions, score_examples

ROOT = Path(__file__).resolve().parents[1]


def gold_examples(spider_dir: Path, limit: int) -> list[GoldExample]:
    """Spider dev's gold queries whose database exists here (972 of 1,034: no wta_1)."""
    examples = []
    for line in (spider_dir / "dev_gold.sql").read_text(encoding="utf-8").splitlines():
        sql, db_id = (part.strip() for part in line.rsplit("\t", 1))
        if (spider_dir / "database" / db_id / f"{db_id}.sqlite").is_file():
            examples.append(GoldExample(index=len(examples), db_id=db_id, gold=sql, question=None,
                                        id=str(len(examples)), line=len(examples) + 1))
    return examples[:limit]


def copy_databases(spider_dir: Path, examples: list[GoldExample], work: Path) -> Path:
    """A copy of the used databases (the evaluator opens them read-only; the copy is the rule)."""
    for db_id in sorted({e.db_id for e in examples}):
        target = work / "database" / db_id
        target.mkdir(parents=True)
        shutil.copyfile(spider_dir / "database" / db_id / f"{db_id}.sqlite",
                        target / f"{db_id}.sqlite")
    shutil.copyfile(spider_dir / "tables.json", work / "tables.json")
    return work


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    spider_dir = Path(args.spider_dir)
    if not (spider_dir / "dev_gold.sql").is_file():
        print(f"no Spider dev at {spider_dir}", file=sys.stderr)
        return 2
    examples = gold_examples(spider_dir, args.limit)
    rng = random.Random(args.seed)
    candidates = []
    for example in examples:
        drawn = [perturb(example.gold, rng) for _ in range(args.n - 1)] + [example.gold]
        candidates.append([sql.replace("\n", " ") for sql in drawn])
    with tempfile.TemporaryDirectory(prefix="t2s-bench-sampling-") as tmp:
        work = copy_databases(spider_dir, examples, Path(tmp))
        common = {"db_dir": work / "database", "tables_path": work / "tables.json",
                  "workers": args.workers, "progress": False}
        rows = []
        for name, drawn, draws in (("1 candidate", None, 1000),
                                   (f"{args.n} candidates", candidates, 1000),
                                   (f"{args.n} candidates, no intervals", candidates, 0)):
            options = EvalConfig(workers=args.workers, bootstrap_samples=draws, seed=args.seed)
            walls = []
            for _ in range(args.repeat):  # the best of --repeat: the first also warms the page cache
                start = time.perf_counter()
                report = evaluate_predictions(examples, [c[0] for c in candidates],
                                              options=options, candidates=drawn, **common)
                walls.append(time.perf_counter() - start)
            rows.append((name, min(walls), report["summary"]))
        results = score_examples(examples, [c[0] for c in candidates], db_dir=work / "database",
                                 schemas=load_tables(work / "tables.json"),
                                 options=EvalConfig(), workers=args.workers, progress=False,
                                 candidates=candidates)
    base = rows[0][1]
    keys = ["execution", "exact_match", "pass@1", f"pass@{args.n}", f"maj@{args.n}"]
    print(f"{len(examples)} Spider dev examples, {args.workers} workers")
    print(f"{'run':<28}{'wall s':>8}{'x base':>8}" + "".join(f"{k:>12}" for k in keys))
    for name, wall, summary in rows:
        cells = "".join(f"{100 * summary[k]['accuracy']:>12.1f}" if summary.get(k) else f"{'-':>12}"
                        for k in keys)
        print(f"{name:<28}{wall:>8.2f}{wall / base:>8.2f}{cells}")
    print(f"\nbuilding the summary of {len(results)} examples (with {args.n} candidates each):")
    for draws in (0, 1000):
        start = time.perf_counter()
        build_summary(results, EvalConfig(bootstrap_samples=draws))
        print(f"  eval.bootstrap_samples={draws:<5} {time.perf_counter() - start:.3f} s")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spider-dir", default=str(ROOT.parent / "shared" / "data" / "spider"))
    parser.add_argument("--n", type=int, default=4, help="candidates per question")
    parser.add_argument("--limit", type=int, default=972, help="examples at most")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="runs per row; the best is shown")
    return parser


if __name__ == "__main__":
    sys.exit(main())
