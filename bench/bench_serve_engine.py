"""``t2s serve`` HF (micro-batching) vs ``t2s serve --engine`` (vLLM), and batch inference through each.

Usage:
    python bench/bench_serve_engine.py --base outputs/bases/smollm2-135m-instruct \\
        --adapter outputs/smollm2-135m_lora/final_model
    python bench/bench_serve_engine.py --base B --adapter A --clients 1,4 --requests 8 \\
        --seconds 60 --questions 8                                 # a small run

Two real ``t2s serve`` processes on 127.0.0.1 (free ports, response cache off)
over the same adapter of SmolLM2-135M (configs/smollm2-135m_lora.yaml):
"hf" generates in the server (``serve.max_batch_size=16``, micro-batching over
one shared base) and "vllm" is ``--engine auto`` (the server starts vLLM from
``--vllm-python`` as its child, a few minutes on these CPUs, and stops it at the
end). Each client level (1, 4, 16) runs on both back to back, so the pair sees
the same machine load; a level stops after ``--requests`` requests or
``--seconds`` (both bounds hold). Every request asks a distinct question of
spider-dev-194 (``data.eval_select=every:5``) with its ``db_id``.

Then batch inference in this process: the first ``--questions`` questions of
spider-dev-194 through the HF backend and through the engine that the vllm
server started (``infer.backend=openai``), loading excluded; questions/s.

Printed: a table of requests/s and p50/p95 latency per (backend, clients), the
ratio vllm/hf per level (issue 17's goal: >= 2x at 16 clients on this CPU) and
the load average.
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

from bench_infer import percentile  # bench/ is on sys.path when run as a script
from bench_serve import KEY, load

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

CONFIG = ROOT / "configs" / "smollm2-135m_lora.yaml"
SERVERS = {"hf": ["serve.max_batch_size=16", "serve.max_wait_ms=5"],
           "vllm": ["--engine", "auto"]}
# vLLM on 2 busy CPU cores is ready in 1 to 4 minutes; 15 bounds a hung start.
READY_S = 900


def overrides(args) -> list[str]:
    return [f"model.name_or_path={args.base}", f"infer.adapter_path={args.adapter}",
            f"data.root={args.data_root}", "data.eval_select=every:5",
            f"infer.max_new_tokens={args.new_tokens}", "infer.precision=fp32"]


def start_server(args, backend: str, work: Path) -> tuple[subprocess.Popen, dict]:
    """A ``t2s serve`` process; returns it and its ``listening`` line once it is ready."""
    import httpx

    command = [sys.executable, "-m", "t2s.cli", "serve", "--config", str(CONFIG), "--port", "0",
               *overrides(args), "serve.cache_size=0", "serve.max_queue=1024",
               f"serve.api_keys=[{KEY}]", f"serve.request_log={work / f'{backend}.jsonl'}",
               f"serve.engine_python={args.vllm_python}", "serve.engine_max_model_len=2048",
               f"serve.engine_log={work / 'engine.log'}", *SERVERS[backend]]
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE,
                            stderr=(work / f"{backend}.stderr").open("w"), text=True, env=env)
    listening = json.loads(proc.stdout.readline() or "{}")
    deadline = time.monotonic() + READY_S
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if httpx.get(listening["listening"] + "/readyz", headers={"X-API-Key": KEY},
                         timeout=10).status_code == 200:
                return proc, listening
        except (httpx.HTTPError, KeyError):
            pass
        time.sleep(2)
    proc.terminate()
    raise RuntimeError(f"{backend} server did not start: see {work / f'{backend}.stderr'}")


def batch_rate(args, engine: str | None, questions: list[tuple[str, str]]) -> float:
    """Questions/s of a batch job over ``questions`` (model or engine client loaded first)."""
    from t2s.config import load_config
    from t2s.data.sources import open_dataset_if_any
    from t2s.inference.batch import run_batch
    from t2s.inference.pipeline import Question, build_predictor

    extra = [] if engine is None else ["infer.backend=openai", f"infer.endpoint={engine}",
                                       "infer.engine_model=default"]
    config = load_config(CONFIG, [*overrides(args), *extra])
    predictor = build_predictor(config, open_dataset_if_any(config.data, None))
    items = [Question(id=str(i), question=q, db_id=d) for i, (q, d) in enumerate(questions)]
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        summary = run_batch(predictor, items, Path(out) / "rows.jsonl", progress=False)
        wall = time.perf_counter() - started
    if summary.errors:
        print(f"warning: {summary.errors} error rows ({'engine' if engine else 'hf'})")
    return len(items) / wall


def measure(servers: dict, levels: list[int], args, questions) -> list[dict]:
    rows = []
    for clients in levels:
        for backend, (_, listening) in servers.items():
            latencies, wall, errors = asyncio.run(load(
                listening["listening"], clients, max(args.requests, 2 * clients), args.seconds,
                questions))
            rows.append({"backend": backend, "clients": clients, "requests": len(latencies),
                         "errors": errors, "rps": round(len(latencies) / wall, 3),
                         "p50_ms": round(1000 * percentile(latencies, 50), 1),
                         "p95_ms": round(1000 * percentile(latencies, 95), 1)})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="SmolLM2 HF folder (t2s base --from-gguf)")
    parser.add_argument("--adapter", required=True, help="a LoRA adapter of that base")
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data" / "spider"))
    parser.add_argument("--vllm-python", default=str(ROOT / ".venv-vllm" / "bin" / "python"))
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--requests", type=int, default=64, help="requests per level at most")
    parser.add_argument("--seconds", type=float, default=120, help="seconds per level at most")
    parser.add_argument("--questions", type=int, default=194, help="batch-inference questions")
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--json", default=None, help="also write the numbers here")
    args = parser.parse_args(argv)

    dev = json.loads((Path(args.data_root) / "dev.json").read_text(encoding="utf-8"))
    questions = [(e["question"], e["db_id"]) for e in dev[::5]]  # spider-dev-194
    levels = [int(c) for c in args.clients.split(",")]
    work = Path(tempfile.mkdtemp(prefix="t2s-bench-serve-engine-"))
    servers = {}
    try:
        for backend in SERVERS:
            servers[backend] = start_server(args, backend, work)
        for _, listening in servers.values():
            asyncio.run(load(listening["listening"], 1, 2, args.seconds, questions))  # warm-up
        rows = measure(servers, levels, args, questions)
        subset = questions[:args.questions]
        batch = {"hf": batch_rate(args, None, subset),
                 "vllm": batch_rate(args, servers["vllm"][1]["engine"], subset)}
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(timeout=120)
    by = {(r["backend"], r["clients"]): r for r in rows}
    print(f"\nSmolLM2-135M + {args.adapter}, {args.new_tokens} new tokens at most; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'backend':<8}{'clients':>8}{'requests':>9}{'errors':>7}{'req/s':>8}{'p50 ms':>9}"
          f"{'p95 ms':>9}")
    for r in rows:
        print(f"{r['backend']:<8}{r['clients']:>8}{r['requests']:>9}{r['errors']:>7}"
              f"{r['rps']:>8.2f}{r['p50_ms']:>9.0f}{r['p95_ms']:>9.0f}")
    ratios = {c: round(by["vllm", c]["rps"] / by["hf", c]["rps"], 2) if by["hf", c]["rps"] else None
              for c in levels}
    for clients, ratio in ratios.items():
        print(f"{clients} clients: throughput vllm/hf {ratio}x")
    if 16 in ratios and ratios[16] is not None:
        print(f"goal vllm >= 2x hf at 16 clients: {'holds' if ratios[16] >= 2 else 'does not hold'}")
    print(f"batch inference, {len(subset)} questions of spider-dev-194: hf {batch['hf']:.2f} q/s, "
          f"vllm {batch['vllm']:.2f} q/s ({batch['vllm'] / batch['hf']:.2f}x)")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"rows": rows, "ratios": ratios, "batch_qps": batch,
                                               "load_average": os.getloadavg()[0]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
