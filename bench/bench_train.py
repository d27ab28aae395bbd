"""Training throughput on the tiny preset: LoRA against full fine-tuning, same run.

Each variant runs in its own process (so peak RSS is its own) on the embedded
sample data, for the same number of optimizer steps. Prints a table with
tokens/s, wall time, peak RSS and the ratio to the full-fine-tuning baseline.

Usage:
    .venv/bin/python bench/bench_train.py               # 20 steps each
    .venv/bin/python bench/bench_train.py --steps 40 --out-dir /tmp/bench-train
    # the real base (make real-base): configs/smollm2-135m_lora.yaml on the sample data
    .venv/bin/python bench/bench_train.py --base outputs/bases/smollm2-135m-instruct --steps 4
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_one(method: str, steps: int, out_dir: Path, base: str | None = None) -> dict:
    """Train ``steps`` optimizer steps with ``method`` in this process; return the numbers.

    ``base``: a real base folder, trained with the SmolLM2 recipe's settings (LoRA
    shape, batch, chat template) on the sample data instead of the tiny preset.
    """
    from t2s.config import load_config
    from t2s.training.train import train

    common = [f"train.method={method}", f"train.max_steps={steps}",
              f"train.output_dir={out_dir / method}", f"data.root={out_dir / 'data'}",
              "data.eval_file=null", "train.load_best_model_at_end=false", "train.report_to=[]",
              f"train.save_steps={steps}"]
    if base:
        config = load_config(ROOT / "configs" / "smollm2-135m_lora.yaml", [
            *common, f"model.name_or_path={base}", "data.source=sample",
            "data.train_file=train.json", "data.eval_select=null"])
    else:
        config = load_config(ROOT / "configs" / "tiny.yaml",
                             [*common, f"model.tiny.base_dir={out_dir / 'tiny_base'}"])
    started = time.time()
    result = train(config)
    return {
        "method": method, "steps": result.global_step, "seconds": time.time() - started,
        "train_seconds": result.seconds, "tokens": result.train_tokens,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument("--base", default=None, metavar="DIR",
                        help="a real base folder (t2s base --from-gguf) instead of the tiny model")
    parser.add_argument("--one", choices=["lora", "full"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    out_dir = args.out_dir or Path(tempfile.mkdtemp(prefix="t2s-bench-train-"))
    if args.one:
        print(json.dumps(run_one(args.one, args.steps, out_dir, args.base)))
        return 0
    base = ["--base", str(Path(args.base).resolve())] if args.base else []
    # Build the sample data and tiny base once, outside the timed runs.
    subprocess.run([sys.executable, __file__, "--one", "lora", "--steps", "1", "--out-dir",
                    str(out_dir / "warmup"), *base], check=True, capture_output=True)
    for name in ("data", "tiny_base"):
        target = out_dir / name
        if not target.exists() and (out_dir / "warmup" / name).exists():
            (out_dir / "warmup" / name).rename(target)
    rows = []
    for method in ("full", "lora"):
        proc = subprocess.run([sys.executable, __file__, "--one", method, "--steps", str(args.steps),
                               "--out-dir", str(out_dir), *base],
                              check=True, capture_output=True, text=True)
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    baseline = rows[0]["tokens"] / rows[0]["train_seconds"]
    print(f"{'method':<8}{'steps':>6}{'train s':>9}{'tokens':>9}{'tokens/s':>10}{'peak RSS MB':>13}{'vs full':>9}")
    for row in rows:
        rate = row["tokens"] / row["train_seconds"]
        print(f"{row['method']:<8}{row['steps']:>6}{row['train_seconds']:>9.1f}{row['tokens']:>9}"
              f"{rate:>10.0f}{row['peak_rss_mb']:>13.0f}{rate / baseline:>8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
