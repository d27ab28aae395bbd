"""t2s.sqlfunctions: linear instr/replace/trim that answer exactly as SQLite's built-ins."""

from __future__ import annotations

import itertools
import sqlite3
import time

import pytest

from t2s import sqlexec, sqlfunctions

# Values of every storage class, with the cases the built-ins treat specially:
# empty text, a NUL-led text, REALs whose text differs from Python's str,
# non-ASCII characters (instr counts characters, not bytes), BLOBs.
VALUES: list[object] = [
    None, "", "a", "banana", "ana", "na", "ü", "aüa", "\x00x", "  a  ", 12321, 1, 0, -5,
    1.0, 1e20, 0.1, -0.0, 2.5e-7, 123456789012345.0, b"", b"an", b"banana", "x\x00y",
]

FUNCTIONS = {
    "instr": 2, "replace": 3, "trim": 2, "ltrim": 2, "rtrim": 2,
}


@pytest.fixture(scope="module")
def connections() -> tuple[sqlite3.Connection, sqlite3.Connection]:
    builtin = sqlite3.connect(":memory:")
    ours = sqlite3.connect(":memory:")
    for conn in (builtin, ours):
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, sqlexec.MAX_VALUE_BYTES)
    sqlfunctions.install(ours, max_bytes=sqlexec.MAX_VALUE_BYTES, real_text=sqlexec._real_text)
    return builtin, ours


def _answer(conn: sqlite3.Connection, sql: str, args: tuple[object, ...]) -> object:
    try:
        return conn.execute(sql, args).fetchone()
    except sqlite3.Error as exc:
        return type(exc).__name__


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_each_function_answers_as_the_builtin_on_every_pair_of_values(
        connections: tuple[sqlite3.Connection, sqlite3.Connection], name: str) -> None:
    builtin, ours = connections
    arity = FUNCTIONS[name]
    placeholders = ", ".join("?" * arity)
    sql = f"SELECT {name}({placeholders}), typeof({name}({placeholders}))"
    # replace's third argument varies over a few values only (24^3 pairs is slow).
    thirds: list[object] = [None, "", "XY", 7, b"z"]
    compared = 0
    for first, second in itertools.product(VALUES, repeat=2):
        for third in (thirds if arity == 3 else [None]):
            args = (first, second, third)[:arity]
            assert _answer(ours, sql, args * 2) == _answer(builtin, sql, args * 2), args
            compared += 1
    assert compared >= len(VALUES) ** 2


def test_instr_counts_characters_for_text_and_bytes_for_two_blobs(
        connections: tuple[sqlite3.Connection, sqlite3.Connection]) -> None:
    _, ours = connections
    assert ours.execute("SELECT instr('aüb', 'b'), instr(CAST('aüb' AS BLOB), CAST('b' AS BLOB))"
                        ).fetchone() == (3, 4)


def test_quadratic_inputs_run_in_linear_time(
        connections: tuple[sqlite3.Connection, sqlite3.Connection]) -> None:
    # SQLite's own: instr 0.19 s, ltrim 27 s on these at the 256 KiB value cap.
    _, ours = connections
    half = sqlexec.MAX_VALUE_BYTES // 2
    queries = [
        f"SELECT instr(printf('%.{2 * half - 8}c','a'), printf('%.{half}c','a')||'b')",
        f"SELECT length(replace(printf('%.{2 * half - 8}c','a'), printf('%.{half}c','a')||'b', 'c'))",
        f"SELECT length(ltrim(printf('%.{half}c','a'), printf('%.{half}c','b')||'a'))",
    ]
    start = time.process_time()
    answers = [ours.execute(sql).fetchone()[0] for sql in queries]
    assert answers == [0, 2 * half - 8, 0]
    # CPU time, not wall time: 3 linear passes over 256 KiB take ~1 ms; the
    # built-ins need > 0.5 s, so the bound cannot be met by a quadratic search.
    assert time.process_time() - start < 0.5


def test_a_replace_result_past_the_value_cap_is_refused_before_it_is_built(
        connections: tuple[sqlite3.Connection, sqlite3.Connection]) -> None:
    builtin, ours = connections
    # 1,000 bytes each replaced by 300 bytes: 300,000 > 262,144, refused by both.
    sql = "SELECT replace(printf('%.1000c','a'), 'a', printf('%.300c','b'))"
    for conn in (builtin, ours):
        with pytest.raises(sqlite3.DataError, match="too big"):
            conn.execute(sql).fetchone()
    # Every one of 256 Ki bytes replaced by 256 KiB would be 64 GiB: refused at
    # once (counted, not built; the built-in needs seconds to find out).
    cap = sqlexec.MAX_VALUE_BYTES - 1
    start = time.process_time()
    with pytest.raises(sqlite3.DataError, match="too big"):
        ours.execute(f"SELECT replace(printf('%.{cap}c','a'), 'a', printf('%.{cap}c','b'))"
                     ).fetchone()
    assert time.process_time() - start < 0.5
    assert ours.execute("SELECT replace('aXa', 'a', 'bb')").fetchone() == ("bbXbb",)


def test_text_that_is_not_utf8_fails_the_call_instead_of_guessing(
        connections: tuple[sqlite3.Connection, sqlite3.Connection]) -> None:
    _, ours = connections
    with pytest.raises(sqlite3.OperationalError, match="user-defined function"):
        ours.execute("SELECT instr(CAST(X'ff61' AS TEXT), 'a')").fetchone()
