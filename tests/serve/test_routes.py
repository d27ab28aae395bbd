"""Every route of the app checks a key unless it is on the open list, read from the app itself.

No hand-kept route list: the walk reads ``app.routes``, so a route added
without auth fails here (the self-tests inject such routes and see them caught).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from serve_support import ADMIN_KEY, KEY, endpoints, scripted_loader

from t2s.config import load_config
from t2s.serve.adapters import AdapterRegistry
from t2s.serve.app import create_app
from t2s.serve.auth import require_admin_key, require_client_key
from t2s.serve.keys import ApiKeys
from t2s.serve.requestlog import RequestLog
from t2s.serve.routes import OPEN_ROUTES
from t2s.serve.service import Service

ROOT = Path(__file__).resolve().parents[2]
KEY_CHECKS = {require_client_key, require_admin_key}


def _calls(dependant) -> Iterator:
    yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def unchecked_routes(app: FastAPI) -> list[str]:
    """``METHOD path`` of each route that declares no key check and is not open."""
    found = []
    for method, path, route in endpoints(app):
        dependant = getattr(route, "dependant", None)
        checked = dependant is not None and any(c in KEY_CHECKS for c in _calls(dependant))
        if not checked and (method, path) not in OPEN_ROUTES:
            found.append(f"{method} {path}")
    return found


def admin_routes_without_admin_check(app: FastAPI) -> list[str]:
    """``METHOD path`` of each ``/admin`` route whose check is not the admin key's alone."""
    found = []
    for method, path, route in endpoints(app):
        calls = set(_calls(route.dependant)) if hasattr(route, "dependant") else set()
        if path.startswith("/admin") and (require_admin_key not in calls
                                          or require_client_key in calls):
            found.append(f"{method} {path}")
    return found


def answered_without_key(app: FastAPI, client: TestClient) -> list[str]:
    """``METHOD path`` of each route not on the open list that does not answer 401 without a key."""
    found = []
    for method, path, _ in endpoints(app):
        if (method, path) in OPEN_ROUTES:
            continue
        url = re.sub(r"\{[^}]+\}", "x", path)
        # A malformed body: the key is checked before any body is parsed (401, not 422).
        response = client.request(method, url, content=b"{not json",
                                  headers={"Content-Type": "application/json"})
        if response.status_code != 401 or response.json()["error"]["kind"] != "auth":
            found.append(f"{method} {path} -> {response.status_code}")
    return found


@pytest.fixture()
def app_and_client(tmp_path):
    """The real app over a service that never starts (a key check needs no model)."""
    config = load_config(ROOT / "configs" / "tiny.yaml", [f"infer.adapter_path={tmp_path}"])
    service = Service(config, AdapterRegistry(config, None, scripted_loader), {}, RequestLog(None))
    asgi = create_app(service, [], ApiKeys(client=(KEY,), admin=(ADMIN_KEY,)))
    return asgi.app, TestClient(asgi)


def test_every_route_checks_a_key_unless_open(app_and_client):
    app, client = app_and_client
    table = {(m, p) for m, p, _ in endpoints(app)}
    assert len(table) >= 11 and OPEN_ROUTES <= table  # the walk sees the routers' routes
    assert unchecked_routes(app) == []
    assert admin_routes_without_admin_check(app) == []
    assert answered_without_key(app, client) == []
    assert client.get("/healthz").status_code == 200


def test_the_walk_catches_an_open_route(app_and_client):
    app, client = app_and_client

    async def leak() -> dict:
        return {"secret": True}

    app.add_api_route("/leak", leak, methods=["GET"])
    forgotten = APIRouter()  # a router that forgot its dependencies=[...]
    forgotten.add_api_route("/forgotten/{name}", leak, methods=["POST"])
    app.include_router(forgotten)
    assert unchecked_routes(app) == ["GET /leak", "POST /forgotten/{name}"]
    assert answered_without_key(app, client) == ["GET /leak -> 200", "POST /forgotten/{name} -> 200"]
