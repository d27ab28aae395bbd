"""What the server does for a request, apart from HTTP (routes, bodies, auth).

``POST /generate``: pick the adapter, build the prompt exactly as training did
(:meth:`~t2s.inference.pipeline.Predictor.prompt_for` for a database by name,
:meth:`~t2s.inference.pipeline.Predictor.prompt_for_schema` for an inline
tables.json entry or ``CREATE TABLE`` statements; the request's ``evidence``
when the adapter was trained with it), look it up in the response cache, else
queue it for a micro-batch;
then check the SQL against the database and, when asked, run it through the one
read-only guard (:func:`t2s.sqlexec.run_query`; a PostgreSQL database through a
pool of at most ``serve.db_pool_size`` sessions, :func:`t2s.sqlexec.open_pool`).
Every request leaves one line in the request log.

A PostgreSQL database that cannot be reached is answered 503
``database_unavailable`` (the server log says why; the client never sees the
DSN), and a pool whose sessions all stay busy 503 ``overloaded``.

Errors are :class:`~t2s.serve.errors.RequestError` with a stable ``kind`` (the
JSON body's ``error.kind``) and an HTTP status; nothing else reaches the client.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sqlite3
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from t2s.config import Config, SqlLimits
from t2s.data.spider import SpiderDataset, check_db_id, schema_from_tables_entry
from t2s.errors import DataError, InputError, T2SError
from t2s.inference.generate import Prompt
from t2s.inference.pipeline import Question
from t2s.serve.adapters import Adapter, AdapterRegistry, UnknownAdapterError
from t2s.serve.batcher import MicroBatcher, QueueFullError
from t2s.serve.cache import ResponseCache, cache_key
from t2s.serve.ddl import schema_from_ddl
from t2s.serve.errors import (
    DATABASE_UNAVAILABLE,
    ENGINE_UNAVAILABLE,
    EXECUTION,
    GENERATION,
    NOT_FOUND,
    NOT_READY,
    OVERLOADED,
    RESULT_TOO_LARGE,
    SQL_PARSE,
    TIMEOUT,
    VALIDATION,
    RequestError,
)
from t2s.serve.metrics import Metrics
from t2s.serve.requestlog import RequestLog, RequestRecord
from t2s.sqlexec import (
    ConnectionPool,
    DatabaseUnavailableError,
    ErrorKind,
    ExecResult,
    PoolBusyError,
    is_dsn,
    missing_object,
    open_pool,
    run_query,
)

log = logging.getLogger(__name__)

# sqlexec's error kinds as the API names them.
_EXEC_KIND = {ErrorKind.PARSE_ERROR: SQL_PARSE, ErrorKind.TIMEOUT: TIMEOUT,
              ErrorKind.RESULT_TOO_LARGE: RESULT_TOO_LARGE}


@dataclass(frozen=True)
class GenerateInput:
    """A validated ``/generate`` request (the web layer checked types and bounds)."""

    question: str
    db_id: str | None = None
    schema: dict[str, Any] | str | None = None
    adapter: str | None = None
    execute: bool = False
    max_rows: int | None = None
    max_new_tokens: int | None = None
    evidence: str | None = None


@dataclass
class _Target:
    """Where a question's prompt and SQL go."""

    prompt: Prompt
    path: Path | str | None
    source: str


