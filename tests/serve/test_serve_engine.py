"""``t2s serve --engine``: the server in front of a real vLLM (the session's, tests/vllm_support.py).

The engine serves SmolLM2-135M with two t2s adapters (``default``: seeded,
``trained``: 2 steps of ``t2s train``); a third is hot-loaded through the
admin route and vLLM's runtime LoRA API. A TCP relay in front of vLLM takes it
"down" or holds a connection ("slow", or a request kept in flight across a
swap), so nothing here waits on a clock to decide a result.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from serve_support import ADMIN, ADMIN_KEY, AUTH, KEY, metric

from t2s.config import load_config
from t2s.data.sources import open_dataset_if_any
from t2s.inference.openai_backend import EngineClient
from t2s.serve.adapters import AdapterRegistry
from t2s.serve.embedded import EmbeddedServer
from t2s.serve.engine import EngineLoras
from t2s.serve.keys import ApiKeys
from t2s.serve.requestlog import RequestLog
from t2s.serve.service import Service
from vllm_support import ADAPTER, READY_S, TRAINED, VLLM_PYTHON, Forwarder, require, seeded_lora

ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = ["How many singers are there?", "List all stadium names.",
             "What is the average age of singers?", "Show the names of all concerts.",
             "How many concerts were held in 2014?", "Which stadium has the highest capacity?"]
# Bounded load: 4 clients x 6 requests each.
CLIENTS, PER_CLIENT = 4, 6
# Generous bound of one request on a busy engine: 24 tokens take ~1 s at load 4.
REQUEST_TIMEOUT_S = 300


def _overrides(tmp_path: Path, adapter: Path, *extra: str) -> list[str]:
    return [f"infer.adapter_path={adapter}", "data.prompt_format=chat_template",
            "infer.max_new_tokens=24", "infer.precision=fp32",
            f"serve.request_log={tmp_path / 'requests.jsonl'}", f"serve.adapter_roots=[{tmp_path}]",
            *extra]


def _singers_db(spider_dir: Path, tmp_path: Path) -> Path:
    """A copy of Spider's concert_singer database (a request executes on it)."""
    copy = tmp_path / "singers.sqlite"
    shutil.copy(spider_dir / "database" / "concert_singer" / "concert_singer.sqlite", copy)
    return copy


def _engine_server(url: str, tmp_path: Path, adapters: list[tuple[str, str]],
                   *extra: str) -> EmbeddedServer:
    """An embedded ``t2s serve --engine URL`` (keys: KEY, ADMIN_KEY)."""
    config = load_config(None, _overrides(tmp_path, Path(adapters[0][1]), f"serve.engine={url}",
                                          *extra))
    infer = config.infer
    loras = EngineLoras(EngineClient(url, None, infer.engine_timeout_s, infer.engine_retries))
    service = Service(config, AdapterRegistry(config, open_dataset_if_any(config.data, None),
                                              engine=loras),
                      {}, RequestLog(config.serve.request_log, config.serve.log_questions))
    return EmbeddedServer(service, adapters, ApiKeys(client=(KEY,), admin=(ADMIN_KEY,)),
                          ready_timeout_s=READY_S).start()


def _ask(url: str, question: str, adapter: str | None = None, **fields) -> httpx.Response:
    body = {"question": question, "schema": "CREATE TABLE singer (singer_id INT, name TEXT, "
                                            "age INT, country TEXT)", **fields}
    if adapter:
        body["adapter"] = adapter
    return httpx.post(url + "/generate", json=body, headers=AUTH, timeout=REQUEST_TIMEOUT_S)


def _engine_models(url: str) -> set[str]:
    return {m["id"] for m in httpx.get(url + "/v1/models", timeout=60).json()["data"]}


def _start_cli(args: list[str], tmp_path: Path) -> tuple[subprocess.Popen, dict]:
    """``t2s serve ARGS --port 0`` as a process; its ``listening`` line."""
    env = {**os.environ, "T2S_API_KEY": KEY, "T2S_ADMIN_API_KEY": ADMIN_KEY,
           "PYTHONPATH": str(ROOT / "src")}
    process = subprocess.Popen([sys.executable, "-m", "t2s.cli", "serve", "--port", "0", *args],
                               stdout=subprocess.PIPE, stderr=open(tmp_path / "serve.err", "wb"),
                               text=True, env=env, cwd=tmp_path)
    line = process.stdout.readline()
    if not line:
        process.wait(60)
        pytest.fail(f"t2s serve exited {process.returncode}: "
                    + (tmp_path / "serve.err").read_text(errors="replace")[-3000:])
    return process, json.loads(line)


def _wait_ready(url: str, process: subprocess.Popen) -> None:
    """Until /readyz says ready (the adapters are loaded and warmed up), bounded."""
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(url + "/readyz", headers=AUTH, timeout=10).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    pytest.fail(f"t2s serve not ready (exit status {process.poll()})")


