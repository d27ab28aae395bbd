"""The SmolLM2 recipe on all of Spider on one GPU: train on 7,000 questions, score 1,034.

``configs/smollm2-135m_lora.yaml`` (LoRA, ChatML prompt, completion-only loss)
trains on every question of ``train_spider_min.json`` with t2s's own ``train()``,
then ``t2s evaluate``'s library function (:func:`t2s.evaluation.model.score_model`)
generates and scores every ``dev.json`` question: exact match on all 1,034,
execution on the 972 whose database ships (``wta_1`` has no ``.sqlite``: it
is skipped as ``--skip-missing-db`` does). Prints a table (train time and
tokens/s, eval time, peak memory) and EX/EM by hardness; writes
``gpu_spider.json`` and the run and report folders into ``--out-dir``.

Usage:
    make real-base                      # once: outputs/bases/smollm2-135m-instruct
    .venv/bin/python bench/gpu_spider.py --out-dir outputs/gpu_spider     # one GPU, bf16
    .venv/bin/python bench/gpu_spider.py --small --out-dir /tmp/gpu-spider  # CPU, CI size (tested)

On the GPU: bf16 for training and generation (a GPU without bf16 is refused by
``train.precision``, not silently run in fp16); the recipe's 16 sequences per
step as 16 x 1 (no grad-accum: the 135M model's activations at 16 x 1024
tokens fit an H200 many times over), so the learning rate means what it means
on CPU; the recipe's 3 epochs = 3 x 438 = 1,313 steps; generation 128 questions
at a time (the KV cache of 128 x ~1,200 tokens is ~3.5 GiB: 30 layers x 2 x 3
KV heads x 64 x 2 bytes = 23 KiB per token); 8 scoring processes. Not yet run on
a GPU: the goal is under 8 minutes on one H200. ``--small`` runs the same
calls on CPU in fp32: 2 steps on 8 train questions, 6 dev questions, 8 new tokens.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "configs" / "smollm2-135m_lora.yaml"
HARDNESS = ("easy", "medium", "hard", "extra")
# One optimizer step of the recipe is 16 sequences; on the GPU that is one forward batch.
GPU_SETTINGS = ["train.precision=bf16", "infer.precision=bf16",
                "train.per_device_train_batch_size=16", "train.gradient_accumulation_steps=1",
                "infer.batch_size=128", "eval.workers=8"]
SMALL_SETTINGS = ["data.max_train_examples=8", "train.max_steps=2",
                  "train.per_device_train_batch_size=2", "train.gradient_accumulation_steps=1",
                  "train.logging_steps=1", "data.max_eval_examples=6", "infer.batch_size=3",
                  "infer.max_new_tokens=8", "eval.workers=1"]


def overrides(base: Path, spider: Path, out_dir: Path, small: bool, epochs: float | None) -> list[str]:
    """The recipe's overrides shared by training and evaluation."""
    common = [f"model.name_or_path={base}", f"data.root={spider}", "data.eval_select=null",
              f"train.output_dir={out_dir / 'run'}", f"infer.adapter_path={out_dir / 'run' / 'final_model'}",
              f"eval.report_dir={out_dir / 'eval'}", "train.report_to=[]"]
    if epochs is not None:
        common.append(f"train.num_train_epochs={epochs}")
    return common + (SMALL_SETTINGS if small else GPU_SETTINGS)


