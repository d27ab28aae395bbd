"""GPU check with nothing downloaded: LoRA SFT throughput, peak memory and MFU on a
TinyLlama-1.1B-shaped base (real Llama-2 tokenizer, random weights), packed vs padded,
and HF batched generation throughput (vLLM with dummy weights when installed).

Usage:
    .venv/bin/python bench/gpu_check.py                        # on one GPU (< 8 min)
    .venv/bin/python bench/gpu_check.py --small --steps 2      # CPU, shrunken shape (tested)

Training variants (each in its own process, so peak memory is its own): LoRA r=8
on q/v and on all linear layers, each with padded and packed batches, for
``--steps`` optimizer steps of the sample data (batch 8, 512 tokens max,
grad-accum 1), bf16 on a GPU. MFU = tokens/s x FLOPs per token / the GPU's bf16
peak, with FLOPs per token = 6 N + 12 L h s (PaLM's convention: N parameters, L
layers, width h, context s). LoRA skips the frozen weights' gradients (~2 N of
the 6 N), so its hardware utilisation is ~2/3 of what this reports as "model".
Writes ``gpu_check.json`` into ``--out-dir``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GGUF = ROOT.parent / "shared" / "data" / "tokenizers" / "ggml-vocab-llama-spm.gguf"
# Dense bf16 peak FLOP/s (no sparsity), from the vendors' data sheets.
BF16_PEAK = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12,
             "A10G": 70e12, "A10": 125e12, "RTX 4090": 165e12, "RTX 3090": 71e12}
VARIANTS = {"qv_padded": (["q_proj", "v_proj"], False), "qv_packed": (["q_proj", "v_proj"], True),
            "all_linear_padded": (["all-linear"], False), "all_linear_packed": (["all-linear"], True)}
SEQ = 512


def build(out_dir: Path, small: bool, gguf: Path) -> Path:
    """The TinyLlama-shaped base (shrunken with ``small``) in ``out_dir/base``."""
    from t2s.models.base import build_base, shape_for

    shape = shape_for("tinyllama", full_size=not small)
    return build_base(gguf, "tinyllama", out_dir / "base", shape,
                      dtype="float32" if small else "bfloat16")


def train_one(variant: str, base: Path, steps: int, out_dir: Path) -> dict:
    """Train ``variant`` for ``steps`` steps in this process; tokens/s and peak memory."""
    import torch

    from t2s.config import load_config
    from t2s.training.train import train

    targets, packed = VARIANTS[variant]
    config = load_config(ROOT / "configs" / "config.yaml", [
        "data.source=sample", f"data.root={out_dir / 'data'}", "data.train_file=train.json",
        "data.eval_file=null", f"model.name_or_path={base}", f"lora.target_modules={targets}",
        f"train.output_dir={out_dir / variant}", f"train.max_steps={steps}",
        f"train.save_steps={steps}", "train.load_best_model_at_end=false", "train.report_to=[]",
        "train.per_device_train_batch_size=8", "train.gradient_accumulation_steps=1",
        f"train.max_seq_length={SEQ}", "train.gradient_checkpointing=false",
        f"train.packing={str(packed).lower()}", "train.logging_steps=1"])
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    result = train(config)
    peak = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None
    return {"variant": variant, "steps": result.global_step, "seconds": result.seconds,
            "tokens": result.train_tokens, "peak_gib": peak / 2**30 if peak else None}


def generation(base: Path, prompts: int, new_tokens: int) -> list[dict]:
    """HF generation tokens/s, batched and one at a time; vLLM (dummy weights) if installed."""
    import importlib.util

    import torch
    from transformers import AutoModelForCausalLM

    from t2s.config import Decoding
    from t2s.data.prompts import build_prompt
    from t2s.inference.generate import SQLGenerator
    from t2s.models.loading import load_tokenizer

    cuda = torch.cuda.is_available()
    tokenizer = load_tokenizer(str(base))
    model = AutoModelForCausalLM.from_pretrained(
        str(base), dtype=torch.bfloat16 if cuda else torch.float32).eval()
    model = model.to("cuda") if cuda else model
    texts = [build_prompt(f"How many singers are older than {20 + i}?",
                          "TABLE: singer (Singer_ID (number), Name (text), Age (number))")
             for i in range(prompts)]
    rows = []
    for batch in (prompts, 1):
        generator = SQLGenerator(model, tokenizer, Decoding(
            batch_size=batch, max_new_tokens=new_tokens, stop_at_eos=False))
        started = time.time()
        generator.generate(texts)
        seconds = time.time() - started
        rows.append({"engine": f"hf batch {batch}", "tokens_per_s": prompts * new_tokens / seconds})
    if cuda and importlib.util.find_spec("vllm") is not None:
        from vllm import LLM, SamplingParams

        llm = LLM(model=str(base), load_format="dummy", dtype="bfloat16", gpu_memory_utilization=0.5)
        started = time.time()
        llm.generate(texts, SamplingParams(max_tokens=new_tokens, ignore_eos=True))
        rows.append({"engine": "vllm", "tokens_per_s": prompts * new_tokens / (time.time() - started)})
    return rows


def flops_per_token(base: Path) -> float:
    """6 N + 12 L h s for the base's shape."""
    from t2s.config import load_config
    from t2s.models.memory import parameter_counts, shape_of

    shape = shape_of(load_config(None, [f"model.name_or_path={base}"]))
    return 6 * sum(parameter_counts(shape)) + 12 * shape.num_hidden_layers * shape.hidden_size * SEQ


