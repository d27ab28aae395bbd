"""Hostile inputs against ``t2s serve`` (issue 20, section 6): one test per class of attack.

Real uvicorn servers on 127.0.0.1 over a scripted backend, spoken to over
HTTP; the command's start-up errors through ``t2s.cli.main`` in this process.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from pathlib import Path

import httpx
import pytest
from serve_support import (
    ADMIN,
    ADMIN_KEY,
    AUTH,
    KEY,
    metric,
    scripted_adapter,
    scripted_loader,
    serve_config,
    start_server,
)

from t2s.cli import main
from t2s.config import load_config
from t2s.errors import ConfigError
from t2s.serve.keys import ApiKeys, configured_keys
from t2s.serve.requestlog import RequestLog

ROOT = Path(__file__).resolve().parents[2]
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def scripted(tmp_path_factory, sample_dir):
    """A server with client and admin keys; its tmp folder and request log."""
    tmp = tmp_path_factory.mktemp("serve_hostile")
    config = serve_config(sample_dir, tmp, f"infer.adapter_path={scripted_adapter(tmp / 'a')}")
    server = start_server(config, [("default", str(tmp / "a"))], loader=scripted_loader)
    yield server, tmp, tmp / "requests.jsonl"
    server.stop()


def _lines(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


# --------------------------------------------------------------------------- auth first


def test_no_key_is_refused_before_the_body_is_read(scripted, caplog):
    server, _, log = scripted
    caplog.set_level(logging.INFO, logger="t2s.serve.access")
    before = len(_lines(log))
    text = httpx.get(server.url + "/metrics", headers=AUTH).text
    auth_failures = metric(text, "t2s_failures_total", kind="auth")
    bodies = [b"{not json", b'{"question": 1, "db_id": []}', b'{"execute": "yes"}', b"[" * 5000]
    for index, body in enumerate(bodies):
        for route in ("/generate", "/v1/chat/completions", "/admin/adapters"):
            response = httpx.post(server.url + route, content=body,
                                  headers={**JSON, "X-Request-ID": f"anon-{index}"})
            assert response.status_code == 401, (route, body[:20], response.text)
            assert response.json()["error"]["kind"] == "auth"
    # The same malformed body with a key is a validation error, and a request-log line.
    keyed = httpx.post(server.url + "/generate", content=b"{not json",
                       headers={**JSON, **AUTH, "X-Request-ID": "keyed-1"})
    assert keyed.status_code == 422 and keyed.json()["error"]["kind"] == "validation"
    lines = _lines(log)[before:]
    assert [line["request_id"] for line in lines] == ["keyed-1"]
    text = httpx.get(server.url + "/metrics", headers=AUTH).text
    assert metric(text, "t2s_failures_total", kind="auth") - auth_failures == 12
    assert metric(text, "t2s_requests_total", route="/generate", status="401") >= 4
    logged = " ".join(r.getMessage() for r in caplog.records if r.name == "t2s.serve.access")
    assert "keyed-1" in logged and "anon-" not in logged  # refused requests are counts only


class _LineWatcher(logging.Handler):
    """Sets ``event`` once a log line holding ``needle`` is emitted."""

    def __init__(self, needle: str, event: threading.Event) -> None:
        super().__init__()
        self.needle, self.event = needle, event

    def emit(self, record: logging.LogRecord) -> None:
        if self.needle in record.getMessage():
            self.event.set()


def test_unknown_paths_and_oversized_bodies_are_counted_not_logged(scripted, caplog):
    server, _, log = scripted
    caplog.set_level(logging.INFO, logger="t2s.serve.access")
    before = len(_lines(log))
    for index in range(5):
        missing = httpx.get(server.url + f"/no/such/{index}", headers={"X-Request-ID": f"nf-{index}"})
        assert missing.status_code == 404
    big = httpx.post(server.url + "/generate", content=b"x" * 300_000,
                     headers={**JSON, "X-Request-ID": "big-1"})
    assert big.status_code == 413
    # The access line is written after the response is sent (the middleware's
    # finally), so the client can read the reply first: wait for that line, which
    # also means every earlier request's line (or its absence) is settled.
    seen = threading.Event()
    watcher = _LineWatcher("keyed-2", seen)
    logging.getLogger("t2s.serve.access").addHandler(watcher)
    try:
        keyed = httpx.get(server.url + "/databases", headers={**AUTH, "X-Request-ID": "keyed-2"})
        assert keyed.status_code == 200
        assert seen.wait(timeout=60), "no access-log line for a keyed request"
    finally:
        logging.getLogger("t2s.serve.access").removeHandler(watcher)
    logged = " ".join(r.getMessage() for r in caplog.records if r.name == "t2s.serve.access")
    assert "keyed-2" in logged and "nf-" not in logged and "big-1" not in logged
    assert _lines(log)[before:] == []
    text = httpx.get(server.url + "/metrics", headers=AUTH).text
    assert metric(text, "t2s_requests_total", route="unmatched", status="404") >= 5


# --------------------------------------------------------------------------- request log


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_a_full_request_log_disk_fails_no_request(sample_dir, tmp_path, caplog):
    # /dev/full accepts the open and fails every write with ENOSPC: a full disk.
    config = serve_config(sample_dir, tmp_path, f"infer.adapter_path={scripted_adapter(tmp_path / 'a')}",
                          "serve.request_log=/dev/full")
    server = start_server(config, [("default", str(tmp_path / "a"))], loader=scripted_loader)
    try:
        with caplog.at_level(logging.WARNING, logger="t2s.serve.requestlog"):
            for index in range(3):
                response = httpx.post(server.url + "/generate", headers=AUTH, timeout=60, json={
                    "question": f"SQL: SELECT {index}", "db_id": "concert_hall"})
                assert response.status_code == 200, response.text
                assert response.json()["sql"] == f"SELECT {index}"
            invalid = httpx.post(server.url + "/generate", headers=AUTH, json={"bogus": 1})
            assert invalid.status_code == 422
        text = httpx.get(server.url + "/metrics", headers=AUTH).text
        assert metric(text, "t2s_request_log_failures_total") == 4
        warnings = [r for r in caplog.records if r.name == "t2s.serve.requestlog"]
        assert len(warnings) == 1 and "No space left on device" in warnings[0].getMessage()
    finally:
        server.stop()


def test_an_unwritable_request_log_is_a_config_error(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "folder").mkdir()
    for path, reason in [(tmp_path / "file" / "requests.jsonl", "file is a file, not a folder"),
                         (tmp_path / "file" / "deeper" / "r.jsonl", "file is a file, not a folder"),
                         (tmp_path / "folder", "Is a directory")]:
        with pytest.raises(ConfigError, match="serve.request_log: cannot append to") as caught:
            RequestLog(path)
        assert reason in str(caught.value), caught.value
    if os.geteuid() != 0:  # root writes into a read-only folder anyway
        (tmp_path / "ro").mkdir(mode=0o500)
        with pytest.raises(ConfigError, match="Permission denied"):
            RequestLog(tmp_path / "ro" / "requests.jsonl")


@pytest.fixture()
def t2s_logger():
    """``t2s serve`` sets the t2s logger's level; put it back for the next tests."""
    logger = logging.getLogger("t2s")
    level = logger.level
    yield
    logger.setLevel(level)


