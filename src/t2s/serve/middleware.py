"""The outermost ASGI layer: request id, Host check, body-size limit, access log, metrics."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from starlette.responses import JSONResponse

from t2s.config import ServeConfig
from t2s.serve.errors import BAD_HOST, TOO_LARGE, error_response
from t2s.serve.keys import ApiKeys
from t2s.serve.service import Service

access_log = logging.getLogger("t2s.serve.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def accepted_hosts(serve: ServeConfig, keys: ApiKeys) -> frozenset[str] | None:
    """Host names a request's ``Host`` header may carry; None: any.

    Without a client key (loopback only) a web page the user visits could
    rebind its own DNS name to 127.0.0.1 and read the open API from the
    browser; the ``Host`` header still names the attacker's domain, so only the
    bound address, ``localhost`` and ``serve.allowed_hosts`` are accepted.
    With client keys the check applies when ``serve.allowed_hosts`` is set.
    """
    if keys.client and not serve.allowed_hosts:
        return None
    bound = f"[{serve.host}]" if ":" in serve.host else serve.host
    return frozenset(name.lower() for name in
                     ("localhost", "127.0.0.1", "[::1]", bound, *serve.allowed_hosts))


def host_name(header: str) -> str:
    """The name part of a ``Host`` header (``node:8000`` -> ``node``, ``[::1]:80`` -> ``[::1]``)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[:header.find("]") + 1]
    return header.partition(":")[0]


class RequestContext:
    """Outermost ASGI middleware: request id, Host check, body-size limit, access log, metrics.

    The body limit reads at most ``max_body_bytes + 1`` bytes before the app
    sees anything, so an oversized body is refused (413) without being parsed,
    whether or not it declares its ``Content-Length``. A request refused for
    its ``Host`` (400) or its key (401), on a path no router matches (404) or for
    its size (413) is counted in the metrics only: no access-log line, no
    request-log line.

    Args:
        app: The FastAPI application.
        service: Its service (metrics, limits).
        hosts: What :func:`accepted_hosts` returned (None: no Host check).
    """

    def __init__(self, app: Any, service: Service, hosts: frozenset[str] | None = None) -> None:
        self.app = app
        self.service = service
        self.max_body = service.serve.max_body_bytes
        self.hosts = hosts

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope.get("headers") or ())
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope["t2s_request_id"] = request_id
        status = {"code": 500}

        async def send_with_id(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"],
                                      (b"x-request-id", request_id.encode("latin-1"))]
            await send(message)

        try:
            refusal, receive = await self._refusal(scope, headers, receive, request_id)
            if refusal is not None:
                await refusal(scope, receive, send_with_id)
                return
            await self.app(scope, receive, send_with_id)
        finally:
            self._finished(scope, request_id, status["code"], time.perf_counter() - started)

    async def _refusal(self, scope: dict, headers: dict, receive: Callable,
                       request_id: str) -> tuple[JSONResponse | None, Callable]:
        """The response of a request refused before the app (Host, body size), or None,
        and the ``receive`` the app reads the body from (a replay of the body read here)."""
        if self.hosts is not None:
            name = host_name(headers.get(b"host", b"").decode("latin-1"))
            if name not in self.hosts:
                scope["t2s_unauthenticated"] = True
                self.service.metrics.failure(BAD_HOST)
                return error_response(BAD_HOST, 400, f"Host {name!r} is not this server "
                                      "(serve.allowed_hosts names more)", request_id), receive
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return None, receive
        body = await self._read_body(headers, receive)
        if body is None:
            self.service.metrics.failure(TOO_LARGE)
            return error_response(TOO_LARGE, 413, f"request body larger than {self.max_body} "
                                  "bytes (serve.max_body_bytes)", request_id), receive
        return None, _replay(body)

    def _finished(self, scope: dict, request_id: str, status: int, seconds: float) -> None:
        """Count the request; log it unless it was refused before authentication."""
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        adapter = (scope.get("state") or {}).get("adapter") or "-"
        self.service.metrics.request(route, adapter, status, seconds)
        # Refused before any key was checked: the Host check, the key check itself, a
        # path no router matched (404, so no key check ran) and an oversized body (413,
        # refused before the app). Counted above, never logged: 500 such requests must
        # not add 500 lines (issue 20).
        if (scope.get("t2s_unauthenticated") or status in (401, 413)
                or route == "unmatched"):
            return
        access_log.info(json.dumps({
            "request_id": request_id, "method": scope["method"], "route": route,
            "status": status, "ms": round(seconds * 1000, 2), "adapter": adapter}))

    async def _read_body(self, headers: dict, receive: Callable) -> bytes | None:
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            return None
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _replay(body: bytes) -> Callable:
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        # After the body, a receive waits for the disconnect, as a real one would.
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    return receive
