"""Request and response bodies of the HTTP API (pydantic models), and how a body is read.

Request bodies are strict: an unknown field is a 422 naming it, not silently
dropped, and a value of the wrong JSON type is not converted (``"execute":
"yes"`` or ``"max_rows": "5"`` is a 422). A route takes its body through
:func:`json_body`, a dependency: FastAPI solves the router's key check first,
so a body is parsed only for a caller with a key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from t2s.config import NAME_PATTERN

Body = TypeVar("Body", bound=BaseModel)


class Strict(BaseModel):
    """Unknown fields and values of the wrong JSON type are errors (422 naming the field)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class GenerateBody(Strict):
    """``POST /generate``. Exactly one of ``db_id`` and ``schema``."""

    question: str = Field(min_length=1, description="The natural-language question.")
    db_id: str | None = Field(None, description="A registered database or one of the dataset.")
    schema_: dict[str, Any] | str | None = Field(
        None, alias="schema", description="An inline tables.json entry, or CREATE TABLE statements.")
    adapter: str | None = Field(None, pattern=NAME_PATTERN, description="Adapter name (default: serve.default_adapter).")
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

    model: str = Field(pattern=NAME_PATTERN)
    messages: list[ChatMessage] = Field(min_length=1)
    db_id: str
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=0)
    n: int = Field(1, ge=1, le=1)
    stream: Literal[False] = False
    user: str | None = None


class AdapterBody(Strict):
    """``POST /admin/adapters``: load ``path`` as ``name`` (replacing one of that name)."""

    name: str = Field(pattern=NAME_PATTERN)
    path: str = Field(min_length=1)


def json_body(model: type[Body]) -> Callable[[Request], Awaitable[Body]]:
    """A dependency that reads the request body as JSON into ``model``.

    Raises:
        RequestValidationError: for another Content-Type, malformed JSON or an
            invalid body (422 naming the fields).
    """

    async def parse(request: Request) -> Body:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            raise RequestValidationError([{"loc": ("body",), "type": "content_type",
                                           "msg": "Content-Type must be application/json"}])
        try:
            return model.model_validate_json(await request.body())
        except ValidationError as exc:
            raise RequestValidationError(
                [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]) from None

    return parse


# Route parameters: the body, parsed after the router's key check.
GenerateJson = Annotated[GenerateBody, Depends(json_body(GenerateBody))]
ChatJson = Annotated[ChatBody, Depends(json_body(ChatBody))]
AdapterJson = Annotated[AdapterBody, Depends(json_body(AdapterBody))]
