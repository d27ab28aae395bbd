"""One JSON line per generation request: what ``t2s monitor report`` reads.

A line is a :class:`RequestRecord` (every field on every line, null where not
applicable); its field names are the JSON keys, in this order: ``time`` (ISO
8601 UTC), ``ts`` (Unix seconds), ``request_id``, ``route``, ``status`` (HTTP),
``outcome`` (``ok`` or the ``error.kind``), ``adapter``, ``model_hash``,
``db_id``, ``schema_source`` (``registered``, ``dataset``, ``inline``),
``question`` and ``sql`` (only with ``serve.log_questions``), ``question_chars``,
``question_words``, ``question_tokens``, ``latency_ms``, ``cached``,
``completion_tokens``, ``batch_size``, ``sql_parsed`` (SQLite could prepare it
against the database), ``executed``, ``exec_ok``, ``rows``, ``empty_result``,
``unknown_tables``, ``unknown_columns`` (what SQLite reported missing),
``error_kind``, ``error``.

Writing the log never fails a request: a write that fails (disk full, file
too large, the file gone read-only) is counted and warned about once, and the
server keeps answering (:meth:`RequestLog.write`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from t2s.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass
class RequestRecord:
    """The request-log line of one generation request, filled as the request goes."""

    time: str
    ts: float
    request_id: str
    route: str
    status: int | None = None
    outcome: str | None = None
    adapter: str | None = None
    model_hash: str | None = None
    db_id: str | None = None
    schema_source: str | None = None
    question: str | None = None
    sql: str | None = None
    question_chars: int | None = None
    question_words: int | None = None
    question_tokens: int | None = None
    latency_ms: float | None = None
    cached: bool = False
    completion_tokens: int | None = None
    batch_size: int | None = None
    sql_parsed: bool | None = None
    executed: bool = False
    exec_ok: bool | None = None
    rows: int | None = None
    empty_result: bool | None = None
    unknown_tables: list[str] = field(default_factory=list)
    unknown_columns: list[str] = field(default_factory=list)
    error_kind: str | None = None
    error: str | None = None

    @classmethod
    def start(cls, request_id: str, route: str) -> RequestRecord:
        """A record stamped now."""
        now = time.time()
        return cls(time=datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds"),
                   ts=round(now, 3), request_id=request_id, route=route)

    def fail(self, status: int, kind: str, message: str) -> None:
        """Record a refused or failed request: its status, ``error.kind`` and message."""
        self.status, self.outcome, self.error_kind, self.error = status, kind, kind, message

    def as_dict(self) -> dict[str, Any]:
        """The JSON object of the line (keys in field order)."""
        return dataclasses.asdict(self)


FIELDS = tuple(f.name for f in dataclasses.fields(RequestRecord))


def new_record(request_id: str, route: str) -> dict[str, Any]:
    """A log line's object with every field, stamped now (for tools and tests that write logs)."""
    return RequestRecord.start(request_id, route).as_dict()


class RequestLog:
    """Appends records to a JSONL file, one ``write`` call per line (safe across threads).

    Args:
        path: The file (its folder is created), or None to log nothing.
        log_text: Keep ``question`` and ``sql``; otherwise they are nulled.

    Attributes:
        failures: Lines that could not be written.
        on_failure: Called once per failed line (the server counts it in
            ``t2s_request_log_failures_total``).

    Raises:
        ConfigError: if the file cannot be opened for appending (its folder is
            under a regular file, read-only, or the path is a folder).
    """

    def __init__(self, path: str | Path | None, log_text: bool = True) -> None:
        self.path = Path(path) if path else None
        self.log_text = log_text
        self.failures = 0
        self.on_failure: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self._fd: int | None = None
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # O_APPEND: every line lands at the end, even with several writers.
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            except OSError as exc:
                # mkdir under a regular file says "File exists"; name the file instead.
                blocker = next((p for p in self.path.parents if p.exists() and not p.is_dir()),
                               None)
                reason = f"{blocker} is a file, not a folder" if blocker else exc.strerror or exc
                raise ConfigError(f"serve.request_log: cannot append to {self.path}: "
                                  f"{reason}") from None

    def write(self, record: RequestRecord) -> None:
        """Append one record; a failed write is counted and warned about once, never raised."""
        if self._fd is None:
            return
        if not self.log_text:
            record = dataclasses.replace(record, question=None, sql=None)
        line = json.dumps(record.as_dict(), ensure_ascii=False, default=str) + "\n"
        with self._lock:
            if self._fd is None:
                return
            try:
                _write_all(self._fd, line.encode("utf-8"))
            except OSError as exc:
                self._failed(exc)

    def _failed(self, exc: OSError) -> None:
        self.failures += 1
        if self.failures == 1:
            log.warning("request log %s: cannot write (%s); requests are still answered, "
                        "lost lines are counted in t2s_request_log_failures_total",
                        self.path, exc.strerror or exc)
        if self.on_failure is not None:
            self.on_failure()

    def close(self) -> None:
        """Close the file (idempotent)."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def _write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is written (a write may be short near a full disk)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
