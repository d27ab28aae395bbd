"""Inference benchmark: batched vs one-at-a-time throughput, single-question latency.

Usage:
    python bench/bench_infer.py                       # configs/tiny.yaml, 2 threads
    python bench/bench_infer.py --threads 2 --prompts 32 --new-tokens 64 --latency-runs 20
    python bench/bench_infer.py --adapter outputs/final_model --json outputs/bench_infer.json
    # a shrunken real-vocabulary base (t2s base ... --out /tmp/realbench/llama-spm):
    python bench/bench_infer.py model.name_or_path=/tmp/realbench/llama-spm \
        "data.prompt.completion_separator=' '"
    # the real base (make real-base) with the SmolLM2 recipe's prompt and LoRA shape:
    python bench/bench_infer.py --base outputs/bases/smollm2-135m-instruct --prompts 16

Throughput: ``--prompts`` prompts from the sample dev split, each generating
exactly ``--new-tokens`` tokens (EOS ignored, so both modes do the same work),
once with ``infer.batch_size = --prompts`` (one left-padded batch) and once one
prompt at a time. Latency: ``--latency-runs`` single questions with the normal
stopping rule (EOS or ``infer.max_new_tokens``), model already loaded, with the
adapter and with the adapter merged into the base.

The model is ``--adapter`` if given (a trained ``final_model``), else the
configured base (``model.name_or_path``: the tiny base, or a folder written by
``t2s base``) with a freshly initialised LoRA adapter of the configured shape
(same compute as a trained one; it rarely emits EOS, so its latency is that of
``infer.max_new_tokens`` tokens). The table gives ms per generated token in both
modes and the 1-minute load average at the start and the end of the run: the
machine is shared, and the load says how much the numbers are worth.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def load_model(config, adapter: str | None):
    """(model, tokenizer): a trained adapter, or the configured base with a fresh LoRA."""
    from t2s.models.loading import apply_lora, load_base_model, load_tokenizer, load_trained
    from t2s.training.train import base_model_path, prepare_data

    if adapter:
        return load_trained(adapter, config.model)
    base = base_model_path(config, prepare_data(config))  # builds the tiny base once
    model = apply_lora(load_base_model(config.model, base), config.lora)
    model.eval()
    return model, load_tokenizer(base)


def sample_prompts(config, count: int) -> list[str]:
    """``count`` training-format prompts from the eval split (cycled if it is shorter)."""
    from t2s.data.prompts import SchemaTextCache, build_prompt
    from t2s.data.sources import open_dataset

    dataset = open_dataset(config.data)
    schema = config.data.schema
    cache = SchemaTextCache(dataset.schemas, dataset.database_dir, schema.include_keys,
                            schema.sample_values)
    examples = dataset.examples(config.data.eval_file or config.data.train_file)
    picked = [examples[i % len(examples)] for i in range(count)]
    return [build_prompt(example.question, cache.text(example.db_id), config.data.prompt_format,
                         config.data.prompt) for example in picked]


def timed(generator, prompts) -> float:
    started = time.perf_counter()
    generator.generate(prompts)
    return time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100])."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def latencies(generator, prompts: list[str], runs: int) -> list[float]:
    generator.generate(prompts[:1])  # warm-up
    return [timed(generator, [prompts[i % len(prompts)]]) for i in range(runs)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "tiny.yaml"))
    parser.add_argument("--adapter", default=None, help="trained adapter folder (default: fresh LoRA)")
    parser.add_argument("--base", default=None, metavar="DIR",
                        help="a real base folder (t2s base --from-gguf): the SmolLM2 recipe's "
                             "prompt and LoRA shape on the sample data, instead of --config")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--latency-runs", type=int, default=20)
    parser.add_argument("--json", default=None, help="also write the numbers here")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value")
    args = parser.parse_args(argv)

    import torch

    from t2s.config import Decoding, load_config
    from t2s.inference.generate import SQLGenerator, encode_prompt

    torch.set_num_threads(args.threads)
    # Other jobs on the machine slow every number; the 1-minute load says how busy it was.
    load_start = os.getloadavg()[0]
    if args.base:
        # The recipe reads Spider; the sample data's dev split needs no shared data.
        config = load_config(ROOT / "configs" / "smollm2-135m_lora.yaml", [
            f"model.name_or_path={Path(args.base).resolve()}", "data.source=sample",
            f"data.root={ROOT / 'outputs' / 'data' / 'sample'}",
            "data.train_file=train.json", "data.eval_file=dev.json", "data.eval_select=null",
            *args.overrides])
    else:
        config = load_config(args.config, args.overrides)
    model, tokenizer = load_model(config, args.adapter)
    prompts = sample_prompts(config, args.prompts)
    fixed = dict(max_new_tokens=args.new_tokens, stop_at_eos=False)
    batched = SQLGenerator(model, tokenizer, Decoding(batch_size=args.prompts, **fixed))
    single = SQLGenerator(model, tokenizer, Decoding(batch_size=1, **fixed))
    batched.generate(prompts[:2])  # warm-up
    batched_s = timed(batched, prompts)
    single_s = timed(single, prompts)
    tokens = args.prompts * args.new_tokens

    # Counted before merge_and_unload below, which folds the adapter's weights into the base.
    parameters = sum(p.numel() for p in model.parameters())
    normal = config.infer.decoding
    adapter_lat = latencies(SQLGenerator(model, tokenizer, normal), prompts, args.latency_runs)
    merged = model.merge_and_unload() if hasattr(model, "merge_and_unload") else model
    merged_lat = latencies(SQLGenerator(merged, tokenizer, normal), prompts, args.latency_runs)

    prompt_tokens = [len(encode_prompt(tokenizer, p)) for p in prompts]
    results = {
        "load_average_1min_start": round(load_start, 2),
        "load_average_1min_end": round(os.getloadavg()[0], 2),
        "threads": args.threads, "prompts": args.prompts, "new_tokens": args.new_tokens,
        "prompt_tokens_mean": round(statistics.mean(prompt_tokens), 1),
        "model": args.adapter or f"{config.model.name_or_path} base + fresh LoRA",
        "vocab_size": model.get_output_embeddings().weight.shape[0],
        "parameters": parameters,
        "batched_s": round(batched_s, 3), "single_s": round(single_s, 3),
        "batched_tokens_per_s": round(tokens / batched_s, 1),
        "single_tokens_per_s": round(tokens / single_s, 1),
        "batched_ms_per_token": round(1000 * batched_s / tokens, 3),
        "single_ms_per_token": round(1000 * single_s / tokens, 3),
        "speedup": round(single_s / batched_s, 2),
        "latency_max_new_tokens": config.infer.max_new_tokens,
        "latency_adapter_p50_ms": round(1000 * percentile(adapter_lat, 50), 1),
        "latency_adapter_p95_ms": round(1000 * percentile(adapter_lat, 95), 1),
        "latency_merged_p50_ms": round(1000 * percentile(merged_lat, 50), 1),
        "latency_merged_p95_ms": round(1000 * percentile(merged_lat, 95), 1),
    }
    print(f"{results['model']} ({results['parameters'] / 1e6:.2f}M parameters, vocabulary "
          f"{results['vocab_size']:,}), {args.threads} CPU threads, {args.prompts} prompts "
          f"(mean {results['prompt_tokens_mean']} tokens) x {args.new_tokens} new tokens; "
          f"load average {results['load_average_1min_start']} at start, "
          f"{results['load_average_1min_end']} at end")
    print(f"{'mode':<34}{'seconds':>10}{'tokens/s':>12}{'ms/token':>10}")
    print(f"{'batched (batch ' + str(args.prompts) + ', left-padded)':<34}{batched_s:>10.2f}"
          f"{results['batched_tokens_per_s']:>12.1f}{results['batched_ms_per_token']:>10.2f}")
    print(f"{'one at a time':<34}{single_s:>10.2f}{results['single_tokens_per_s']:>12.1f}"
          f"{results['single_ms_per_token']:>10.2f}")
    print(f"speedup: {results['speedup']:.1f}x (goal >= 8x)")
    print(f"single-question latency, {args.latency_runs} runs, <= {config.infer.max_new_tokens} "
          "new tokens:")
    print(f"  adapter  p50 {results['latency_adapter_p50_ms']:.0f} ms   "
          f"p95 {results['latency_adapter_p95_ms']:.0f} ms")
    print(f"  merged   p50 {results['latency_merged_p50_ms']:.0f} ms   "
          f"p95 {results['latency_merged_p95_ms']:.0f} ms")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
