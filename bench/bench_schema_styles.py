"""Benchmark: schema styles of the prompt on the demo pipeline (EX/EM on the sample dev split).

Each style runs the whole demo of ``configs/tiny.yaml`` in its own folder: the
tiny base's pretraining (its corpus is the training prompts, schema text
included, so each style pretrains its own base), LoRA fine-tuning, and the
evaluation of the 95 sample dev questions. Styles (``data.schema`` switches):

* ``compact``: the demo's prompt (``TABLE: t (col (type), ...)``), the baseline;
* ``compact+samples3``: ``sample_values=3`` (3 sorted distinct values per text column);
* ``compact+matched3``: ``matched_values=3`` (values the question names);
* ``ddl``: ``CREATE TABLE`` statements;
* ``ddl+matched3``: both.

It prints EX and EM per style, the difference to the baseline, the prompt
lengths, the wall time of training (with pretraining) and evaluation, and the
load average around each run (the machine is shared: times are only comparable
within one run of this script).

Usage (from the repository root)::

    OMP_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python bench/bench_schema_styles.py \\
        [--out outputs/bench_schema_styles] [--styles compact,ddl,...] [--jobs 2] [key=value ...]

Overrides apply to every style (e.g. ``model.tiny.pretrain_steps=20 train.max_steps=3``
for a smoke run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from t2s.data.sample import ensure_sample_dataset

ROOT = Path(__file__).resolve().parents[1]
STYLES = {
    "compact": [],
    "compact+samples3": ["data.schema.sample_values=3"],
    "compact+matched3": ["data.schema.matched_values=3"],
    "ddl": ["data.schema.style=ddl"],
    "ddl+matched3": ["data.schema.style=ddl", "data.schema.matched_values=3"],
}


def t2s(log: Path, *args: str) -> float:
    """Run one ``t2s`` command, its output appended to ``log``; return its wall time in seconds.

    Raises:
        subprocess.CalledProcessError: if it fails (its output is in ``log``).
    """
    command = [sys.executable, "-m", "t2s.cli", *args]
    print("+", " ".join(command), f">> {log}", flush=True)
    started = time.perf_counter()
    with log.open("a") as stream:
        subprocess.run(command, check=True, cwd=ROOT, stdout=stream, stderr=subprocess.STDOUT)
    return time.perf_counter() - started


def run_style(name: str, out: Path, data: Path, extra: list[str]) -> dict:
    """Train (tiny base included) and evaluate one style afresh in ``out/name``.

    Raises:
        subprocess.CalledProcessError: if a ``t2s`` command fails.
    """
    run = out / name
    shutil.rmtree(run, ignore_errors=True)  # a reused base would hide the pretraining time
    run.mkdir(parents=True)
    log = run / "log.txt"
    common = ["--config", "configs/tiny.yaml", f"data.root={data}", *STYLES[name], *extra,
              f"train.output_dir={run / 'train'}", f"infer.adapter_path={run / 'train' / 'final_model'}",
              f"eval.report_dir={run / 'eval'}", f"model.tiny.base_dir={run / 'tiny_base'}",
              "train.report_to=[]"]
    load_before = os.getloadavg()[0]
    train_s = t2s(log, "train", *common)
    eval_s = t2s(log, "evaluate", *common, "--no-progress")
    summary = json.loads((run / "eval" / "REPORT.json").read_text())["summary"]
    info = json.loads((run / "train" / "run_info.json").read_text())
    lengths = {row["split"]: row for row in info["lengths"]}
    result = {"ex": summary["execution"], "em": summary["exact_match"], "count": summary["count"],
            "errors": summary["errors"], "train_s": train_s, "eval_s": eval_s,
            "train_kept": f"{lengths['train']['kept']}/{lengths['train']['total']}",
            "longest": max(row["longest"] for row in lengths.values()),
            "load": (load_before, os.getloadavg()[0])}
    (run / "result.json").write_text(json.dumps(result, indent=1))  # kept if a later style fails
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench_schema_styles")
    parser.add_argument("--styles", default=",".join(STYLES),
                        help=f"comma-separated, of {', '.join(STYLES)} (default: all)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="styles run side by side (one process each; set OMP_NUM_THREADS=1)")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="config overrides for every style")
    args = parser.parse_args()
    styles = args.styles.split(",")
    if unknown := [s for s in styles if s not in STYLES]:
        parser.error(f"unknown styles {unknown}; choose from {', '.join(STYLES)}")
    out = args.out.resolve()
    data = ensure_sample_dataset(out / "data")
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {name: pool.submit(run_style, name, out, data, args.overrides) for name in styles}
        results = {name: future.result() for name, future in futures.items()}
    (out / "results.json").write_text(json.dumps(results, indent=1))
    base = results.get("compact") or results[styles[0]]
    print(f"\n{base['count']} dev questions; overrides: {' '.join(args.overrides) or 'none'}; "
          f"{os.cpu_count()} CPUs, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}\n")
    print("| style | EX | EM | EX vs first | train kept | longest tokens | train+pretrain s "
          "| eval s | total s | time vs first | load before/after |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, r in results.items():
        total, base_total = r["train_s"] + r["eval_s"], base["train_s"] + base["eval_s"]
        print(f"| {name} | {100 * r['ex']['accuracy']:.1f}% ({r['ex']['correct']}) "
              f"| {100 * r['em']['accuracy']:.1f}% ({r['em']['correct']}) "
              f"| {100 * (r['ex']['accuracy'] - base['ex']['accuracy']):+.1f} "
              f"| {r['train_kept']} | {r['longest']} | {r['train_s']:.0f} | {r['eval_s']:.0f} "
              f"| {total:.0f} | {total / base_total:.2f}x | {r['load'][0]:.1f}/{r['load'][1]:.1f} |")
    print("\nerrors per style:")
    for name, r in results.items():
        print(f"  {name}: {', '.join(f'{k} {v}' for k, v in sorted(r['errors'].items()))}")


if __name__ == "__main__":
    main()
