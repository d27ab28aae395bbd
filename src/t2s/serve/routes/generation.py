"""Question -> SQL: ``POST /generate`` and ``POST /v1/chat/completions`` (client key).

Each request is one line of the request log (:class:`~t2s.serve.requestlog.RequestRecord`),
whatever its outcome.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request

from t2s.config import ServeConfig
from t2s.serve.auth import require_client_key
from t2s.serve.bodies import ChatJson, GenerateJson, GenerateResponse
from t2s.serve.errors import INTERNAL, VALIDATION, RequestError, request_id
from t2s.serve.requestlog import RequestRecord
from t2s.serve.routes.common import ServiceDep
from t2s.serve.service import GenerateInput, Service

router = APIRouter(dependencies=[Depends(require_client_key)])


def _check_bounds(body: GenerateInput, serve: ServeConfig, tokens_field: str) -> None:
    """The bounds a body's schema cannot hold: they come from the config.

    Raises:
        RequestError: validation (422) naming the request's own field.
    """
    if len(body.question) > serve.max_question_chars:
        raise RequestError(VALIDATION, 422, f"question: longer than {serve.max_question_chars} "
                                            "characters (serve.max_question_chars)")
    if body.max_new_tokens is not None and body.max_new_tokens > serve.max_new_tokens:
        raise RequestError(VALIDATION, 422, f"{tokens_field}: at most {serve.max_new_tokens} "
                                            "(serve.max_new_tokens)")


async def run_generate(service: Service, request: Request, body: GenerateInput,
                       route: str, tokens_field: str = "max_new_tokens") -> dict:
    """Answer ``body`` and write its request-log line, whatever the outcome.

    Args:
        tokens_field: What the route calls the decoding limit (errors name it).

    Raises:
        RequestError: for every refused or failed request (the log line says which).
    """
    record = RequestRecord.start(request_id(request), route)
    started = time.perf_counter()
    try:
        _check_bounds(body, service.serve, tokens_field)
        response = await service.generate(body, record)
        record.status = 200
        record.outcome = (response.get("error") or {}).get("kind", "ok")
        return response
    except RequestError as exc:
        record.fail(exc.status, exc.kind, exc.message)
        raise
    except Exception as exc:
        record.fail(500, INTERNAL, type(exc).__name__)
        raise
    finally:
        record.latency_ms = round((time.perf_counter() - started) * 1000, 2)
        request.state.adapter = record.adapter
        service.request_log.write(record)


@router.post("/generate", response_model=GenerateResponse, response_model_exclude_none=True)
async def generate(body: GenerateJson, request: Request, service: ServiceDep) -> dict:
    """Question -> SQL, and its rows with ``execute``."""
    response = await run_generate(service, request, GenerateInput(
        question=body.question, db_id=body.db_id, schema=body.schema_,
        adapter=body.adapter, execute=body.execute, max_rows=body.max_rows,
        max_new_tokens=body.max_new_tokens, evidence=body.evidence), "/generate")
    return {"request_id": request_id(request), **response}


@router.post("/v1/chat/completions")
async def chat(body: ChatJson, request: Request, service: ServiceDep) -> dict:
    """OpenAI-compatible subset (see :class:`~t2s.serve.bodies.ChatBody`); the answer is the SQL."""
    questions = [m.content for m in body.messages if m.role == "user"]
    if not questions or not questions[-1].strip():
        raise RequestError(VALIDATION, 422, "messages: no user message with content")
    response = await run_generate(service, request, GenerateInput(
        question=questions[-1], db_id=body.db_id, adapter=body.model,
        max_new_tokens=body.max_tokens), "/v1/chat/completions", tokens_field="max_tokens")
    tokens = response["tokens"]
    return {
        "id": "chatcmpl-" + request_id(request), "object": "chat.completion",
        "created": int(time.time()), "model": response["adapter"],
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": response["sql"]}}],
        "usage": {"prompt_tokens": tokens["prompt"], "completion_tokens": tokens["completion"],
                  "total_tokens": tokens["prompt"] + tokens["completion"]},
    }
