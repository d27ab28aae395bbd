"""Serving benchmark on loopback: micro-batching on vs off at 1, 4, 16 and 64 concurrent clients.

Usage:
    python bench/bench_serve.py                               # tiny model, 2 threads
    python bench/bench_serve.py --clients 1,4,16,64 --requests 128 --seconds 60 --new-tokens 32
    python bench/bench_serve.py --adapter outputs/final_model --json outputs/bench_serve.json

Two real ``t2s serve`` processes are started on 127.0.0.1 (free ports,
response cache off), one per mode, and each client level runs on both back to
back (same machine load for the pair): "off" is ``serve.max_batch_size=1`` (one request per
``generate``), "on" is ``serve.max_batch_size=64 serve.max_wait_ms=5``. A load
generator in this process runs N concurrent clients (httpx, asyncio), each
sending ``/generate`` requests with distinct questions from the sample dev split
until ``--requests`` requests are done or ``--seconds`` have passed (both
bounds hold: the loop stops by itself). Every request generates exactly
``--new-tokens`` tokens: the model is the tiny base with a freshly initialised
LoRA adapter (rarely emits EOS) unless ``--adapter`` is given, and
``infer.max_new_tokens`` is set to ``--new-tokens``.

First, the ceiling: the inference library's batched ``generate`` in this
process, batch 16 vs batch 1 (what batching can gain on this machine right
now, with no HTTP). Printed: requests/s and p50/p95/p99 latency per (mode,
clients), the mean batch size from the server's own metrics, and the ratios the
goal is stated in
(throughput on/off at 16 clients >= 3x; p95 at 16 clients <= 2x the
single-request latency).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_infer import percentile, timed  # bench/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

KEY = "bench-key"
MODES = {"off": ["serve.max_batch_size=1"],
         "on": ["serve.max_batch_size=64", "serve.max_wait_ms=5"]}


def fresh_adapter(config, folder: Path) -> Path:
    """Save the tiny base + a fresh LoRA adapter (same compute as a trained one) to ``folder``."""
    from t2s.models.loading import apply_lora, load_base_model, load_tokenizer
    from t2s.training.train import base_model_path, prepare_data

    base = base_model_path(config, prepare_data(config))  # builds the tiny base once
    model = apply_lora(load_base_model(config.model, base), config.lora)
    model.save_pretrained(folder)
    load_tokenizer(base).save_pretrained(folder)
    return folder


def generate_ceiling(config, adapter: Path, questions, sizes=(1, 16), repeats: int = 3) -> dict:
    """Requests/s of the inference library's own batched ``generate`` at each size, in this process.

    What micro-batching can gain at most on this machine right now: no HTTP, no
    queue; best of ``repeats`` calls per size, every sequence runs to max_new_tokens.
    """
    import dataclasses

    import torch

    from t2s.data.sources import open_dataset_if_any
    from t2s.inference.pipeline import Question
    from t2s.serve.adapters import AdapterRegistry

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    loaded = AdapterRegistry(config, open_dataset_if_any(config.data, create_sample=False)).load(
        "ceiling", adapter)
    prompts = [loaded.predictor.prompt_for(Question(id="0", question=q, db_id=d))[0]
               for q, d in questions[:max(sizes)]]
    backend = loaded.predictor.backend
    rates = {}
    for size in sizes:
        backend.decoding = dataclasses.replace(loaded.options, batch_size=size, stop_at_eos=False)
        backend.generate(prompts[:size])  # warm-up
        best = min(timed(backend, prompts[:size]) for _ in range(repeats))
        rates[size] = round(size / best, 2)
    return rates


def start_server(args, adapter: Path, mode: str, log_dir: Path) -> tuple[subprocess.Popen, str]:
    """A ``t2s serve`` process for ``mode``; returns it and its URL once it is ready."""
    command = [sys.executable, "-m", "t2s.cli", "serve", "--config", args.config, "--port", "0",
               f"infer.adapter_path={adapter}", f"infer.max_new_tokens={args.new_tokens}",
               "serve.cache_size=0", "serve.max_queue=1024", f"serve.api_keys=[{KEY}]",
               f"serve.request_log={log_dir / f'{mode}.jsonl'}", *args.overrides, *MODES[mode]]
    # PASSIVE: on a busy 2-core machine OpenMP spin-waiting otherwise dominates
    # (BENCHMARKS.md, inference: ratios 3x-9x under load without it).
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "OMP_WAIT_POLICY": "PASSIVE",
           "T2S_LOG_LEVEL": "INFO", "PYTHONPATH": str(ROOT / "src")}
    stderr = (log_dir / f"{mode}.stderr").open("w")
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
    url = json.loads(proc.stdout.readline())["listening"]
    deadline = time.monotonic() + 600
    while "ready: adapters" not in (log_dir / f"{mode}.stderr").read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"server did not start: see {log_dir / f'{mode}.stderr'}")
        time.sleep(0.2)
    return proc, url


async def load(url: str, clients: int, total: int, seconds: float,
               questions: list[tuple[str, str]]) -> tuple[list[float], float, int]:
    """Bounded load: ``clients`` workers until ``total`` requests or ``seconds`` pass."""
    import httpx

    latencies: list[float] = []
    errors = 0
    issued = 0
    deadline = time.perf_counter() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal issued, errors
        while issued < total and time.perf_counter() < deadline:
            index = issued
            issued += 1
            question, db_id = questions[index % len(questions)]
            started = time.perf_counter()
            try:
                response = await client.post("/generate", json={
                    "question": f"{question} ({index})", "db_id": db_id})
            except httpx.TransportError:  # counted, not fatal: the table says how many
                errors += 1
                continue
            if response.status_code == 200:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": KEY}, timeout=600,
                                 limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        wall = time.perf_counter() - started
    return latencies, wall, errors


def batch_stats(url: str) -> tuple[float, float]:
    """(sum, count) of the server's batch-size histogram."""
    import httpx

    text = httpx.get(url + "/metrics", headers={"X-API-Key": KEY}).text
    values = {}
    for line in text.splitlines():
        for name in ("t2s_batch_size_sum", "t2s_batch_size_count"):
            if line.startswith(name + " "):
                values[name] = float(line.split()[1])
    return values.get("t2s_batch_size_sum", 0.0), values.get("t2s_batch_size_count", 0.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "tiny.yaml"))
    parser.add_argument("--adapter", default=None, help="trained adapter folder (default: fresh LoRA)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the server")
    parser.add_argument("--clients", default="1,4,16,64")
    parser.add_argument("--requests", type=int, default=128, help="requests per level at most")
    parser.add_argument("--seconds", type=float, default=60, help="seconds per level at most")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--json", default=None, help="also write the numbers here")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value")
    args = parser.parse_args(argv)

    from t2s.config import load_config
    from t2s.data.sources import open_dataset

    config = load_config(args.config, args.overrides)
    dataset = open_dataset(config.data)
    questions = [(e.question, e.db_id) for e in dataset.examples(config.data.eval_file or
                                                                  config.data.train_file)]
    work = Path(tempfile.mkdtemp(prefix="t2s-bench-serve-"))
    adapter = Path(args.adapter) if args.adapter else fresh_adapter(config, work / "adapter")
    levels = [int(c) for c in args.clients.split(",")]
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    config.infer.max_new_tokens = args.new_tokens
    ceiling = generate_ceiling(config, adapter, questions)
    print(json.dumps({"generate_requests_per_s_by_batch": ceiling}), flush=True)
    rows = []
    # Both servers start first; each level then runs "off" and "on" back to back,
    # so the two are measured under the same (shared, noisy) machine load. The
    # idle server costs nothing meanwhile.
    servers = {mode: start_server(args, adapter, mode, work) for mode in MODES}
    try:
        for _, url in servers.values():
            asyncio.run(load(url, 1, 4, args.seconds, questions))  # warm-up
        for clients in levels:
            for mode, (_, url) in servers.items():
                before = batch_stats(url)
                total = max(args.requests, 2 * clients)
                latencies, wall, errors = asyncio.run(
                    load(url, clients, total, args.seconds, questions))
                after = batch_stats(url)
                batches = after[1] - before[1]
                rows.append({
                    "mode": mode, "clients": clients, "requests": len(latencies), "errors": errors,
                    "seconds": round(wall, 2), "rps": round(len(latencies) / wall, 2),
                    "p50_ms": round(1000 * percentile(latencies, 50), 1),
                    "p95_ms": round(1000 * percentile(latencies, 95), 1),
                    "p99_ms": round(1000 * percentile(latencies, 99), 1),
                    "mean_batch": round((after[0] - before[0]) / batches, 1) if batches else None})
                print(json.dumps(rows[-1]), flush=True)
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(timeout=120)
    by = {(r["mode"], r["clients"]): r for r in rows}
    sizes = sorted(ceiling)
    print(f"\nceiling: in-process generate, batch {sizes[-1]} vs 1: "
          f"{ceiling[sizes[-1]] / ceiling[sizes[0]]:.2f}x the requests/s "
          f"({ceiling[sizes[0]]} -> {ceiling[sizes[-1]]} req/s)")
    print(f"\ntiny model ({args.adapter or 'tiny base + fresh LoRA'}), {args.new_tokens} new tokens "
          f"per request, server on {args.threads} threads; load average "
          f"{os.getloadavg()[0]:.2f}")
    print(f"{'batching':<9}{'clients':>8}{'requests':>9}{'errors':>7}{'req/s':>8}{'p50 ms':>9}"
          f"{'p95 ms':>9}{'p99 ms':>9}{'batch':>7}")
    for row in rows:
        print(f"{row['mode']:<9}{row['clients']:>8}{row['requests']:>9}{row['errors']:>7}"
              f"{row['rps']:>8.2f}{row['p50_ms']:>9.0f}{row['p95_ms']:>9.0f}{row['p99_ms']:>9.0f}"
              f"{row['mean_batch'] or 0:>7.1f}")
    single = by.get(("on", 1), by.get(("off", 1)))
    ratios = {}
    for clients in levels:
        on, off = by.get(("on", clients)), by.get(("off", clients))
        if on and off:
            ratios[clients] = round(on["rps"] / off["rps"], 2)
            line = f"{clients} clients: throughput on/off {ratios[clients]:.2f}x"
            if single:
                line += f", p95 on / single-request p50 {on['p95_ms'] / single['p50_ms']:.2f}x"
            print(line)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"rows": rows, "throughput_ratio": ratios,
                                               "generate_ceiling": ceiling,
                                               "new_tokens": args.new_tokens,
                                               "threads": args.threads}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