class Service:
    """Adapters, databases, cache, batcher, metrics and request log of one server.

    Args:
        config: The resolved config (``serve``, ``infer``, ``data``).
        registry: The adapters.
        databases: Registered databases by name (``--db NAME=PATH``): SQLite
            files, or PostgreSQL DSNs (each gets a pool of ``serve.db_pool_size``).
        request_log: Where request records go.
    """

    def __init__(self, config: Config, registry: AdapterRegistry,
                 databases: dict[str, Path | str], request_log: RequestLog) -> None:
        self.config = config
        self.serve = config.serve
        self.registry = registry
        self.databases = databases
        # One pool per server database, registered (--db) or of the dataset
        # (data.databases); sessions are opened on first use, so a server that is
        # down at start does not stop the others from being served.
        self.pools: dict[str, ConnectionPool] = {
            str(t): open_pool(str(t), self.serve.db_pool_size) for t in databases.values()
            if is_dsn(t)}
        self.request_log = request_log
        self.cache = ResponseCache(self.serve.cache_size, self.serve.cache_ttl_s)
        self.batcher = MicroBatcher(self.serve.max_batch_size, self.serve.max_wait_ms / 1000,
                                    self.serve.max_queue)
        self.metrics = Metrics(queue_depth=lambda: self.batcher.depth,
                               cache_ratio=lambda: self.cache.hit_ratio,
                               adapters=lambda: len(self.registry.all()))
        self.batcher.on_batch = self.metrics.batch
        self.request_log.on_failure = self.metrics.request_log_failure
        self.ready = False
        # Set once ready: lets a caller on another thread (tests, benchmarks)
        # wait for start-up without polling /readyz.
        self.ready_event = threading.Event()
        self.admin_lock = asyncio.Lock()

    @property
    def dataset(self) -> SpiderDataset | None:
        return self.registry.dataset

    # ---------------------------------------------------------------- lifecycle

    async def start(self, adapters: list[tuple[str, str]]) -> None:
        """Start the batcher, load ``adapters`` (name, folder) and warm each up.

        Raises:
            T2SError: if an adapter cannot be loaded.
        """
        self.batcher.start()
        for name, path in adapters:
            if name not in self.registry:
                await asyncio.to_thread(self.registry.load, name, path, True)
        for adapter in self.registry.all():
            await self.warm_up(adapter)
            await self.read_schemas(adapter)
        self.ready = True
        self.ready_event.set()
        log.info("ready: adapters %s", ", ".join(a.name for a in self.registry.all()))

    async def warm_up(self, adapter: Adapter) -> None:
        """One short generation, so the first request does not pay for lazy setup."""
        prompt = adapter.predictor.prompt_for_schema(
            Question(id="warm-up", question="warm-up"), schema_from_ddl("CREATE TABLE t (a number)"))
        with self.registry.hold(adapter):
            await self.batcher.submit(adapter, prompt, "warm-up", 1)

    async def read_schemas(self, adapter: Adapter) -> None:
        """Read each server database's schema text once, before any pooled session is open.

        So a burst of requests never opens a session besides the pool's. A
        database that cannot be reached now is logged; its requests get 503
        and it is read on the first request after it is back.
        """
        for name, target in self.databases.items():
            if is_dsn(target):
                try:
                    await asyncio.to_thread(adapter.predictor.resolver.live_schema_text, target)
                except DataError as exc:  # DatabaseUnavailableError, no tables
                    log.warning("database %r: %s", name, exc)

    async def stop(self) -> None:
        """Answer every queued request, then stop (uvicorn already waited for in-flight HTTP)."""
        self.ready = False
        await self.batcher.stop()
        for pool in self.pools.values():
            pool.close()
        self.request_log.close()

    # ---------------------------------------------------------------- lookups

    def adapter(self, name: str | None) -> Adapter:
        """The named adapter, or the default.

        Raises:
            RequestError: not_found if no such adapter is loaded.
        """
        try:
            return self.registry.get(name or self.serve.default_adapter)
        except UnknownAdapterError as exc:
            raise RequestError(NOT_FOUND, 404, str(exc)) from None

    def database_names(self) -> list[dict[str, Any]]:
        """Registered databases and the dataset's, for the playground's picker."""
        names = [{"db_id": n, "source": "registered", "executable": True}
                 for n in sorted(self.databases)]
        if self.dataset is not None:
            names += [{"db_id": n, "source": "dataset",
                       "executable": self.dataset.has_database(n)}
                      for n in sorted(self.dataset.schemas) if n not in self.databases]
        return names

    def question(self, text: str, db_id: str) -> tuple[Question, str]:
        """The inference :class:`Question` of ``db_id`` and where the database comes from.

        Raises:
            RequestError: validation for a malformed id, not_found for an unknown one.
        """
        try:
            check_db_id(db_id)
        except DataError as exc:
            raise RequestError(VALIDATION, 422, str(exc)) from None
        if db_id in self.databases:
            return Question(id=db_id, question=text, db_path=str(self.databases[db_id]),
                            db_id=db_id if is_dsn(self.databases[db_id]) else None), "registered"
        if self.dataset is not None and db_id in self.dataset.schemas:
            return Question(id=db_id, question=text, db_id=db_id), "dataset"
        raise RequestError(NOT_FOUND, 404, f"unknown database {db_id!r}: not registered "
                                           "(--db NAME=PATH) and not in the dataset")

    def schema(self, db_id: str) -> dict[str, Any]:
        """``GET /schemas/{db_id}``: the schema text the prompt holds, and its tables.

        Raises:
            RequestError: validation / not_found for a bad or unknown id.
        """
        question, source = self.question("", db_id)
        adapter = self.adapter(None)
        resolver = adapter.predictor.resolver
        try:
            text, path = resolver.resolve(question)
            # From the schema itself: the text's layout depends on data.schema.style.
            schema = (self.dataset.schemas[db_id] if source == "dataset"
                      else resolver.live_schema(self.databases[db_id]))
        except DatabaseUnavailableError as exc:
            raise _unavailable(db_id, exc) from None
        except DataError as exc:
            raise _unreadable(db_id, exc) from None
        tables = [table.name for table in schema.tables]
        return {"db_id": db_id, "source": source, "executable": path is not None,
                "tables": tables, "schema_text": text}

    def _target(self, request: GenerateInput, adapter: Adapter) -> _Target:
        predictor = adapter.predictor
        if isinstance(request.schema, str):
            try:
                schema = schema_from_ddl(request.schema)
            except InputError as exc:
                raise RequestError(VALIDATION, 422, str(exc)) from None
        elif request.schema is not None:
            try:
                schema = schema_from_tables_entry(request.schema)
            except (DataError, KeyError, TypeError, ValueError, IndexError) as exc:
                raise RequestError(VALIDATION, 422, f"schema: not a tables.json entry: {exc}") \
                    from None
        if request.schema is not None:
            question = Question(id="inline", question=request.question, evidence=request.evidence)
            return _Target(predictor.prompt_for_schema(question, schema), None, "inline")
        question, source = self.question(request.question, request.db_id or "")
        try:
            prompt, path = predictor.prompt_for(replace(question, evidence=request.evidence))
        except DatabaseUnavailableError as exc:
            raise _unavailable(request.db_id or "", exc) from None
        except DataError as exc:
            raise _unreadable(request.db_id or "", exc) from None
        return _Target(prompt, path, source)

    def _pool(self, target: Path | str) -> ConnectionPool | None:
        """The session pool of a server database (made on its first request), None for a file.

        Only the event loop's thread calls this, so two requests never make two pools.
        """
        if not is_dsn(target):
            return None
        if str(target) not in self.pools:
            self.pools[str(target)] = open_pool(str(target), self.serve.db_pool_size)
        return self.pools[str(target)]

    # ---------------------------------------------------------------- generate

    async def generate(self, request: GenerateInput, record: RequestRecord) -> dict[str, Any]:
        """Answer one request; fills ``record`` (the request-log line) as it goes.

        Raises:
            RequestError: for every failure, with its kind and status.
        """
        started = time.perf_counter()
        if not self.ready:
            raise RequestError(NOT_READY, 503, "the model is still loading; see /readyz")
        adapter = self.adapter(request.adapter)
        record.adapter, record.model_hash = adapter.name, adapter.model_hash
        record.db_id, record.question = request.db_id, request.question
        record.question_chars = len(request.question)
        record.question_words = len(request.question.split())
        max_new = request.max_new_tokens or adapter.options.max_new_tokens
        if max_new > self.serve.max_new_tokens:
            raise RequestError(VALIDATION, 422, f"max_new_tokens: at most "
                                                f"{self.serve.max_new_tokens} (serve.max_new_tokens)")
        target = self._target(request, adapter)
        record.schema_source = target.source
        if request.execute and target.path is None:
            raise RequestError(VALIDATION, 422, "execute: only on a database with a SQLite "
                                                "file or a server (registered with --db, or in "
                                                "the dataset)")
        decoding = {"max_new_tokens": max_new, "greedy": True}
        key = cache_key(adapter.sha256 + "@" + adapter.base, target.prompt, decoding)
        cached = self.cache.get(key)
        self.metrics.cache(cached is not None)
        if cached is None:
            cached = await self._generate(adapter, target.prompt, request.question, max_new)
            self.cache.put(key, cached)
            hit = False
        else:
            hit = True
        sql = cached["sql"]
        record.sql, record.cached = sql, hit
        record.question_tokens = cached["question_tokens"]
        record.completion_tokens = cached["completion_tokens"]
        record.batch_size = None if hit else cached["batch_size"]
        response: dict[str, Any] = {
            "sql": sql, "adapter": adapter.name, "model_hash": adapter.model_hash,
            "cached": hit,
            "tokens": {"prompt": cached["prompt_tokens"], "completion": cached["completion_tokens"]},
        }
        if target.path is not None:
            await self._check_sql(target.path, sql, request, response, record, request.db_id)
        response["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
        return response

    async def _generate(self, adapter: Adapter, prompt: Prompt, question: str,
                        max_new: int) -> dict[str, Any]:
        """One generation through the batcher, as the cache keeps it.

        Raises:
            RequestError: overloaded (503) for a full queue, engine_unavailable
                (503) when the engine is down or too slow, generation (422) else.
        """
        try:
            with self.registry.hold(adapter):
                generation, question_tokens = await self.batcher.submit(
                    adapter, prompt, question, max_new)
        except QueueFullError as exc:
            raise RequestError(OVERLOADED, 503, str(exc)) from None
        except T2SError as exc:
            raise RequestError(GENERATION, 422, str(exc)) from None
        if generation.retryable:
            # The engine's address and reply go to the log only.
            log.warning("adapter %s: %s", adapter.name, generation.error)
            raise RequestError(ENGINE_UNAVAILABLE, 503, "the generation engine is down, "
                               "failing or too slow now; retry later (the server log has why)")
        if generation.error:
            raise RequestError(GENERATION, 422, generation.error)
        return {"sql": generation.sql, "prompt_tokens": generation.prompt_tokens,
                "completion_tokens": generation.completion_tokens,
                "question_tokens": question_tokens, "batch_size": generation.batch_size}

    async def _check_sql(self, path: Path | str, sql: str, request: GenerateInput,
                         response: dict[str, Any], record: RequestRecord,
                         db_id: str | None) -> None:
        """Prepare (and with ``execute`` run) the SQL read-only; errors go into the response.

        Raises:
            RequestError: database_unavailable (503) if the server cannot be
                reached, overloaded (503) if its pool stays busy.
        """
        infer = self.config.infer
        # Without execute the statement is only prepared (tables, columns, the
        # guards), never run: sqlexec's prepare_only.
        max_rows = min(request.max_rows or infer.max_rows, infer.max_rows) if request.execute else 1
        limits = replace(infer.limits, max_rows=max_rows)
        pool = self._pool(path)
        try:
            result = await asyncio.to_thread(_run, path, sql, limits, pool, not request.execute)
        except PoolBusyError as exc:
            raise RequestError(OVERLOADED, 503, str(exc)) from None
        except DatabaseUnavailableError as exc:
            raise _unavailable(db_id or "", exc) from None
        record.sql_parsed = result.error != ErrorKind.PARSE_ERROR
        missing = missing_object(result.message or "")
        if missing and missing[0] == "table":
            record.unknown_tables = [missing[1]]
        elif missing:
            record.unknown_columns = [missing[1]]
        if request.execute:
            record.executed, record.exec_ok = True, result.ok
        if result.ok:
            if request.execute:
                record.rows, record.empty_result = len(result.rows), not result.rows
                response["result"] = {"columns": list(result.columns),
                                      "rows": [[_json_value(v) for v in row] for row in result.rows],
                                      "truncated": result.truncated,
                                      "elapsed_ms": round(result.elapsed_s * 1000, 2)}
            return
        if not request.execute and result.error == ErrorKind.TIMEOUT:
            return  # preparing timed out: nothing to say about the SQL itself
        kind = _EXEC_KIND.get(result.error, EXECUTION)
        record.error_kind, record.error = kind, result.message
        if request.execute:
            self.metrics.failure(kind)
            response["error"] = {"kind": kind, "message": result.message}


def _run(path: Path | str, sql: str, limits: SqlLimits, pool: ConnectionPool | None,
         prepare_only: bool) -> ExecResult:
    """:func:`~t2s.sqlexec.run_query` within ``limits`` (on ``pool`` for a server database),
    with an unusable file reported as a result.

    Raises:
        PoolBusyError: if every session of ``pool`` stayed busy for ``limits.timeout_s``.
        DatabaseUnavailableError: if the server database cannot be reached.
    """
    if not sql.strip():
        return ExecResult(rows=[], error=ErrorKind.PARSE_ERROR, message="empty SQL")
    if pool is not None:
        # A session may take the whole time limit, so a request waits at most one.
        return pool.execute(sql, wait_s=limits.timeout_s, prepare_only=prepare_only,
                            **limits.kwargs())
    try:
        return run_query(path, sql, prepare_only=prepare_only, **limits.kwargs())
    except OSError as exc:  # its text names the file: the client gets the reason only
        return ExecResult(rows=[], error=ErrorKind.RUNTIME_ERROR,
                          message=f"the database file cannot be read: {exc.strerror or exc}")
    except sqlite3.DatabaseError as exc:
        return ExecResult(rows=[], error=ErrorKind.RUNTIME_ERROR, message=str(exc))


def _unavailable(db_id: str, exc: DataError) -> RequestError:
    """A database_unavailable (503) for a server database that cannot be reached now.

    Its reason (host, role: ``exc`` shows the DSN redacted) goes to the log only.
    """
    log.warning("database %r unavailable: %s", db_id, exc)
    return RequestError(DATABASE_UNAVAILABLE, 503, f"database {db_id!r} cannot be reached now; "
                                                   "retry later (the server log has why)")


def _unreadable(db_id: str, exc: DataError) -> RequestError:
    """A not_found for a known database that cannot be read; its path goes to the log only."""
    log.warning("database %r: %s", db_id, exc)
    return RequestError(NOT_FOUND, 404, f"database {db_id!r} cannot be read (the server log "
                                        "has why)")


def _json_value(value: Any) -> Any:
    """A result cell as JSON can hold it (BLOBs as hex, NaN/inf as text)."""
    if isinstance(value, bytes):
        return "x'" + value.hex() + "'"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
