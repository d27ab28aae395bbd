"""Benchmark: what ``t2s synth`` pairs for unseen databases buy (execution accuracy).

Two of the five sample databases are held out: no training question is about
them. Both arms train the tiny preset (``configs/tiny.yaml``) for the same
number of optimizer steps, then score every sample question (train and dev
splits) on the held-out databases:

* **baseline**: the sample questions of the three other databases;
* **+ synth**: the same, mixed (``data.sources``) with ``t2s synth`` pairs
  generated from the held-out databases' SQLite files alone.

The script prints EX per arm, the difference, the contamination check of the
synth arm, and the synth arm's EX on the eval questions that check does not flag
(synth and sample questions come from the same template family, so the plain
gain is an upper bound of what synthetic pairs buy on human questions).

Usage (from the repository root)::

    PYTHONPATH=src .venv/bin/python bench/bench_synth.py [--out outputs/bench_synth] \\
        [--held-out clinic sports_league] [--synth-n 300] [--steps 60] [key=value ...]

The config overrides apply to both arms (BENCHMARKS.md gives the ones measured).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from t2s.data.mixture import contamination
from t2s.data.sample import ensure_sample_dataset
from t2s.data.spider import Example
from t2s.data.synth import synthesize

ROOT = Path(__file__).resolve().parents[1]


def split_sample(sample: Path, out: Path, held_out: list[str]) -> Path:
    """A Spider-format copy of the sample data: train = other databases, dev = held-out ones (all pairs)."""
    out.mkdir(parents=True, exist_ok=True)
    pairs = [*json.loads((sample / "train.json").read_text()), *json.loads((sample / "dev.json").read_text())]
    (out / "train.json").write_text(json.dumps([p for p in pairs if p["db_id"] not in held_out], indent=1))
    (out / "dev.json").write_text(json.dumps([p for p in pairs if p["db_id"] in held_out], indent=1))
    (out / "tables.json").write_text((sample / "tables.json").read_text())
    database = out / "database"
    if not database.exists():
        database.symlink_to((sample / "database").resolve(), target_is_directory=True)
    return out


def t2s(*args: str) -> None:
    command = [sys.executable, "-m", "t2s.cli", *args]
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=ROOT)


def run_arm(name: str, out: Path, data: list[str], steps: int, extra: list[str]) -> dict:
    run = out / name
    common = ["--config", "configs/tiny.yaml", *data, *extra, f"train.output_dir={run / 'train'}",
              f"infer.adapter_path={run / 'train' / 'final_model'}",
              f"eval.report_dir={run / 'eval'}", f"data.prepared_dir={out / 'prepared'}",
              f"model.tiny.base_dir={out / 'tiny_base'}", "train.report_to=[]"]
    started = time.time()
    t2s("train", *common, f"train.max_steps={steps}", "train.eval_steps=20", "train.save_steps=20")
    t2s("evaluate", *common, "eval.etype=exec", "--no-progress")
    report = json.loads((run / "eval" / "REPORT.json").read_text())
    info = json.loads((run / "train" / "run_info.json").read_text())
    return {"ex": report["summary"]["execution"], "count": report["summary"]["count"],
            "by_db": {k: v["execution"] for k, v in report["summary"]["by_database"].items()},
            "train_examples": info["lengths"][0]["kept"],
            "contamination": info["data"].get("contamination", {}),
            "minutes": (time.time() - started) / 60}


def unflagged_ex(out: Path) -> tuple[int, int]:
    """Correct and total synth-arm predictions on eval questions the contamination
    check does not flag against the synth pairs (neither exact nor near-duplicate)."""
    train = [Example(i, r["question"], r["query"], r["db_id"])
             for i, r in enumerate(json.loads((out / "synth" / "train.json").read_text()))]
    correct = total = 0
    for example in json.loads((out / "synth" / "eval" / "REPORT.json").read_text())["examples"]:
        found = contamination(train, [Example(0, example["question"], example["gold"],
                                              example["db_id"])])
        if not (found["exact_questions"] or found["near_duplicate_questions"]):
            total += 1
            correct += bool(example["execution_match"])
    return correct, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench_synth")
    parser.add_argument("--held-out", nargs="+", default=["clinic", "sports_league"])
    parser.add_argument("--synth-n", type=int, default=300)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="config overrides for both arms (e.g. a smaller tiny model)")
    args = parser.parse_args()
    out = args.out.resolve()
    sample = ensure_sample_dataset(out / "sample")
    base = split_sample(sample, out / "heldout", args.held_out)
    dbs = [sample / "database" / db / f"{db}.sqlite" for db in args.held_out]
    synth = synthesize(dbs, out / "synth", n=args.synth_n, seed=1, dev_fraction=0.0, force=True)
    print(synth.summary())
    arms = {
        "baseline": ["data.source=spider", f"data.root={base}"],
        "synth": ["data.sources=[{name: sample, source: spider, root: " + str(base)
                  + ", train_file: train.json, eval_file: dev.json}, {name: synth, source: spider, "
                  "root: " + str(out / "synth") + ", train_file: train.json}]"],
    }
    # The two arms are independent: run them side by side (one process each).
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(run_arm, name, out, data, args.steps, args.overrides)
                   for name, data in arms.items()}
        baseline, mixed = futures["baseline"].result(), futures["synth"].result()
    rows = [("baseline", baseline), ("+ synth", mixed)]
    print(f"\nheld-out databases: {', '.join(args.held_out)}; {baseline['count']} questions; "
          f"{args.steps} steps each; overrides: {' '.join(args.overrides) or 'none'}\n")
    print(f"{'arm':<10}{'train ex.':>10}{'EX':>8}" + "".join(f"{db:>15}" for db in args.held_out)
          + f"{'minutes':>9}")
    for name, arm in rows:
        print(f"{name:<10}{arm['train_examples']:>10}{100 * arm['ex']['accuracy']:>7.1f}%"
              + "".join(f"{100 * arm['by_db'][db]['accuracy']:>14.1f}%" for db in args.held_out)
              + f"{arm['minutes']:>9.1f}")
    delta = 100 * (mixed["ex"]["accuracy"] - baseline["ex"]["accuracy"])
    print(f"\nEX difference: {delta:+.1f} points; synth arm contamination: "
          f"{mixed['contamination'].get('exact_questions')} exact, "
          f"{mixed['contamination'].get('near_duplicate_questions')} near-duplicate eval questions")
    correct, total = unflagged_ex(out)
    print(f"+ synth on the {total} eval questions not flagged: EX {100 * correct / max(total, 1):.1f}% "
          f"({correct}/{total})")


if __name__ == "__main__":
    main()
