"""How the SmolLM2 recipe's LoRA shape and learning rate were chosen: eval loss per variant.

Each variant trains the real base (``make real-base``) from the same seed on the
same Spider train subset for the same steps, in its own ``t2s train`` process,
and is scored by the loss on the same spider-dev-194 questions. Prints a table:
variant, trainable parameters, eval loss, its ratio to the product default
(q_proj/v_proj, r=8, lr 2e-4), tokens/s and wall time. On 2 CPU cores a step of
8 sequences takes about 30-60 s, so the defaults (4 variants x 6 steps) take
about 15 minutes.

Usage:
    .venv/bin/python bench/bench_lora_recipe.py
    .venv/bin/python bench/bench_lora_recipe.py --steps 10 --train-examples 80 --out-dir /tmp/lr
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "configs" / "smollm2-135m_lora.yaml"

# name -> overrides; the first is the baseline the ratios are taken against.
VARIANTS = {
    "q,v r=8 lr 2e-4": ["lora.r=8", "lora.alpha=16", "lora.target_modules=[q_proj,v_proj]",
                        "train.learning_rate=2e-4"],
    "q,v r=8 lr 1e-3": ["lora.r=8", "lora.alpha=16", "lora.target_modules=[q_proj,v_proj]",
                        "train.learning_rate=1e-3"],
    "all-linear r=16 lr 2e-4": ["lora.r=16", "lora.alpha=32", "lora.target_modules=[all-linear]",
                                "train.learning_rate=2e-4"],
    "all-linear r=16 lr 1e-3": ["lora.r=16", "lora.alpha=32", "lora.target_modules=[all-linear]",
                                "train.learning_rate=1e-3"],
}

_DONE = re.compile(r"training done: steps=(\d+) .*best_eval_loss=([\d.]+) .*tokens/s=(\d+)")
_TRAINABLE = re.compile(r"trainable params: ([\d,]+)")


def run_variant(name: str, overrides: list[str], args: argparse.Namespace, out_dir: Path) -> dict:
    """Train one variant in a ``t2s train`` process; its numbers from the output."""
    folder = out_dir / re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    argv = [sys.executable, "-m", "t2s.cli", "train", "--config", str(RECIPE),
            f"model.name_or_path={args.base}", f"train.output_dir={folder}",
            f"train.max_steps={args.steps}", f"train.eval_steps={args.steps}",
            f"train.save_steps={args.steps}", "train.logging_steps=1",
            "train.per_device_train_batch_size=4", "train.gradient_accumulation_steps=2",
            f"data.max_train_examples={args.train_examples}",
            f"data.max_eval_examples={args.eval_examples}", "train.report_to=[]", *overrides]
    started = time.time()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    output = done.stdout + done.stderr
    match = _DONE.search(output)
    if done.returncode != 0 or match is None:
        sys.exit(f"{name}: t2s train failed (exit {done.returncode}):\n{output[-3000:]}")
    trainable = _TRAINABLE.search(output)
    return {"variant": name, "steps": int(match[1]), "eval_loss": float(match[2]),
            "tokens_per_s": int(match[3]), "seconds": time.time() - started,
            "trainable": trainable[1] if trainable else "?"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=str(ROOT / "outputs" / "bases" / "smollm2-135m-instruct"))
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--train-examples", type=int, default=48)
    parser.add_argument("--eval-examples", type=int, default=32)
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args()
    if not (Path(args.base) / "config.json").is_file():
        sys.exit(f"{args.base} is not a model folder: run make real-base first")
    out_dir = args.out_dir or Path(tempfile.mkdtemp(prefix="bench-lora-recipe-"))
    print(f"load average at start: {os.getloadavg()[0]:.1f}; {args.steps} steps x 8 sequences "
          f"on the first {args.train_examples} Spider train questions; eval loss on "
          f"{args.eval_examples} spider-dev-194 questions", flush=True)
    rows = []
    for name, overrides in VARIANTS.items():
        rows.append(run_variant(name, overrides, args, out_dir))
        print(json.dumps(rows[-1]), flush=True)
    baseline = rows[0]["eval_loss"]
    print(f"\nload average at end: {os.getloadavg()[0]:.1f}\n")
    print("| variant | trainable | steps | eval loss | vs q,v r=8 lr 2e-4 | tokens/s | wall s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['variant']} | {row['trainable']} | {row['steps']} | {row['eval_loss']:.4f} "
              f"| {row['eval_loss'] / baseline:.3f} | {row['tokens_per_s']} | {row['seconds']:.0f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
