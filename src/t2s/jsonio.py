"""Reading JSON that t2s did not write: bounded in size, safe at any nesting depth.

Prediction files (``t2s evaluate``), batch question files (``t2s infer``), the
server's request log (``t2s monitor``) and dataset files all come from outside.
Two inputs used to crash the reader instead of being reported: a line nested
thousands deep (``'[' * 100000``), on which Python's ``json`` raises
``RecursionError`` (it recurses once per level, up to the interpreter's limit
of ~1,000), and a single line of 100 MB, which the readers held whole and the
SQL tokenizer then grew to 6.7 GB. Every JSON value from outside goes through
:func:`loads`, and every JSON-lines file through :func:`read_lines`, so both
are refused the same way everywhere, with :class:`BadJSON` saying why; each
caller decides what a bad line means (an input error naming the file and line
for predictions, an error row for a batch question, a counted unreadable line
for the monitor).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

# The longest JSON line accepted. A record holds at most a question (20,000
# characters, t2s.data.spider.MAX_QUESTION_CHARS), an SQL (100,000,
# MAX_SQL_CHARS) and a few short fields; Spider's and BIRD's longest records
# are under 5 KB. 1 MiB leaves room for JSON's escapes of both fields while
# bounding what one line costs: read, decoded and parsed, ~10 MB of memory.
MAX_LINE_BYTES = 1024 * 1024

# Lines read per block when skipping the rest of an over-long line: what a
# skipped line costs in memory (64 KiB), however long it is.
_SKIP_BLOCK = 64 * 1024

_BOM = b"\xef\xbb\xbf"  # a UTF-8 byte-order mark, as Windows editors write


class BadJSON(ValueError):
    """A JSON text or line that cannot be read; the message says why (no location)."""


def loads(text: str | bytes, max_bytes: int | None = MAX_LINE_BYTES) -> Any:
    """Parse one JSON text, refusing ones too long or nested too deep for Python.

    Args:
        text: The JSON text.
        max_bytes: The longest text accepted (characters for ``str``); None for
            a whole file already read (its size is the caller's bound).

    Raises:
        BadJSON: if it is longer than ``max_bytes``, not valid JSON (with the
            line and column), or nested deeper than the interpreter can parse.
    """
    if max_bytes is not None and len(text) > max_bytes:
        raise BadJSON(f"{len(text):,} bytes, over the limit of {max_bytes:,} per line")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadJSON(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") \
            from None
    except UnicodeDecodeError as exc:
        raise BadJSON(f"not valid UTF-8 (byte {exc.start + 1})") from None
    except RecursionError:
        # json recurses once per [ or {: a text nested past the interpreter's
        # recursion limit (~1,000) is garbage, not a crash.
        raise BadJSON("nested too deeply (arrays or objects more than ~1,000 levels deep)") \
            from None


@dataclass(frozen=True)
class Line:
    """One line of a JSON-lines file: its value, or why it could not be read.

    Attributes:
        number: 1-based line number.
        value: The parsed value (None when ``error`` is set).
        error: Why the line is unreadable (too long, not UTF-8, not JSON, too deep).
        final: Whether the line is the file's last and has no newline (a line
            still being written, in a live log).
    """

    number: int
    value: Any = None
    error: str | None = None
    final: bool = False


def read_raw_lines(handle: IO[bytes], max_bytes: int = MAX_LINE_BYTES
                   ) -> Iterator[tuple[int, bytes | None, bool]]:
    """``(number, line, final)`` for each line of a binary file, holding at most ``max_bytes``.

    ``line`` has no line ending (``\\n`` or ``\\r\\n``) and no byte-order mark on
    the first line; it is None for a line longer than ``max_bytes``, whose rest
    is skipped block by block, so a 100 MB line costs 64 KiB, not 100 MB.
    ``final`` says the line is the last and lacks a newline.
    """
    number = 0
    while True:
        raw = handle.readline(max_bytes + 2)  # + "\r\n": a line of exactly max_bytes fits
        if not raw:
            return
        number += 1
        if number == 1:
            raw = raw.removeprefix(_BOM)
        if not raw.endswith(b"\n") and len(raw) >= max_bytes + 2:
            while (rest := handle.readline(_SKIP_BLOCK)) and not rest.endswith(b"\n"):
                pass
            yield number, None, not rest
            continue
        ended = raw.endswith(b"\n")
        line = raw.removesuffix(b"\n").removesuffix(b"\r")
        yield number, line if len(line) <= max_bytes else None, not ended


def read_lines(path: str | Path, max_bytes: int = MAX_LINE_BYTES) -> Iterator[Line]:
    """Every non-blank line of a JSON-lines file, parsed with :func:`loads` or marked bad.

    A bad line (too long, not UTF-8, not JSON, nested too deep) is yielded with
    ``error`` set and reading goes on; the caller decides what it means.

    Raises:
        OSError: if the file cannot be opened.
    """
    with Path(path).open("rb") as handle:
        for number, raw, final in read_raw_lines(handle, max_bytes):
            if raw is None:
                yield Line(number, error=f"longer than the limit of {max_bytes:,} bytes per "
                                         "line", final=final)
                continue
            if not raw.strip():
                continue
            try:
                yield Line(number, value=loads(raw.decode("utf-8"), max_bytes), final=final)
            except UnicodeDecodeError as exc:
                yield Line(number, error=f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at "
                                         f"column {exc.start + 1})", final=final)
            except BadJSON as exc:
                yield Line(number, error=str(exc), final=final)
