"""The ASGI application of ``t2s serve``: the routers, inside :class:`RequestContext`.

Routes (all but ``/healthz`` and the static playground page ``/`` need an API
key when keys are configured; each router declares its key check):

- ``POST /generate`` — question -> SQL (+ result with ``execute``);
- ``POST /v1/chat/completions`` — an OpenAI-compatible subset (see
  :class:`~t2s.serve.bodies.ChatBody`);
- ``GET /healthz`` (process up), ``GET /readyz`` (models loaded and warm),
  ``GET /v1/models``, ``GET /databases``, ``GET /schemas/{db_id}``, ``GET /metrics``;
- ``POST /admin/adapters``, ``DELETE /admin/adapters/{name}`` — hot swap;
- ``GET /`` — the playground page.

Every error is ``{"error": {"kind", "message", "request_id"}}`` with a stable
``kind`` (:mod:`t2s.serve.errors`); no stack trace reaches a client. Every
response carries ``X-Request-ID``, which is also in the log lines.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from t2s.serve.errors import install_handlers
from t2s.serve.keys import ApiKeys
from t2s.serve.middleware import RequestContext, accepted_hosts
from t2s.serve.routes import ROUTERS
from t2s.serve.service import Service

log = logging.getLogger(__name__)


def _lifespan(service: Service, adapters: list[tuple[str, str]],
              on_fatal: Callable[[BaseException], None] | None) -> Callable:
    """Load ``adapters`` in the background at start-up (``/healthz`` answers at once)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        task = asyncio.create_task(service.start(adapters))

        def done(finished: asyncio.Task) -> None:
            if not finished.cancelled() and finished.exception() is not None:
                log.error("start-up failed: %s", finished.exception())
                if on_fatal is not None:
                    on_fatal(finished.exception())

        task.add_done_callback(done)
        yield
        if not task.done():
            task.cancel()
        await service.stop()

    return lifespan


def create_app(service: Service, adapters: list[tuple[str, str]], keys: ApiKeys,
               on_fatal: Callable[[BaseException], None] | None = None) -> RequestContext:
    """The ASGI application over ``service``: FastAPI inside :class:`RequestContext`.

    Args:
        service: The service (adapters may already be loaded).
        adapters: (name, folder) to load at start-up, in the background:
            ``/healthz`` answers at once, ``/readyz`` once they are loaded and warm.
        keys: Accepted keys; none: no authentication (loopback only; the
            command enforces that).
        on_fatal: Called if start-up fails (the command stops the server).
    """
    app = FastAPI(title="t2s", summary="Text-to-SQL generation with fine-tuned adapters",
                  lifespan=_lifespan(service, adapters, on_fatal),
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.service = service
    app.state.keys = keys
    install_handlers(app, service)
    for router in ROUTERS:
        app.include_router(router)
    if service.serve.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=service.serve.cors_origins,
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "X-API-Key", "Content-Type"])
    return RequestContext(app, service, accepted_hosts(service.serve, keys))