def _stop_cli(process: subprocess.Popen, tmp_path: Path) -> int:
    process.send_signal(signal.SIGTERM)
    status = process.wait(timeout=120)
    assert "Traceback" not in (tmp_path / "serve.err").read_text(errors="replace")
    return status


@pytest.mark.slow
def test_serve_engine_url_with_auth_execute_cache_metrics_and_log(
        vllm, lora_adapter, trained_adapter, spider_dir, tmp_path):
    engine = vllm.url()
    db = _singers_db(spider_dir, tmp_path)
    process, listening = _start_cli(["--engine", engine, "--adapter", f"{TRAINED}={trained_adapter}",
                                     "--db", f"singers={db}", *_overrides(tmp_path, lora_adapter)],
                                    tmp_path)
    url = listening["listening"]
    try:
        assert listening["engine"] == engine and listening["adapters"] == [ADAPTER, TRAINED]
        _wait_ready(url, process)
        body = {"question": "How many singers are there?", "db_id": "singers", "execute": True}
        assert httpx.post(url + "/generate", json=body, timeout=60).status_code == 401
        answers = {}
        for name in (ADAPTER, TRAINED):
            reply = httpx.post(url + "/generate", json={**body, "adapter": name}, headers=AUTH,
                               timeout=REQUEST_TIMEOUT_S)
            assert reply.status_code == 200, reply.text
            answers[name] = reply.json()
            assert answers[name]["sql"] and answers[name]["adapter"] == name
            # Executed read-only on the copy: rows, or the database's own error for bad SQL.
            assert "result" in answers[name] or answers[name]["error"]["kind"] in (
                "sql_parse", "execution_error")
        again = httpx.post(url + "/generate", json={**body, "adapter": TRAINED}, headers=AUTH,
                           timeout=REQUEST_TIMEOUT_S).json()
        assert again["cached"] and again["sql"] == answers[TRAINED]["sql"]
        models = {m["name"]: m for m in httpx.get(url + "/v1/models", headers=AUTH).json()["data"]}
        # At start each adapter is the engine's model of its own name (t2s engine's --lora-modules).
        assert models[ADAPTER]["engine_model"] == ADAPTER
        assert models[TRAINED]["engine_model"] == TRAINED
        text = httpx.get(url + "/metrics", headers=AUTH).text
        assert metric(text, "t2s_cache_hits_total") == 1
        assert metric(text, "t2s_requests_total", route="/generate", status="200") == 3
    finally:
        status = _stop_cli(process, tmp_path)
    assert status == 0
    log = [json.loads(line) for line in (tmp_path / "requests.jsonl").read_text().splitlines()]
    generated = [r for r in log if r.get("status") == 200]
    assert [r["adapter"] for r in generated] == [ADAPTER, TRAINED, TRAINED]
    assert [r["cached"] for r in generated] == [False, False, True]
    assert all(r["executed"] for r in generated)


def _load(url: str, name: str, path: Path) -> dict:
    reply = httpx.post(url + "/admin/adapters", json={"name": name, "path": str(path)},
                       headers=ADMIN, timeout=REQUEST_TIMEOUT_S)
    assert reply.status_code == 201, reply.text
    return reply.json()


@pytest.mark.slow
def test_hot_loading_and_replacing_under_load_drops_nothing(vllm, lora_adapter, smollm2_base,
                                                            tmp_path):
    relay = Forwarder(vllm.port)
    engine = vllm.url()
    third_a = seeded_lora(smollm2_base, tmp_path / "third_a", 1)
    third_b = seeded_lora(smollm2_base, tmp_path / "third_b", 2)
    server = _engine_server(f"http://127.0.0.1:{relay.port}", tmp_path,
                            [(ADAPTER, str(lora_adapter))], "serve.cache_size=0")
    registry = server.service.registry
    statuses: list[int] = []
    answered = threading.Semaphore(0)

    def client(index: int) -> None:
        for k in range(PER_CLIENT):
            adapter = "third" if index % 2 and "third" in registry else None
            statuses.append(_ask(server.url, QUESTIONS[(index + k) % len(QUESTIONS)],
                                 adapter).status_code)
            answered.release()

    try:
        # 1. A third adapter hot-loaded while 4 clients send requests.
        with ThreadPoolExecutor(CLIENTS) as pool:
            clients = [pool.submit(client, i) for i in range(CLIENTS)]
            for _ in range(CLIENTS):  # some requests answered before the load
                answered.acquire()
            first = _load(server.url, "third", third_a)
            for future in clients:
                future.result()
        assert len(statuses) == CLIENTS * PER_CLIENT and set(statuses) == {200}
        assert first["engine_model"] == f"third-{first['sha256'][:12]}"
        assert first["engine_model"] in _engine_models(engine)
        # 2. Replaced while one of its requests is in flight, held at the relay.
        relay.hold.set()
        with ThreadPoolExecutor(4) as pool:
            in_flight = pool.submit(_ask, server.url, QUESTIONS[0], "third")
            relay.held.acquire()
            relay.hold.clear()  # later connections pass; the held one waits for release()
            queued = [pool.submit(_ask, server.url, q, "third") for q in QUESTIONS[1:3]]
            swap = pool.submit(_load, server.url, "third", third_b)
            deadline = time.monotonic() + READY_S
            while registry.get("third").sha256 == first["sha256"]:
                assert time.monotonic() < deadline, "the swap never pointed 'third' on"
                time.sleep(0.05)
            # Pointed at the new engine name; the old one stays: a request holds it.
            assert first["engine_model"] in _engine_models(engine)
            assert first["engine_model"] not in registry.engine_names.unloaded
            relay.release()
            reply = in_flight.result()
            assert reply.status_code == 200, reply.text
            assert reply.json()["model_hash"] == first["model_hash"]
            assert [r.result().status_code for r in queued] == [200, 200]
            second = swap.result()
        assert registry.engine_names.wait_unloaded(first["engine_model"], 120)
    finally:
        server.stop()
        relay.down()
    models = _engine_models(engine)
    assert second["engine_model"] in models and first["engine_model"] not in models