def gpu_peak() -> tuple[str, float | None]:
    """The device name and its bf16 peak FLOP/s (None on CPU or an unknown GPU)."""
    import torch

    if not torch.cuda.is_available():
        return "cpu", None
    name = torch.cuda.get_device_name()
    return name, next((v for k, v in BF16_PEAK.items() if k in name), None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="shrunken shape, for CPU")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--gguf", type=Path, default=GGUF)
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument("--one", choices=list(VARIANTS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    out_dir = args.out_dir or Path(tempfile.mkdtemp(prefix="t2s-gpu-check-"))
    if args.one:
        print(json.dumps(train_one(args.one, out_dir / "base", args.steps, out_dir)))
        return 0
    started = time.time()
    base = build(out_dir, args.small, args.gguf)
    rows = []
    for variant in VARIANTS:
        done = subprocess.run([sys.executable, __file__, "--one", variant, "--steps",
                               str(args.steps), "--out-dir", str(out_dir)],
                              capture_output=True, text=True)
        if done.returncode:
            print(done.stderr[-3000:], file=sys.stderr)
            return done.returncode
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    device, peak = gpu_peak()
    per_token = flops_per_token(base)
    print(f"device: {device}; base: {base} ({per_token / 6e9:.2f} B-parameter equivalent)")
    print("| variant | steps | train s | tokens | tokens/s | peak GiB | MFU (6N) |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        rate = row["tokens"] / row["seconds"]
        row["tokens_per_s"] = rate
        row["mfu"] = rate * per_token / peak if peak else None
        memory = f"{row['peak_gib']:.1f}" if row["peak_gib"] else "n/a"
        mfu = f"{row['mfu']:.1%}" if row["mfu"] is not None else "n/a"
        print(f"| {row['variant']} | {row['steps']} | {row['seconds']:.1f} | {row['tokens']:,} "
              f"| {rate:,.0f} | {memory} | {mfu} |")
    generated = generation(base, args.prompts, args.new_tokens)
    for row in generated:
        print(f"generation {row['engine']}: {row['tokens_per_s']:,.0f} tokens/s")
    report = {"device": device, "bf16_peak_flops": peak, "flops_per_token": per_token,
              "train": rows, "generation": generated, "seconds": time.time() - started}
    (out_dir / "gpu_check.json").write_text(json.dumps(report, indent=2))
    print(f"total {time.time() - started:.0f} s -> {out_dir / 'gpu_check.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
