"""One base in memory for many adapters: mixed micro-batches and hot swap on a real loopback server.

The tiny trained adapter and seeded variants of it (its LoRA B matrices
replaced by seeded noise, so each answers differently) all sit on the session's
tiny base; the server loads that base once.
"""

from __future__ import annotations

import dataclasses
import gc
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from serve_support import ADMIN, AUTH, serve_config, start_server

from t2s.serve.service import GenerateInput

QUESTIONS = ["How many artists are there?", "List the names of all venues.",
             "What is the average capacity of venues?", "Show all concerts in 2020."]


def seeded_adapter(source: Path, folder: Path, seed: int) -> Path:
    """A copy of ``source`` whose LoRA B weights are seeded noise (another adapter, same base)."""
    import torch
    from safetensors.torch import load_file, save_file

    shutil.copytree(source, folder)
    weights_file = folder / "adapter_model.safetensors"
    weights = load_file(weights_file)
    generator = torch.Generator().manual_seed(seed)
    for name, tensor in weights.items():
        if "lora_B" in name:
            weights[name] = torch.randn(tensor.shape, generator=generator, dtype=tensor.dtype) * 0.5
    save_file(weights, weights_file)
    return folder


@pytest.fixture(scope="module")
def shared(tmp_path_factory, sample_dir, adapter_dir):
    tmp = tmp_path_factory.mktemp("serve_shared")
    b_dir = seeded_adapter(adapter_dir, tmp / "b", seed=1)
    config = serve_config(sample_dir, tmp, f"infer.adapter_path={adapter_dir}",
                          "serve.max_batch_size=16", "serve.max_wait_ms=0")
    server = start_server(config, [("default", str(adapter_dir)), ("b", str(b_dir))])
    client = httpx.Client(base_url=server.url, headers=AUTH, timeout=120)
    yield server, client, tmp
    client.close()
    server.stop()


def _alone(service, name: str, max_new: int = 12) -> dict[str, str]:
    """Each question's SQL from the adapter ``name`` on its own, one prompt per call."""
    adapter = service.registry.get(name)
    backend = adapter.predictor.backend
    backend.decoding = dataclasses.replace(adapter.options, max_new_tokens=max_new, batch_size=1)
    answers = {}
    for question in QUESTIONS:
        target = service._target(GenerateInput(question=question, db_id="concert_hall"), adapter)
        answers[question] = backend.generate([target.prompt])[0].sql
    return answers


def _hold_first_batch(service):
    """A before_generate hook that holds the first batch until ``gate`` is set."""
    gate, entered, batches = threading.Event(), threading.Event(), []

    def hold(jobs):
        batches.append(sorted(job.adapter.name for job in jobs))
        if len(batches) == 1:
            entered.set()
            assert gate.wait(120)

    service.batcher.before_generate = hold
    return gate, entered, batches


def _wait_for(condition) -> None:
    event = threading.Event()
    for _ in range(6000):
        if condition():
            return
        event.wait(0.01)
    raise AssertionError("condition not reached")


def _ask(client, question: str, adapter: str, max_new: int = 12) -> httpx.Response:
    # Each test asks with its own max_new_tokens: the response cache must not answer.
    return client.post("/generate", json={"question": question, "db_id": "concert_hall",
                                          "adapter": adapter, "max_new_tokens": max_new})


def test_adapters_share_one_base_and_mix_in_one_batch(shared):
    server, client, _ = shared
    service = server.service
    (base,) = service.registry.bases
    assert len(base.slots) == 2  # two adapters, one base model, one PEFT model
    alone = {name: _alone(service, name) for name in ("default", "b")}
    assert alone["default"] != alone["b"]  # else mixing could not be told from not mixing
    gate, entered, batches = _hold_first_batch(service)
    try:
        with ThreadPoolExecutor(2 * len(QUESTIONS) + 1) as pool:
            blocker = pool.submit(client.post, "/generate", json={
                "question": "Count the venues.", "db_id": "concert_hall", "max_new_tokens": 3})
            assert entered.wait(120)
            futures = {(name, q): pool.submit(_ask, client, q, name)
                       for name in ("default", "b") for q in QUESTIONS}
            _wait_for(lambda: service.batcher.depth == len(futures))
            gate.set()
            results = {key: future.result().json() for key, future in futures.items()}
            assert blocker.result().status_code == 200
    finally:
        service.batcher.before_generate = None
    # One generate call for both adapters' eight requests, each row on its own LoRA.
    assert batches[1] == sorted(["default", "b"] * len(QUESTIONS))
    for (name, question), body in results.items():
        assert body["adapter"] == name and body["sql"] == alone[name][question], (name, question)