def _serve(sample_dir: Path, tmp_path: Path, *overrides: str, port: int = 0) -> list[str]:
    return ["serve", "--config", str(ROOT / "configs" / "tiny.yaml"), "--port", str(port),
            f"data.root={sample_dir}", f"infer.adapter_path={scripted_adapter(tmp_path / 'a')}",
            *overrides]


def test_t2s_serve_start_up_errors_are_messages(sample_dir, tmp_path, capsys, t2s_logger):
    (tmp_path / "file").write_text("x")
    status = main(_serve(sample_dir, tmp_path, f"serve.request_log={tmp_path / 'file' / 'r.jsonl'}"))
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    assert "t2s serve: error: serve.request_log: cannot append to" in err
    assert f"{tmp_path / 'file'} is a file, not a folder" in err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        status = main(_serve(sample_dir, tmp_path, f"serve.request_log={tmp_path / 'r.jsonl'}",
                             port=port))
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in err


# --------------------------------------------------------------------------- paths


def test_models_and_admin_replies_name_no_server_path(scripted):
    server, tmp, _ = scripted
    base = tmp / "models" / "my-local-base"
    base.mkdir(parents=True)
    (base / "config.json").write_text("{}")
    adapter = scripted_adapter(tmp / "on_local_base")
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(base)}))
    replies = [httpx.post(server.url + "/admin/adapters", headers=ADMIN,
                          json={"name": "local", "path": str(adapter)})]
    assert replies[0].status_code == 201, replies[0].text
    assert replies[0].json()["base"] == "my-local-base"
    replies.append(httpx.get(server.url + "/v1/models", headers=AUTH))
    assert {"scripted", "my-local-base"} <= {m["base"] for m in replies[-1].json()["data"]}
    for path in (tmp / "missing", base, Path("/etc")):
        replies.append(httpx.post(server.url + "/admin/adapters", headers=ADMIN,
                                  json={"name": "bad", "path": str(path)}))
        assert replies[-1].status_code == 422
    replies.append(httpx.delete(server.url + "/admin/adapters/local", headers=ADMIN))
    root = str(tmp.parent.parent)  # the pytest tmp root above every folder used here
    for reply in replies:
        assert root not in reply.text and "/etc" not in reply.text, reply.text


