"""Benchmark: test-suite accuracy (TS, generated neighbours) vs EX on Spider dev.

Scores Spider dev's executable gold queries as their own predictions, and a
mutated set (each gold's first near-miss mutation, as the neighbour builder
makes them: dropped DISTINCT, flipped comparison, changed aggregate, dropped
condition, swapped column; gold itself when it has none), three ways:

* EX only (``eval.etype=exec``), the baseline;
* TS cold: neighbours built into an empty cache, then scored;
* TS warm: the same, the neighbours recalled from the cache.

It prints wall time, EX %, TS % and time / EX time per row. Goals: gold scores
TS = 100%; TS <= EX on every set; warm TS <= 10x EX.

Usage (from the repository root; run it niced on a shared machine)::

    PYTHONPATH=src nice -n 10 .venv/bin/python bench/bench_test_suite.py \\
        [--spider-dir /work/shared/data/spider] [--neighbours 3] [--workers 1]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from t2s.config import EvalConfig
from t2s.config.evaluation import TestSuiteConfig
from t2s.evaluation.execution import prepare_query
from t2s.evaluation.inputs import read_gold
from t2s.evaluation.neighbours import _mutations
from t2s.evaluation.runner import evaluate_predictions


def _score(examples, preds, spider: Path, suite: TestSuiteConfig, workers: int):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    report = evaluate_predictions(examples, preds, db_dir=spider / "database",
                                  tables_path=spider / "tables.json",
                                  options=EvalConfig(etype="exec", test_suite=suite),
                                  workers=workers, progress=False)
    return time.perf_counter() - start, report["summary"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spider-dir", type=Path, default=Path("/work/shared/data/spider"))
    parser.add_argument("--neighbours", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    spider = args.spider_dir
    examples = [e for e in read_gold(spider / "dev.json")
                if (spider / "database" / e.db_id / f"{e.db_id}.sqlite").is_file()]
    gold_preds = [e.gold for e in examples]
    mutated = []
    for e in examples:
        mutants = _mutations(prepare_query(e.gold))
        mutated.append(mutants[0] if mutants else e.gold)
    print(f"{len(examples)} examples with a database; {os.cpu_count()} CPUs; "
          f"load {os.getloadavg()[0]:.2f}; neighbours={args.neighbours}")
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        for name, preds in (("gold", gold_preds), ("mutated", mutated)):
            ex_s, ex = _score(examples, preds, spider, TestSuiteConfig(), args.workers)
            rows.append((name, "EX only", ex_s, ex["execution"], None, ex_s))
            suite = TestSuiteConfig(neighbours=args.neighbours,
                                    cache_dir=str(Path(cache) / name))
            for state in ("TS cold", "TS warm"):
                ts_s, ts = _score(examples, preds, spider, suite, args.workers)
                rows.append((name, state, ts_s, ts["execution"], ts["test_suite"], ex_s))
    print(f"{'predictions':<12}{'run':<10}{'wall s':>9}{'EX %':>8}{'TS %':>8}{'x EX':>7}")
    for name, run, wall, ex, ts, base in rows:
        ts_pct = "-" if ts is None else f"{100 * ts['accuracy']:.1f}"
        print(f"{name:<12}{run:<10}{wall:>9.2f}{100 * ex['accuracy']:>8.1f}{ts_pct:>8}"
              f"{wall / base:>7.1f}")


if __name__ == "__main__":
    main()
