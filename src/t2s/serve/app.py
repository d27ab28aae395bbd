"""The FastAPI application of ``t2s serve``: routes, validation, auth, limits, errors.

Routes (all but ``/healthz`` and the static playground page ``/`` need an API
key when keys are configured):

- ``POST /generate`` — question -> SQL (+ result with ``execute``);
- ``POST /v1/chat/completions`` — an OpenAI-compatible subset (see
  :class:`ChatBody`);
- ``GET /healthz`` (process up), ``GET /readyz`` (models loaded and warm),
  ``GET /v1/models``, ``GET /databases``, ``GET /schemas/{db_id}``, ``GET /metrics``;
- ``POST /admin/adapters``, ``DELETE /admin/adapters/{name}`` — hot swap;
- ``GET /`` — the playground page.

Every error is ``{"error": {"kind", "message", "request_id"}}`` with a stable
``kind`` (:mod:`t2s.serve.service`); no stack trace reaches a client. Every
response carries ``X-Request-ID``, which is also in the log lines.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from t2s.config import NAME_PATTERN
from t2s.errors import T2SError
from t2s.serve import service as kinds
from t2s.serve.requestlog import new_record
from t2s.serve.service import GenerateInput, RequestError, Service

log = logging.getLogger(__name__)
access_log = logging.getLogger("t2s.serve.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_NAME = NAME_PATTERN


# --------------------------------------------------------------------------- models


class Strict(BaseModel):
    """Unknown fields are an error (422 naming the field), not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class GenerateBody(Strict):
    """``POST /generate``. Exactly one of ``db_id`` and ``schema``."""

    question: str = Field(min_length=1, description="The natural-language question.")
    db_id: str | None = Field(None, description="A registered database or one of the dataset.")
    schema_: dict[str, Any] | str | None = Field(
        None, alias="schema", description="An inline tables.json entry, or CREATE TABLE statements.")
    adapter: str | None = Field(None, pattern=_NAME, description="Adapter name (default: serve.default_adapter).")
    evidence: str | None = Field(None, description="External knowledge (BIRD); in the prompt "
                                                   "when the adapter was trained with data.evidence.")
    execute: bool = Field(False, description="Run the SQL read-only and return its rows.")
    max_rows: int | None = Field(None, ge=1, description="Rows returned at most (<= infer.max_rows).")
    max_new_tokens: int | None = Field(None, ge=1, description="Decoding limit (<= serve.max_new_tokens).")

    @model_validator(mode="after")
    def _one_database(self) -> GenerateBody:
        if (self.db_id is None) == (self.schema_ is None):
            raise ValueError("give exactly one of db_id and schema")
        return self


class ExecutionResult(BaseModel):
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    elapsed_ms: float


class ErrorInfo(BaseModel):
    kind: str
    message: str


class Tokens(BaseModel):
    prompt: int
    completion: int


class GenerateResponse(BaseModel):
    """``POST /generate`` response; ``error`` is set when the SQL failed to run."""

    request_id: str
    sql: str
    adapter: str
    model_hash: str
    latency_ms: float
    cached: bool
    tokens: Tokens
    result: ExecutionResult | None = None
    error: ErrorInfo | None = None


class ChatMessage(Strict):
    role: Literal["system", "user", "assistant"]
    content: str


class ChatBody(Strict):
    """``POST /v1/chat/completions``: the subset t2s supports.

    Supported: ``model`` (an adapter name), ``messages`` (the last ``user``
    message is the question; other messages are ignored), ``max_tokens``,
    ``temperature`` (0 or absent: decoding is greedy), ``n`` (1), ``stream``
    (false), ``user`` (ignored), and the t2s extension ``db_id`` (required; with
    the OpenAI Python client: ``extra_body={"db_id": ...}``). Anything else is a
    422 naming the field.
    """

    model: str = Field(pattern=_NAME)
    messages: list[ChatMessage] = Field(min_length=1)
    db_id: str
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=0)
    n: int = Field(1, ge=1, le=1)
    stream: Literal[False] = False
    user: str | None = None


class AdapterBody(Strict):
    """``POST /admin/adapters``: load ``path`` as ``name`` (replacing one of that name)."""

    name: str = Field(pattern=_NAME)
    path: str = Field(min_length=1)


# --------------------------------------------------------------------------- errors


def error_response(kind: str, status: int, message: str, request_id: str,
                   extra: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """The one error body: ``{"error": {"kind", "message", "request_id", ...}}``."""
    body = {"kind": kind, "message": message, "request_id": request_id, **(extra or {})}
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _request_id(request: Request) -> str:
    return request.scope.get("t2s_request_id", "-")


def _validation_fields(exc: RequestValidationError) -> list[dict[str, str]]:
    fields = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ()) if part != "body"]
        fields.append({"field": ".".join(location) or "body", "message": error.get("msg", "")})
    return fields


