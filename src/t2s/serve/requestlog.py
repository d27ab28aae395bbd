"""One JSON line per generation request: what ``t2s monitor report`` reads.

Fields (every line has all of them; null where not applicable):
``time`` (ISO 8601 UTC), ``ts`` (Unix seconds), ``request_id``, ``route``,
``status`` (HTTP), ``outcome`` (``ok`` or the ``error.kind``), ``adapter``,
``model_hash``, ``db_id``, ``schema_source`` (``registered``, ``dataset``,
``inline``), ``question`` and ``sql`` (only with ``serve.log_questions``),
``question_chars``, ``question_words``, ``question_tokens``, ``latency_ms``,
``cached``, ``completion_tokens``, ``batch_size``, ``sql_parsed`` (SQLite could
prepare it against the database), ``executed``, ``exec_ok``, ``rows``,
``empty_result``, ``unknown_tables``, ``unknown_columns`` (what SQLite reported
missing), ``error_kind``, ``error``.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FIELDS = (
    "time", "ts", "request_id", "route", "status", "outcome", "adapter", "model_hash",
    "db_id", "schema_source", "question", "sql", "question_chars", "question_words",
    "question_tokens", "latency_ms", "cached", "completion_tokens", "batch_size",
    "sql_parsed", "executed", "exec_ok", "rows", "empty_result", "unknown_tables",
    "unknown_columns", "error_kind", "error",
)


def new_record(request_id: str, route: str) -> dict[str, Any]:
    """A record with every field, stamped now."""
    now = time.time()
    record: dict[str, Any] = dict.fromkeys(FIELDS)
    record.update(time=datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds"),
                  ts=round(now, 3), request_id=request_id, route=route, cached=False,
                  executed=False, unknown_tables=[], unknown_columns=[])
    return record


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

    def write(self, record: dict[str, Any]) -> None:
        """Append one record (one line, written whole)."""
        if self._file is None:
            return
        if not self.log_text:
            record = {**record, "question": None, "sql": None}
        line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
        with self._lock:
            self._file.write(line)

    def close(self) -> None:
        """Close the file (idempotent)."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