def _assert_engine_unavailable(reply: httpx.Response, relay: Forwarder) -> None:
    assert reply.status_code == 503, reply.text
    assert reply.json()["error"]["kind"] == "engine_unavailable"
    # Neither a traceback nor the engine's address reaches the client.
    assert "Traceback" not in reply.text and str(relay.port) not in reply.text


@pytest.mark.slow
def test_engine_down_or_slow_is_503_then_recovers(vllm, lora_adapter, tmp_path):
    relay = Forwarder(vllm.port)
    vllm.url()
    # 10 s (a 24-token answer takes ~1 s here): a held connection is "slow"; retries 0:
    # "down" is answered at once.
    server = _engine_server(f"http://127.0.0.1:{relay.port}", tmp_path,
                            [(ADAPTER, str(lora_adapter))], "infer.engine_retries=0",
                            "infer.engine_timeout_s=10", "serve.cache_size=0")
    try:
        assert _ask(server.url, QUESTIONS[0]).status_code == 200
        relay.down()
        _assert_engine_unavailable(_ask(server.url, QUESTIONS[1]), relay)
        relay.up()
        assert _ask(server.url, QUESTIONS[2]).status_code == 200  # recovered
        relay.hold.set()  # slow: the connection waits at the relay past the 10 s
        _assert_engine_unavailable(_ask(server.url, QUESTIONS[3]), relay)
        relay.release()
        assert _ask(server.url, QUESTIONS[4]).status_code == 200
        text = httpx.get(server.url + "/metrics", headers=AUTH).text
        assert metric(text, "t2s_failures_total", kind="engine_unavailable") == 2
    finally:
        server.stop()
        relay.down()


def test_auto_engine_that_exits_is_a_message_with_its_log(tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'vLLM: no such kernel' >&2\nexit 3\n")
    fake.chmod(0o755)
    config = tmp_path / "c.yaml"
    config.write_text("{}\n")
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "LORA", "base_model_name_or_path": str(tmp_path), "r": 8}))
    proc = subprocess.run(
        [sys.executable, "-m", "t2s.cli", "serve", "--engine", "auto", "--port", "0",
         "--config", str(config), f"infer.adapter_path={adapter}", f"serve.engine_python={fake}",
         f"serve.engine_log={tmp_path / 'engine.log'}", "serve.request_log=null"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert proc.returncode == 2
    assert "the engine (vLLM) exited with status 3 before it was ready" in proc.stderr
    assert "vLLM: no such kernel" in proc.stderr and str(tmp_path / "engine.log") in proc.stderr
    assert "Traceback" not in proc.stderr


def test_engine_setting_is_checked():
    with pytest.raises(Exception, match="serve.engine: must be empty, 'auto' or the engine's"):
        load_config(None, ["serve.engine=localhost:8001"])


@pytest.mark.slow
def test_engine_auto_starts_serves_and_stops_its_own_vllm(lora_adapter, tmp_path):
    require(f"vLLM in {VLLM_PYTHON.parent.parent}", VLLM_PYTHON.is_file())
    process, listening = _start_cli([
        "--engine", "auto", f"serve.engine_python={VLLM_PYTHON}", "serve.engine_max_model_len=1024",
        f"serve.engine_log={tmp_path / 'engine.log'}", *_overrides(tmp_path, lora_adapter)],
        tmp_path)
    url, engine = listening["listening"], listening["engine"]
    try:
        assert listening["engine_log"] == str(tmp_path / "engine.log")
        assert ADAPTER in _engine_models(engine)
        _wait_ready(url, process)
        reply = _ask(url, QUESTIONS[0])
        assert reply.status_code == 200 and reply.json()["sql"]
    finally:
        status = _stop_cli(process, tmp_path)
    assert status == 0
    with pytest.raises(httpx.HTTPError):  # the child went with the server
        httpx.get(engine + "/v1/models", timeout=10)