def reset_peak() -> None:
    """Start a phase's peak GPU memory afresh (no-op on CPU)."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_gib() -> float:
    """The phase's peak GPU memory allocated, or on CPU the process's peak RSS so far
    (the eval row's then covers training too), GiB."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def train_phase(common: list[str]) -> dict:
    """``train()`` on the recipe; its steps, questions, tokens and fit time."""
    from t2s.config import load_config
    from t2s.training.train import train

    config = load_config(RECIPE, [*common, "data.eval_file=null",
                                  "train.load_best_model_at_end=false",
                                  # The final model is saved anyway; no mid-run checkpoints.
                                  "train.save_steps=1000000"])
    reset_peak()
    result = train(config)
    history = json.loads((result.output_dir / "run_info.json").read_text())["log_history"]
    # TRL's last log line has the fit's own runtime (no model loading or tokenizing).
    fit_seconds = next(h["train_runtime"] for h in reversed(history) if "train_runtime" in h)
    kept = result.lengths[0]
    return {"questions": kept.kept, "dropped": kept.dropped, "steps": result.global_step,
            "seconds": result.seconds, "fit_seconds": fit_seconds, "tokens": result.train_tokens,
            "tokens_per_s": result.train_tokens / fit_seconds, "train_loss": result.train_loss,
            "peak_gib": peak_gib()}


def eval_phase(common: list[str], out_dir: Path) -> tuple[dict, dict]:
    """``score_model`` on every dev question; the phase's numbers and the report."""
    from t2s.evaluation.model import score_model
    from t2s.inference.adapter_prompt import load_inference_config

    config = load_inference_config(RECIPE, common)
    reset_peak()
    started = time.time()
    scored = score_model(config, out_dir / "eval", progress=False, skip_missing_db=True)
    summary = scored.report["summary"]
    skipped = (summary.get("execution_skipped") or {}).get("examples", 0)
    return ({"questions": summary["count"], "executable": summary["count"] - skipped,
             "seconds": time.time() - started, "peak_gib": peak_gib()}, summary)


def device_name() -> str:
    """The GPU's name and dtype, or ``cpu``."""
    import torch

    return f"{torch.cuda.get_device_name()} (bf16)" if torch.cuda.is_available() else "cpu (fp32)"


def print_tables(result: dict, summary: dict) -> None:
    """The phase table and the EX/EM-by-hardness table, as Markdown."""
    train, score = result["train"], result["eval"]
    memory = "peak GPU GiB" if result["device"] != "cpu (fp32)" else "peak RSS GiB"
    print(f"device: {result['device']}; base: {result['base']}")
    print(f"| phase | questions | steps | seconds | tokens | tokens/s | {memory} |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    dropped = f" ({train['dropped']} over train.max_seq_length)" if train["dropped"] else ""
    print(f"| train | {train['questions']}{dropped} | {train['steps']} | {train['fit_seconds']:.1f} "
          f"(whole run {train['seconds']:.1f}) | {train['tokens']} | {train['tokens_per_s']:.0f} "
          f"| {train['peak_gib']:.2f} |")
    print(f"| eval | {score['questions']} ({score['executable']} executable) | - "
          f"| {score['seconds']:.1f} | - | - | {score['peak_gib']:.2f} |")
    groups = {**{h: summary["by_hardness"][h] for h in HARDNESS if h in summary["by_hardness"]},
              "all": summary}
    print("| | " + " | ".join(groups) + " |")
    print("|---|" + "---:|" * len(groups))
    print("| count | " + " | ".join(str(g["count"]) for g in groups.values()) + " |")
    for label, key in (("EX %", "execution"), ("EM %", "exact_match")):
        cells = ["-" if g.get(key) is None else f"{100 * g[key]['accuracy']:.1f}"
                 for g in groups.values()]
        print(f"| {label} | " + " | ".join(cells) + " |")
    print(f"total {result['seconds']:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true",
                        help="CI size on CPU: 2 steps on 8 train questions, 6 dev questions")
    parser.add_argument("--base", type=Path, default=ROOT / "outputs" / "bases" / "smollm2-135m-instruct",
                        help="the converted base folder (make real-base)")
    parser.add_argument("--spider", type=Path, default=ROOT.parent / "shared" / "data" / "spider",
                        help="Spider 1.0 folder (train_spider_min.json, dev.json, database/)")
    parser.add_argument("--epochs", type=float, default=None,
                        help="train.num_train_epochs (default: the recipe's)")
    parser.add_argument("--out-dir", type=Path, default=None)
    args = parser.parse_args()
    out_dir = args.out_dir or Path(tempfile.mkdtemp(prefix="t2s-gpu-spider-"))
    if not (args.base / "config.json").is_file():
        print(f"no base model at {args.base}: run `make real-base` or pass --base", file=sys.stderr)
        return 2
    started = time.time()
    common = overrides(args.base.resolve(), args.spider.resolve(), out_dir.resolve(),
                       args.small, args.epochs)
    train = train_phase(common)
    score, summary = eval_phase(common, out_dir)
    result = {"device": device_name(), "base": str(args.base), "small": args.small,
              "train": train, "eval": score, "summary": summary,
              "seconds": time.time() - started}
    print_tables(result, summary)
    (out_dir / "gpu_spider.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
