"""Padded vs padding-free vs packed training batches: tokens/s, pad fraction, loss.

Each variant trains the tiny preset on the embedded sample data for the same
number of optimizer steps in its own process. Padded batches pad every row to
the batch's longest; padding-free concatenates the same batch into one row (the
same examples per step, so the loss curve should match the padded one within
float noise); packing fills rows of ``train.max_seq_length`` tokens with whole
examples (more examples per step: compare tokens/s, not steps).

The pad fraction of the padded run is computed from the kept examples' token
lengths under the same batch size (batches drawn at random, seeded, as the
Trainer's sampler does); the other two have no pad tokens by construction.
tokens/s is real (non-pad) tokens over the training loop's time; each row also
gives the 1-minute load average at its start and end (the machine is shared).

Usage:
    .venv/bin/python bench/bench_packing.py                 # 20 steps each, tiny preset
    .venv/bin/python bench/bench_packing.py --steps 40 --out-dir /tmp/bench-packing
    # a real-vocabulary base (t2s base ... --out /tmp/llama-spm) on Spider train:
    .venv/bin/python bench/bench_packing.py model.name_or_path=/tmp/llama-spm \
        data.source=spider data.root=../shared/data/spider data.train_file=train_spider_min.json \
        "data.prompt.completion_separator=' '" train.max_seq_length=1024

Trailing ``key=value`` overrides apply to every run (after the preset).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {"padded": [], "padding_free": ["train.padding_free=true"],
            "packed": ["train.packing=true"]}


def overrides(variant: str, steps: int, out_dir: Path, extra: list[str]) -> list[str]:
    # A 100-step tiny base: throughput and padding do not depend on how well it
    # was pretrained, and the demo's 450 steps would dominate the bench's time.
    return [f"train.max_steps={steps}", f"train.output_dir={out_dir / variant}",
            f"data.root={out_dir / 'data'}", f"model.tiny.base_dir={out_dir / 'tiny_base'}",
            "model.tiny.pretrain_steps=100",
            "data.eval_file=null", "train.load_best_model_at_end=false", "train.report_to=[]",
            f"train.save_steps={steps}", "train.logging_steps=5", *extra, *VARIANTS[variant]]


def run_one(variant: str, steps: int, out_dir: Path, extra: list[str]) -> dict:
    """Train ``steps`` optimizer steps of ``variant`` in this process; return the numbers."""
    from t2s.config import load_config
    from t2s.training.train import train

    config = load_config(ROOT / "configs" / "tiny.yaml", overrides(variant, steps, out_dir, extra))
    # The machine is shared: the 1-minute load around the run says what its tokens/s are worth.
    load_start = os.getloadavg()[0]
    result = train(config)
    history = json.loads((result.output_dir / "run_info.json").read_text())["log_history"]
    # train() also prepares the data and builds the trainer (tokenizing, and packing,
    # every example: 7,000 on Spider train), so tokens/s uses the training loop's own
    # time (the Trainer's train_runtime); "train s" is the whole call.
    loop = next(h["train_runtime"] for h in history if "train_runtime" in h)
    return {"variant": variant, "steps": result.global_step, "seconds": result.seconds,
            "loop_seconds": loop,
            "tokens": result.train_tokens, "logging_steps": config.train.logging_steps,
            "losses": [h["loss"] for h in history if "loss" in h],
            "load": [round(load_start, 2), round(os.getloadavg()[0], 2)]}


def padded_fraction(out_dir: Path, extra: list[str], seed: int = 42) -> float:
    """Share of pad tokens when random batches of ``batch_size`` are padded to their longest."""
    from t2s.config import load_config
    from t2s.data.sft import apply_length_limit, token_lengths
    from t2s.models.loading import load_tokenizer
    from t2s.training.train import base_model_path, prepare_data

    config = load_config(ROOT / "configs" / "tiny.yaml", overrides("padded", 1, out_dir, extra))
    batch_size = config.train.per_device_train_batch_size
    prepared = prepare_data(config)
    tokenizer = load_tokenizer(base_model_path(config, prepared))
    records, _ = apply_length_limit(prepared.train_records, tokenizer,
                                    config.train.max_seq_length, "drop", "train")
    lengths = token_lengths(records, tokenizer)
    random.Random(seed).shuffle(lengths)
    batches = [lengths[i:i + batch_size] for i in range(0, len(lengths), batch_size)]
    padded = sum(max(b) * len(b) for b in batches)
    return 1 - sum(lengths) / padded


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument("--one", choices=list(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    args = parser.parse_args()
    out_dir = args.out_dir or Path(tempfile.mkdtemp(prefix="t2s-bench-packing-"))
    if args.one:
        print(json.dumps(run_one(args.one, args.steps, out_dir, args.overrides)))
        return 0
    # Build the sample data and tiny base once, outside the timed runs.
    subprocess.run([sys.executable, __file__, "--one", "padded", "--steps", "1", "--out-dir",
                    str(out_dir), *args.overrides], check=True, capture_output=True)
    shutil.rmtree(out_dir / "padded")
    rows = []
    for variant in VARIANTS:
        done = subprocess.run([sys.executable, __file__, "--one", variant, "--steps",
                               str(args.steps), "--out-dir", str(out_dir), *args.overrides],
                              capture_output=True, text=True)
        if done.returncode:
            sys.stderr.write(done.stderr[-4000:])
            return done.returncode
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        # One line per finished variant, so a run stopped half-way still has its numbers.
        print(f"{variant} done: {json.dumps(rows[-1])}", file=sys.stderr, flush=True)
    pad = padded_fraction(out_dir, args.overrides)
    base = rows[0]["tokens"] / rows[0]["loop_seconds"]
    print("| variant | steps | train s | loop s | real tokens | tokens/s | vs padded | pad fraction "
          f"| tokens processed per real token | loss every {rows[0]['logging_steps']} steps "
          "| load avg start-end |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        rate = row["tokens"] / row["loop_seconds"]
        fraction = pad if row["variant"] == "padded" else 0.0
        losses = " ".join(f"{x:.3f}" for x in row["losses"])
        print(f"| {row['variant']} | {row['steps']} | {row['seconds']:.1f} "
              f"| {row['loop_seconds']:.1f} | {row['tokens']:,} "
              f"| {rate:,.0f} | {rate / base:.2f}x | {fraction:.1%} | {1 / (1 - fraction):.2f} "
              f"| {losses} | {row['load'][0]:.1f}-{row['load'][1]:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
