"""Helpers shared by the serving tests: a scripted backend and server factories."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import fastapi.routing
from fastapi import FastAPI

from conftest import TEST_TINY
from t2s.config import Config, Decoding, load_config
from t2s.inference.generate import Generation
from t2s.inference.pipeline import Predictor, build_predictor
from t2s.serve.adapters import AdapterRegistry
from t2s.serve.embedded import EmbeddedServer
from t2s.serve.keys import ApiKeys
from t2s.serve.requestlog import RequestLog
from t2s.serve.service import Service

ROOT = Path(__file__).resolve().parents[2]
KEY = "test-key-123"
AUTH = {"Authorization": f"Bearer {KEY}"}
ADMIN_KEY = "admin-key-456"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}

_ASKED = re.compile(r"Question: (.*) \[/INST\]$", re.S)


class ScriptedBackend:
    """A backend whose "model" answers ``SQL: <text>`` questions with ``<text>``.

    Lets tests choose the SQL a request produces (a prompt injection, a slow
    query) without a model. Other questions get ``SELECT 1``.
    """

    context_length = None

    def __init__(self, tag: str = "") -> None:
        self.decoding = Decoding(max_new_tokens=32)
        self.tag = tag
        self.calls: list[int] = []
        self.prompts: list = []  # every prompt generated for, in order

    def encode(self, prompt) -> list[int]:
        return list(range(len(str(prompt).split())))

    def render(self, prompt) -> str:
        return str(prompt)

    def generate(self, prompts: Sequence, num_candidates: int = 1,
                 on_batch: Callable[[int], None] | None = None) -> list[Generation]:
        self.calls.append(len(prompts))
        self.prompts.extend(prompts)
        out = []
        for prompt in prompts:
            question = _ASKED.search(prompt).group(1)
            sql = question.split("SQL:", 1)[1].strip() if "SQL:" in question else "SELECT 1"
            if self.tag:
                sql = f"{sql} -- {self.tag}"
            out.append(Generation(sql=sql, completion=sql, candidates=(sql,),
                                  prompt_tokens=len(prompt.split()), completion_tokens=len(sql.split()),
                                  latency_s=0.001, batch_size=len(prompts)))
        return out


def scripted_loader(config: Config, dataset) -> Predictor:
    """A loader that builds a Predictor around a :class:`ScriptedBackend`.

    The adapter folder's ``tag.txt`` (if any) is appended to every SQL, so two
    adapters are told apart by their answers.
    """
    tag_file = Path(config.infer.adapter_path) / "tag.txt"
    tag = tag_file.read_text().strip() if tag_file.is_file() else ""
    return build_predictor(config, dataset, ScriptedBackend(tag))


def scripted_adapter(folder: Path, tag: str = "") -> Path:
    """A fake adapter folder (its content hash differs per tag)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter_config.json").write_text(json.dumps(
        {"base_model_name_or_path": "scripted", "tag": tag}))
    (folder / "tag.txt").write_text(tag)
    return folder


def serve_config(sample_dir: Path, tmp_path: Path, *overrides: str) -> Config:
    """The tiny preset with a test-sized server: small limits, a log in tmp_path."""
    return load_config(ROOT / "configs" / "tiny.yaml", [
        f"data.root={sample_dir}", *TEST_TINY, "infer.max_new_tokens=12",
        f"serve.request_log={tmp_path / 'requests.jsonl'}", f"serve.api_keys=[{KEY}]",
        "serve.max_question_chars=300", "serve.max_body_bytes=20000", "serve.max_new_tokens=64",
        f"serve.adapter_roots=[{tmp_path}]", *overrides])


def start_server(config: Config, adapters: list[tuple[str, str]], databases: dict | None = None,
                 loader=None, keys: list[str] | None = None,
                 admin_keys: list[str] | None = None) -> EmbeddedServer:
    """An :class:`EmbeddedServer` over ``config``, started and ready (keys: KEY, ADMIN_KEY)."""
    from t2s.data.sources import open_dataset_if_any

    dataset = open_dataset_if_any(config.data, create_sample=False)
    registry = (AdapterRegistry(config, dataset, loader) if loader
                else AdapterRegistry(config, dataset))
    service = Service(config, registry, dict(databases or {}),
                      RequestLog(config.serve.request_log, config.serve.log_questions))
    client = (KEY,) if keys is None else tuple(keys)
    admin = (ADMIN_KEY,) if admin_keys is None else tuple(admin_keys)
    return EmbeddedServer(service, adapters, ApiKeys(client=client, admin=admin)).start()


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus exposition text (0 if absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        sample, _, label_text = head.partition("{")
        if sample != name:
            continue
        got = ",".join(sorted(label_text.rstrip("}").split(","))) if label_text else ""
        if got == wanted:
            return float(value)
    return 0.0


def route_table(app: FastAPI) -> list:
    """Every route of ``app``, included routers flattened.

    FastAPI 0.16x keeps an included router as one entry of ``app.routes``, which
    ``iter_route_contexts`` expands (with the include's dependencies); older
    versions list the routes themselves.
    """
    walk = getattr(fastapi.routing, "iter_route_contexts", None)
    return list(walk(app.routes)) if walk else list(app.routes)


def endpoints(app: FastAPI) -> Iterator[tuple[str, str, object]]:
    """(method, path, route) of every endpoint; HEAD beside GET is the same endpoint."""
    for route in route_table(app):
        methods = set(route.methods or {"GET"})
        for method in sorted(methods - ({"HEAD"} if "GET" in methods else set())):
            yield method, route.path, route