_STATUS_KIND = {401: kinds.AUTH, 404: kinds.NOT_FOUND, 405: kinds.NOT_FOUND,
                413: kinds.TOO_LARGE, 503: kinds.NOT_READY}


# --------------------------------------------------------------------------- middleware


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
                    self.service.metrics.failure(kinds.TOO_LARGE)
                    response = error_response(
                        kinds.TOO_LARGE, 413,
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


# --------------------------------------------------------------------------- auth


def api_key_check(keys: list[str]) -> Callable:
    """A FastAPI dependency that accepts any of ``keys`` (none configured: open).

    The key comes as ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``; every
    configured key is compared in constant time (``hmac.compare_digest``), and
    all of them are always compared, so timing tells nothing about any key.
    """
    encoded = [k.encode("utf-8") for k in keys]

    async def check(request: Request) -> None:
        if not encoded:
            return
        given = request.headers.get("x-api-key", "")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token:
            given = token.strip()
        candidate = given.encode("utf-8")
        matched = False
        for key in encoded:
            matched |= hmac.compare_digest(candidate, key)
        if not matched:
            raise RequestError(kinds.AUTH, 401, "missing or wrong API key "
                                                "(Authorization: Bearer KEY or X-API-Key)")

    return check


def _inside(path: Path, roots: list[str]) -> bool:
    resolved = path.resolve()
    return any(resolved.is_relative_to(Path(root).resolve()) for root in roots)


# --------------------------------------------------------------------------- app


def create_app(service: Service, adapters: list[tuple[str, str]], api_keys: list[str],
               on_fatal: Callable[[BaseException], None] | None = None) -> RequestContext:
    """The ASGI application over ``service``: FastAPI inside :class:`RequestContext`.

    Args:
        service: The service (adapters may already be loaded).
        adapters: (name, folder) to load at start-up, in the background:
            ``/healthz`` answers at once, ``/readyz`` once they are loaded and warm.
        api_keys: Accepted keys; empty: no authentication (loopback only; the
            command enforces that).
        on_fatal: Called if start-up fails (the command stops the server).
    """

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

    app = FastAPI(title="t2s", summary="Text-to-SQL generation with fine-tuned adapters",
                  lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    auth = [Depends(api_key_check(api_keys))]
    serve = service.serve

    @app.exception_handler(RequestError)
    async def _request_error(request: Request, exc: RequestError) -> JSONResponse:
        service.metrics.failure(exc.kind)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error_response(exc.kind, exc.status, exc.message, _request_id(request),
                              headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        service.metrics.failure(kinds.VALIDATION)
        fields = _validation_fields(exc)
        message = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
        if request.url.path in ("/generate", "/v1/chat/completions"):
            record = new_record(_request_id(request), request.url.path)
            record.update(status=422, outcome=kinds.VALIDATION, error_kind=kinds.VALIDATION,
                          error=message)
            service.request_log.write(record)
        return error_response(kinds.VALIDATION, 422, message, _request_id(request),
                              extra={"fields": fields})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = _STATUS_KIND.get(exc.status_code, kinds.VALIDATION)
        service.metrics.failure(kind)
        return error_response(kind, exc.status_code, str(exc.detail), _request_id(request))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request %s failed", _request_id(request))
        service.metrics.failure(kinds.INTERNAL)
        return error_response(kinds.INTERNAL, 500,
                              f"internal error; quote request id {_request_id(request)}",
                              _request_id(request))

    @app.get("/healthz")
    async def healthz() -> dict:
        """The process is up (no key needed)."""
        return {"status": "ok"}

    @app.get("/readyz", dependencies=auth)
    async def readyz() -> JSONResponse:
        """200 once the adapters are loaded and warm, else 503."""
        if not service.ready:
            raise RequestError(kinds.NOT_READY, 503, "adapters are still loading")
        return JSONResponse({"ready": True, "adapters": [a.name for a in service.registry.all()]})

    @app.get("/v1/models", dependencies=auth)
    async def models() -> dict:
        """The loaded adapters (OpenAI list shape, with t2s details)."""
        return {"object": "list", "default": serve.default_adapter, "data": [
            {"id": a.name, "object": "model", "created": int(a.loaded_at), "owned_by": "t2s",
             **a.describe()} for a in service.registry.all()]}

    @app.get("/databases", dependencies=auth)
    async def databases() -> dict:
        """Databases a request may name (registered first, then the dataset's)."""
        return {"databases": service.database_names()}

    @app.get("/schemas/{db_id}", dependencies=auth)
    async def schema(db_id: str) -> dict:
        """The schema text a prompt for ``db_id`` holds."""
        if not service.ready:
            raise RequestError(kinds.NOT_READY, 503, "adapters are still loading")
        return service.schema(db_id)

    @app.get("/metrics", dependencies=auth)
    async def metrics() -> Response:
        """Prometheus exposition."""
        body, content_type = service.metrics.render()
        return Response(body, media_type=content_type)

    async def run_generate(request: Request, body: GenerateInput, route: str) -> dict:
        record = new_record(_request_id(request), route)
        started = time.perf_counter()
        try:
            if len(body.question) > serve.max_question_chars:
                raise RequestError(kinds.VALIDATION, 422,
                                   f"question: longer than {serve.max_question_chars} "
                                   "characters (serve.max_question_chars)")
            response = await service.generate(body, record)
            record.update(status=200, outcome=(response.get("error") or {}).get("kind", "ok"))
            return response
        except RequestError as exc:
            record.update(status=exc.status, outcome=exc.kind, error_kind=exc.kind,
                          error=exc.message)
            raise
        except Exception as exc:
            record.update(status=500, outcome=kinds.INTERNAL, error_kind=kinds.INTERNAL,
                          error=type(exc).__name__)
            raise
        finally:
            record["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
            request.state.adapter = record["adapter"]
            service.request_log.write(record)

    @app.post("/generate", dependencies=auth, response_model=GenerateResponse,
              response_model_exclude_none=True)
    async def generate(body: GenerateBody, request: Request) -> dict:
        """Question -> SQL, and its rows with ``execute``."""
        response = await run_generate(request, GenerateInput(
            question=body.question, db_id=body.db_id, schema=body.schema_,
            adapter=body.adapter, execute=body.execute, max_rows=body.max_rows,
            max_new_tokens=body.max_new_tokens, evidence=body.evidence), "/generate")
        return {"request_id": _request_id(request), **response}

    @app.post("/v1/chat/completions", dependencies=auth)
    async def chat(body: ChatBody, request: Request) -> dict:
        """OpenAI-compatible subset (see :class:`ChatBody`); the answer is the SQL."""
        questions = [m.content for m in body.messages if m.role == "user"]
        if not questions or not questions[-1].strip():
            raise RequestError(kinds.VALIDATION, 422, "messages: no user message with content")
        response = await run_generate(request, GenerateInput(
            question=questions[-1], db_id=body.db_id, adapter=body.model,
            max_new_tokens=body.max_tokens), "/v1/chat/completions")
        tokens = response["tokens"]
        return {
            "id": "chatcmpl-" + _request_id(request), "object": "chat.completion",
            "created": int(time.time()), "model": response["adapter"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": response["sql"]}}],
            "usage": {"prompt_tokens": tokens["prompt"], "completion_tokens": tokens["completion"],
                      "total_tokens": tokens["prompt"] + tokens["completion"]},
        }

    @app.post("/admin/adapters", dependencies=auth, status_code=201)
    async def load_adapter(body: AdapterBody) -> dict:
        """Load (or replace) an adapter; requests keep flowing meanwhile."""
        path = Path(body.path)
        if not _inside(path, serve.adapter_roots):
            raise RequestError(kinds.VALIDATION, 422, f"path: not under serve.adapter_roots "
                                                      f"({', '.join(serve.adapter_roots)})")
        async with service.admin_lock:
            try:
                adapter = await asyncio.to_thread(service.registry.load, body.name, path)
            except T2SError as exc:
                raise RequestError(kinds.VALIDATION, 422, f"path: {exc}") from None
            await service.warm_up(adapter)
        return adapter.describe()

    @app.delete("/admin/adapters/{name}", dependencies=auth)
    async def unload_adapter(name: str) -> dict:
        """Unload an adapter (not the default); its requests in flight finish."""
        if name == serve.default_adapter:
            raise RequestError("conflict", 409, f"{name!r} is the default adapter "
                                                "(serve.default_adapter); replace it instead")
        async with service.admin_lock:
            adapter = service.adapter(name)
            service.registry.unload(adapter.name)
        return {"unloaded": adapter.name, "sha256": adapter.sha256}

    @app.get("/", response_class=HTMLResponse)
    async def playground() -> HTMLResponse:
        """The playground page (static; it asks for the API key itself)."""
        page = resources.files("t2s.serve").joinpath("playground.html").read_text(encoding="utf-8")
        return HTMLResponse(page, headers={
            "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; "
                                       "style-src 'self' 'unsafe-inline'"})

    if serve.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=serve.cors_origins,
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "X-API-Key", "Content-Type"])
    return RequestContext(app, service)
