"""The server's error shapes: ``error.kind`` values, :class:`RequestError` and the handlers.

Every error body is ``{"error": {"kind", "message", "request_id", ...}}`` with a
stable ``kind`` (README "Serving" lists them); no stack trace reaches a client.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from t2s.serve.requestlog import RequestRecord

if TYPE_CHECKING:  # the service imports this module; the handlers only need its type
    from t2s.serve.service import Service

log = logging.getLogger(__name__)

# error.kind values: stable, documented in README "Serving".
VALIDATION = "validation"
AUTH = "auth"
BAD_HOST = "bad_host"
NOT_FOUND = "not_found"
CONFLICT = "conflict"
TOO_LARGE = "payload_too_large"
NOT_READY = "not_ready"
OVERLOADED = "overloaded"
GENERATION = "generation"
SQL_PARSE = "sql_parse"
EXECUTION = "execution_error"
TIMEOUT = "timeout"
RESULT_TOO_LARGE = "result_too_large"
DATABASE_UNAVAILABLE = "database_unavailable"
ENGINE_UNAVAILABLE = "engine_unavailable"
INTERNAL = "internal"

# Routes whose every request, refused ones included, is a request-log line.
LOGGED_ROUTES = ("/generate", "/v1/chat/completions")

_STATUS_KIND = {401: AUTH, 404: NOT_FOUND, 405: NOT_FOUND, 413: TOO_LARGE, 503: NOT_READY}


class RequestError(Exception):
    """A request that cannot be answered: ``kind``, HTTP ``status`` and a message."""

    def __init__(self, kind: str, status: int, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.message = message


def error_response(kind: str, status: int, message: str, request_id: str,
                   extra: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """The one error body: ``{"error": {"kind", "message", "request_id", ...}}``."""
    body = {"kind": kind, "message": message, "request_id": request_id, **(extra or {})}
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def request_id(request: Request) -> str:
    """The id :class:`~t2s.serve.middleware.RequestContext` gave the request."""
    return request.scope.get("t2s_request_id", "-")


def validation_fields(exc: RequestValidationError) -> list[dict[str, str]]:
    """``[{"field", "message"}]`` of a validation error, fields dotted without ``body``."""
    fields = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ()) if part != "body"]
        fields.append({"field": ".".join(location) or "body", "message": error.get("msg", "")})
    return fields


def install_handlers(app: FastAPI, service: Service) -> None:
    """Turn every exception into the one error body, counted by kind."""

    async def request_error(request: Request, exc: RequestError) -> JSONResponse:
        service.metrics.failure(exc.kind)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error_response(exc.kind, exc.status, exc.message, request_id(request),
                              headers=headers)

    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        service.metrics.failure(VALIDATION)
        fields = validation_fields(exc)
        message = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
        if request.url.path in LOGGED_ROUTES:
            record = RequestRecord.start(request_id(request), request.url.path)
            record.fail(422, VALIDATION, message)
            service.request_log.write(record)
        return error_response(VALIDATION, 422, message, request_id(request),
                              extra={"fields": fields})

    async def http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = _STATUS_KIND.get(exc.status_code, VALIDATION)
        service.metrics.failure(kind)
        return error_response(kind, exc.status_code, str(exc.detail), request_id(request))

    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request %s failed", request_id(request))
        service.metrics.failure(INTERNAL)
        return error_response(INTERNAL, 500, f"internal error; quote request id "
                                             f"{request_id(request)}", request_id(request))

    app.add_exception_handler(RequestError, request_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http)
    app.add_exception_handler(Exception, internal)