def test_hot_swap_in_the_middle_of_a_batch_drops_nothing(shared, adapter_dir):
    """Requests held in a batch keep their weights while c is loaded and b unloaded."""
    server, client, tmp = shared
    service = server.service
    (base,) = service.registry.bases
    c_dir = seeded_adapter(adapter_dir, tmp / "c", seed=2)
    alone_b = _alone(service, "b", 11)
    gate, entered, batches = _hold_first_batch(service)
    try:
        with ThreadPoolExecutor(2 * len(QUESTIONS) + 2) as pool:
            held_b = {q: pool.submit(_ask, client, q, "b", 11) for q in QUESTIONS}
            assert entered.wait(120)  # the first b request is in a batch, held
            # Every b request is in the held batch or queued behind it.
            _wait_for(lambda: len(batches[0]) + service.batcher.depth == len(QUESTIONS))
            # In the middle: unload b, load c onto the shared base (its warm-up
            # queues behind the held batch, so that admin reply waits for the gate).
            assert client.delete("/admin/adapters/b", headers=ADMIN).status_code == 200
            loaded = pool.submit(client.post, "/admin/adapters", headers=ADMIN,
                                 json={"name": "c", "path": str(c_dir)})
            _wait_for(lambda: "c" in service.registry)
            gate.set()
            answers = {q: f.result() for q, f in held_b.items()}
            assert loaded.result().status_code == 201, loaded.result().text
    finally:
        service.batcher.before_generate = None
    for question, response in answers.items():
        assert response.status_code == 200, response.text
        assert response.json()["sql"] == alone_b[question]  # b's weights, though b is gone
    assert _ask(client, QUESTIONS[0], "b").status_code == 404
    alone_c = _alone(service, "c", 11)
    assert {q: _ask(client, q, "c", 11).json()["sql"] for q in QUESTIONS} == alone_c
    assert alone_c != alone_b
    # b's slot leaves the shared model once nothing holds b (at the next generation).
    del answers, held_b
    gc.collect()
    assert _ask(client, "One more?", "default").status_code == 200
    assert len(base.slots) == 2 and service.registry.bases == [base]


def test_an_adapter_of_another_base_gets_a_base_of_its_own(shared, tmp_path):
    import json

    server, client, tmp = shared
    service = server.service
    other = tmp / "other_base"
    shutil.copytree(Path(service.registry.get("default").predictor.backend.model
                         .peft_config[service.registry.get("default").predictor.backend
                                      .adapter_name].base_model_name_or_path), other)
    adapter = tmp / "on_other"
    shutil.copytree(tmp / "c", adapter)
    config_file = adapter / "adapter_config.json"
    config_file.write_text(json.dumps({**json.loads(config_file.read_text()),
                                       "base_model_name_or_path": str(other)}))
    loaded = client.post("/admin/adapters", headers=ADMIN, json={"name": "x", "path": str(adapter)})
    assert loaded.status_code == 201, loaded.text
    assert len(service.registry.bases) == 2
    assert _ask(client, QUESTIONS[0], "x").status_code == 200
    assert client.delete("/admin/adapters/x", headers=ADMIN).status_code == 200
    # The batching loop holds its last batch until the next one arrives.
    assert _ask(client, "Once more?", "default").status_code == 200
    gc.collect()
    assert len(service.registry.bases) == 1  # the second base went with its last adapter
