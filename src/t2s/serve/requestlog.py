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
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


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
    """Appends records to a JSONL file (line-buffered; safe across threads).

    Args:
        path: The file (its folder is created), or None to log nothing.
        log_text: Keep ``question`` and ``sql``; otherwise they are nulled.
    """

    def __init__(self, path: str | Path | None, log_text: bool = True) -> None:
        self.path = Path(path) if path else None
        self.log_text = log_text
        self._lock = threading.Lock()
        self._file = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8", buffering=1)

    def write(self, record: RequestRecord) -> None:
        """Append one record (one line, written whole)."""
        if self._file is None:
            return
        if not self.log_text:
            record = dataclasses.replace(record, question=None, sql=None)
        line = json.dumps(record.as_dict(), ensure_ascii=False, default=str) + "\n"
        with self._lock:
            self._file.write(line)

    def close(self) -> None:
        """Close the file (idempotent)."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