# --------------------------------------------------------------------------- Host header


def test_host_header_is_checked_without_keys(sample_dir, tmp_path):
    config = serve_config(sample_dir, tmp_path, f"infer.adapter_path={scripted_adapter(tmp_path / 'a')}",
                          "serve.allowed_hosts=[t2s.internal]")
    server = start_server(config, [("default", str(tmp_path / "a"))], loader=scripted_loader,
                          keys=[], admin_keys=[])
    port = server.port
    try:
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", "t2s.internal", "LOCALHOST"):
            response = httpx.get(server.url + "/readyz", headers={"Host": host})
            assert response.status_code == 200, (host, response.text)
        for host in ("rebind.attacker.example", f"attacker.example:{port}",
                     "localhost.attacker.example", "127.0.0.1.nip.io", "", "[::1"):
            for path in ("/readyz", "/healthz", "/"):
                response = httpx.get(server.url + path, headers={"Host": host})
                assert response.status_code == 400, (host, path, response.text)
                assert response.json()["error"]["kind"] == "bad_host"
        text = httpx.get(server.url + "/metrics").text
        assert metric(text, "t2s_failures_total", kind="bad_host") == 18
    finally:
        server.stop()


def test_with_keys_any_host_is_served(scripted):
    server, _, _ = scripted  # keys set and no serve.allowed_hosts: a cluster node's name is fine
    response = httpx.get(server.url + "/readyz", headers={**AUTH, "Host": "gpu-node-3:8000"})
    assert response.status_code == 200


# --------------------------------------------------------------------------- admin key


def test_admin_routes_need_the_admin_key(scripted):
    server, tmp, _ = scripted
    body = {"name": "v9", "path": str(scripted_adapter(tmp / "v9"))}
    for headers in ({}, AUTH, {"X-API-Key": KEY}):  # a client key is no admin key
        response = httpx.post(server.url + "/admin/adapters", headers=headers, json=body)
        assert response.status_code == 401 and "admin key" in response.json()["error"]["message"]
        assert httpx.delete(server.url + "/admin/adapters/v9", headers=headers).status_code == 401
    assert httpx.get(server.url + "/readyz", headers=ADMIN).status_code == 401  # nor the reverse
    assert httpx.post(server.url + "/admin/adapters", headers=ADMIN, json=body).status_code == 201
    assert httpx.delete(server.url + "/admin/adapters/v9", headers=ADMIN).status_code == 200


