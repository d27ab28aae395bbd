"""The outermost ASGI layer: request id, body-size limit, access log, request metrics."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from t2s.serve.errors import TOO_LARGE, error_response
from t2s.serve.service import Service

access_log = logging.getLogger("t2s.serve.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestContext:
    """Outermost ASGI middleware: request id, body-size limit, access log, request metrics.

    The body limit reads at most ``max_body_bytes + 1`` bytes before the app
    sees anything, so an oversized body is refused (413) without being parsed,
    whether or not it declares its ``Content-Length``.
    """

    def __init__(self, app: Any, service: Service) -> None:
        self.app = app
        self.service = service
        self.max_body = service.serve.max_body_bytes

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
            if scope["method"] in ("POST", "PUT", "PATCH"):
                body = await self._read_body(headers, receive)
                if body is None:
                    self.service.metrics.failure(TOO_LARGE)
                    response = error_response(
                        TOO_LARGE, 413,
                        f"request body larger than {self.max_body} bytes (serve.max_body_bytes)",
                        request_id)
                    await response(scope, receive, send_with_id)
                    return
                receive = _replay(body)
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            adapter = (scope.get("state") or {}).get("adapter") or "-"
            self.service.metrics.request(route, adapter, status["code"], seconds)
            access_log.info(json.dumps({
                "request_id": request_id, "method": scope["method"], "route": route,
                "status": status["code"], "ms": round(seconds * 1000, 2), "adapter": adapter}))

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
