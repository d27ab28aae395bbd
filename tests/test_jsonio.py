"""t2s.jsonio: JSON from outside, bounded in size and safe at any nesting depth."""

from __future__ import annotations

import io
import json

import pytest

from t2s.jsonio import MAX_LINE_BYTES, BadJSON, loads, read_lines, read_raw_lines

NESTED = "[" * 100_000  # Python's json recurses once per level: RecursionError unguarded


@pytest.mark.parametrize("text", [NESTED, NESTED + "]" * 100_000, '{"a":' * 50_000])
def test_deep_nesting_is_a_bad_json_not_a_recursion_error(text):
    with pytest.raises(BadJSON, match="nested too deeply"):
        loads(text, max_bytes=None)


def test_over_the_line_limit_is_refused_before_parsing():
    just_over = '"' + "a" * (MAX_LINE_BYTES - 1) + '"'  # valid JSON, one character too long
    with pytest.raises(BadJSON, match=f"over the limit of {MAX_LINE_BYTES:,}"):
        loads(just_over)
    assert loads(just_over, max_bytes=None) == "a" * (MAX_LINE_BYTES - 1)
    with pytest.raises(BadJSON, match=r"not valid JSON \(Expecting value at line 1 column 1\)"):
        loads("nope")


def test_a_long_line_is_skipped_in_blocks_and_the_next_lines_are_read():
    limit = 1000
    data = b'{"a": 1}\n' + b"x" * (limit + 1) + b"\n\xef\xbb\xbf[2]\r\n" + b"y" * (limit * 70) + b"\n[3]"
    lines = list(read_raw_lines(io.BytesIO(b"\xef\xbb\xbf" + data), limit))
    assert lines == [(1, b'{"a": 1}', False), (2, None, False), (3, b"\xef\xbb\xbf[2]", False),
                     (4, None, False), (5, b"[3]", True)]
    # A line of exactly the limit (plus its CRLF) fits.
    assert list(read_raw_lines(io.BytesIO(b"z" * limit + b"\r\n"), limit)) == [(1, b"z" * limit, False)]


def test_read_lines_marks_each_bad_line_and_goes_on(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"ok": 1}\n' + NESTED.encode() + b"\n\n{\"caf\xe9\": 1}\n"
                     + b'"' + b"a" * MAX_LINE_BYTES + b'"\n{"torn')
    lines = list(read_lines(path))
    assert [line.number for line in lines] == [1, 2, 4, 5, 6]
    assert lines[0].value == {"ok": 1} and lines[0].error is None
    assert "nested too deeply" in lines[1].error
    assert lines[2].error == "not valid UTF-8 (byte 0xe9 at column 6)"
    assert "longer than the limit" in lines[3].error
    assert "not valid JSON" in lines[4].error and lines[4].final
    assert not any(line.final for line in lines[:4])
    assert json.dumps(lines[0].value)  # values are plain JSON