def test_admin_refuses_a_base_model_folder(scripted):
    server, tmp, _ = scripted
    base = tmp / "base_model"
    base.mkdir()
    (base / "config.json").write_text('{"model_type": "llama"}')
    response = httpx.post(server.url + "/admin/adapters", headers=ADMIN,
                          json={"name": "base", "path": str(base)})
    assert response.status_code == 422
    assert "not a LoRA adapter folder (no adapter_config.json)" in response.json()["error"]["message"]
    assert "base" not in [m["id"] for m in httpx.get(server.url + "/v1/models", headers=AUTH).json()["data"]]


def test_admin_routes_are_off_without_an_admin_key(sample_dir, tmp_path):
    config = serve_config(sample_dir, tmp_path, f"infer.adapter_path={scripted_adapter(tmp_path / 'a')}")
    server = start_server(config, [("default", str(tmp_path / "a"))], loader=scripted_loader,
                          admin_keys=[])
    try:
        response = httpx.post(server.url + "/admin/adapters", headers=AUTH,
                              json={"name": "v2", "path": str(tmp_path / "a")})
        assert response.status_code == 401
        assert "admin routes are off" in response.json()["error"]["message"]
    finally:
        server.stop()


def test_admin_keys_are_their_own_and_never_shown(monkeypatch):
    with pytest.raises(ConfigError, match="serve.admin_api_keys: shares a key with serve.api_keys"):
        load_config(ROOT / "configs" / "tiny.yaml", ["serve.api_keys=[same]",
                                                     "serve.admin_api_keys=[same]"])
    with pytest.raises(ConfigError, match="serve.admin_api_keys: holds an empty key"):
        load_config(ROOT / "configs" / "tiny.yaml", ["serve.admin_api_keys=['  ']"])
    monkeypatch.setenv("T2S_API_KEY", "client-from-env")
    monkeypatch.setenv("T2S_ADMIN_API_KEY", "admin-from-env")
    config = load_config(ROOT / "configs" / "tiny.yaml", ["serve.admin_api_keys=[admin-yaml]"])
    keys = configured_keys(config.serve)
    assert keys == ApiKeys(client=("client-from-env",), admin=("admin-yaml", "admin-from-env"))
    assert "from-env" not in repr(keys) and "admin-yaml" not in repr(keys)
    assert ADMIN_KEY not in repr(ApiKeys(admin=(ADMIN_KEY,)))


# --------------------------------------------------------------------------- bodies


def test_chat_names_its_own_field_and_types_are_strict(scripted):
    server, _, _ = scripted
    chat = {"model": "default", "db_id": "concert_hall",
            "messages": [{"role": "user", "content": "How many artists?"}]}
    response = httpx.post(server.url + "/v1/chat/completions", headers=AUTH,
                          json={**chat, "max_tokens": 65})
    message = response.json()["error"]["message"]
    assert response.status_code == 422 and message.startswith("max_tokens: at most 64"), message
    assert "max_new_tokens:" not in message
    plain = {"question": "SQL: SELECT 1", "db_id": "concert_hall"}
    for field, value in [("execute", "yes"), ("execute", 1), ("execute", "true"),
                         ("max_rows", "5"), ("max_new_tokens", 5.0), ("question", 7)]:
        response = httpx.post(server.url + "/generate", headers=AUTH, json={**plain, field: value})
        assert response.status_code == 422, (field, value, response.text)
        assert response.json()["error"]["fields"][0]["field"] == field
    assert httpx.post(server.url + "/v1/chat/completions", headers=AUTH,
                      json={**chat, "max_tokens": 64, "temperature": 0}).status_code == 200
    assert httpx.post(server.url + "/generate", headers=AUTH,
                      json={**plain, "execute": False}).status_code == 200
