"""Linear-time replacements for SQLite's quadratic string functions.

SQLite checks its interrupt flag and calls its progress handler only between
virtual-machine instructions, never inside one C function, so one function call
is as long as a query can run past its time limit. Three built-ins are quadratic
in their arguments and at the value cap (256 KiB) one call runs for seconds:

* ``instr(X, Y)`` and ``replace(X, Y, Z)`` compare Y at every position of X:
  up to (L/2)^2 byte compares, 2 MiB -> 31.6 s, 256 KiB -> 0.19 s measured, and
  twenty such calls in one row add up;
* ``trim/ltrim/rtrim(X, Y)`` compare each character of X with every character
  of Y: 256 KiB x 256 KiB took 27 s.

:func:`install` registers Python versions on a connection (a registered
function overrides the built-in of the same name and argument count). They use
``str.find``/``str.replace``/a set, which are linear, and keep SQLite's
semantics exactly, checked against the built-ins in ``tests/test_sqlfunctions.py``:
NULL in -> NULL out, numbers read as SQLite's text of them, ``instr`` on two
BLOBs counts bytes and otherwise characters, an empty ``instr`` needle is found
at 1, an empty (or NUL-led) ``replace`` pattern returns X unchanged, a ``trim`` set ends
at its first NUL, results are TEXT.

One deliberate divergence: an argument that is TEXT but not valid UTF-8 makes
the call fail ("user-defined function raised exception", a runtime error)
where SQLite would work on the raw bytes; Spider and BIRD hold no such values
in the places these functions are used.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

SqlValue = str | bytes | int | float | None


def _text(value: str | bytes | int | float, real_text: Callable[[float], str]) -> str:
    """A non-NULL SQL value as the text SQLite's ``sqlite3_value_text`` gives.

    Raises:
        UnicodeDecodeError: if a BLOB is not valid UTF-8.
    """
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, float):
        return real_text(value)
    return str(value)


def _too_big(limit: int) -> str:
    """A value SQLite refuses as "string or blob too big" (longer than ``limit``)."""
    return "x" * (limit + 1)


def install(conn: sqlite3.Connection, *, max_bytes: int,
            real_text: Callable[[float], str]) -> None:
    """Override ``instr``, ``replace`` and two-argument ``trim/ltrim/rtrim`` on ``conn``.

    Args:
        conn: The connection to register them on.
        max_bytes: The connection's length limit: a ``replace`` result past it is
            refused as SQLite's own would be ("string or blob too big"), before
            it is built (a 256 KiB X with every byte replaced by 256 KiB would
            otherwise allocate 64 GiB).
        real_text: SQLite's text form of a REAL (``1.0`` -> ``'1.0'``,
            ``1e20`` -> ``'1.0e+20'``), which Python's ``str`` does not match.
    """
    def instr(haystack: SqlValue, needle: SqlValue) -> int | None:
        if haystack is None or needle is None:
            return None
        if isinstance(haystack, bytes) and isinstance(needle, bytes):
            return haystack.find(needle) + 1
        return _text(haystack, real_text).find(_text(needle, real_text)) + 1

    def replace(value: SqlValue, pattern: SqlValue, replacement: SqlValue) -> SqlValue:
        if value is None or pattern is None:
            return None
        text, old = _text(value, real_text), _text(pattern, real_text)
        # SQLite returns X itself (any type) before reading Z when the pattern is
        # empty or starts with a NUL byte, where its C string ends:
        # replace(12, '', NULL) is the integer 12.
        # (A BLOB comes back as TEXT: reading its text converted it.)
        if not old or old[0] == "\x00":
            return text if isinstance(value, bytes) else value
        if replacement is None:
            return None
        new = _text(replacement, real_text)
        count = text.count(old)
        size = len(text.encode()) + count * (len(new.encode()) - len(old.encode()))
        return _too_big(max_bytes) if size > max_bytes else text.replace(old, new)

    def make_trim(left: bool, right: bool) -> Callable[[SqlValue, SqlValue], str | None]:
        def trim(value: SqlValue, characters: SqlValue) -> str | None:
            if value is None or characters is None:
                return None
            # SQLite reads Y as a C string: its characters up to a NUL.
            text = _text(value, real_text)
            chars = set(_text(characters, real_text).split("\x00", 1)[0])
            start, end = 0, len(text)
            while left and start < end and text[start] in chars:
                start += 1
            while right and end > start and text[end - 1] in chars:
                end -= 1
            return text[start:end]
        return trim

    functions: list[tuple[str, int, Callable[..., Any]]] = [
        ("instr", 2, instr), ("replace", 3, replace),
        ("trim", 2, make_trim(True, True)), ("ltrim", 2, make_trim(True, False)),
        ("rtrim", 2, make_trim(False, True)),
    ]
    for name, arity, function in functions:
        conn.create_function(name, arity, function, deterministic=True)


__all__ = ["install"]
