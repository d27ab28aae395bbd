"""R-VES spread over repeated runs: t2s (``eval.ves_runs``) and mini_dev's evaluation_ves.py.

R-VES times each correct prediction against its gold query, so it changes from
run to run. This builds the synthetic BIRD mini-dev databases of
``bench_bird_soft_f1.py`` (same ``--rows`` and ``--seed``), takes three
prediction sets (the gold queries themselves, gold with DISTINCT toggled, gold
with an extra column) and scores R-VES ``--repeat`` times with ``--runs``
timing runs each, printing mean, standard deviation, min and max per set;
with ``--official`` the same with evaluation_ves.py's own
``iterated_execute_sql`` (exceptions scored 0, as its ``execute_model`` does).

Usage:
    .venv/bin/python bench/bench_bird_rves.py --data ../shared/data/bird_minidev \\
        --runs 10 --repeat 5 [--official /tmp/bird_eval]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

from bench_bird_soft_f1 import _MUTATIONS, build_minidev, load_official  # bench/ is on sys.path

from t2s.config import EvalConfig
from t2s.evaluation.bird_metrics import r_ves
from t2s.evaluation.inputs import read_gold
from t2s.evaluation.runner import evaluate_predictions


def _sets(golds: list[tuple[str, str]]) -> dict[str, list[str]]:
    mutate = dict(_MUTATIONS)
    return {"gold": [sql for sql, _ in golds],
            "distinct toggled": [mutate["distinct"](sql) for sql, _ in golds],
            "extra column": [mutate["extra column"](sql) for sql, _ in golds]}


def _row(name: str, scores: list[float], seconds: float) -> str:
    spread = statistics.pstdev(scores) if len(scores) > 1 else 0.0
    return (f"| {name} | {len(scores)} | {statistics.mean(scores):.2f} ± {spread:.2f} | "
            f"{min(scores):.2f} | {max(scores):.2f} | {seconds / len(scores):.1f} s |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/bird_minidev"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/t2s-bird-rves"))
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=10, help="timing runs per prediction")
    parser.add_argument("--repeat", type=int, default=5, help="R-VES scorings per set")
    parser.add_argument("--official", type=Path, help="folder with mini_dev's evaluation_ves.py")
    args = parser.parse_args()
    golds, database, tables = build_minidev(args.data, args.work, args.rows,
                                            random.Random(args.seed))
    gold_file = args.work / "gold.sql"
    gold_file.write_text("".join(f"{sql}\t{db}\n" for sql, db in golds), encoding="utf-8")
    examples = read_gold(gold_file)
    options = EvalConfig(etype="exec", exec_metric="bird", ves_runs=args.runs)
    print(f"R-VES (x100) over {len(golds)} BIRD mini-dev questions, synthetic databases "
          f"({args.rows} rows per table), {args.runs} timing runs, {args.repeat} repetitions\n")
    print("| evaluator: predictions | repetitions | R-VES mean ± std | min | max | time per scoring |")
    print("|---|---:|---:|---:|---:|---:|")
    ves = None
    if args.official:
        ves_dir = args.official
        load_official(ves_dir)  # the stubs and sys.path
        import evaluation_ves as ves  # type: ignore[import-not-found]
    for name, preds in _sets(golds).items():
        scores, start = [], time.perf_counter()
        for _ in range(args.repeat):
            report = evaluate_predictions(examples, preds, db_dir=database, tables_path=tables,
                                          options=options, workers=1, progress=False)
            scores.append(100 * statistics.mean(e["r_ves"] for e in report["examples"]))
        print(_row(f"t2s: {name}", scores, time.perf_counter() - start))
        if ves is None:
            continue
        scores, start = [], time.perf_counter()
        for _ in range(args.repeat):
            rewards = []
            for (gold, db_id), pred in zip(golds, preds, strict=True):
                try:
                    rewards.append(ves.iterated_execute_sql(
                        pred, gold, str(database / db_id / f"{db_id}.sqlite"), args.runs,
                        "SQLite"))
                except Exception:  # noqa: BLE001 - scored 0, as the official execute_model
                    rewards.append(0)
            scores.append(100 * r_ves(rewards))
        print(_row(f"official: {name}", scores, time.perf_counter() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
