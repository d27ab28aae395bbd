"""Showing SQL and query results in a terminal (``t2s infer --execute``, the REPL)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from t2s.config import InferConfig
from t2s.sqlexec import run_query

# Cells longer than this are cut with an ellipsis so one long text column
# cannot push the table past a terminal's width (80-120 columns).
MAX_CELL_CHARS = 40
# Rows printed at most; the count of the rest is reported instead.
MAX_DISPLAY_ROWS = 50


def _cell(value: Any) -> str:
    text = "NULL" if value is None else str(value)
    text = text.replace("\n", " ")
    return text if len(text) <= MAX_CELL_CHARS else text[:MAX_CELL_CHARS - 1] + "…"


def format_table(rows: Sequence[Sequence[Any]], headers: Sequence[str] | None = None,
                 max_rows: int = MAX_DISPLAY_ROWS) -> str:
    """Rows as an aligned plain-text table (numbers right-aligned).

    >>> print(format_table([(1, "a"), (22, "bb")], ["n", "s"]))
     n | s
    ---+---
     1 | a
    22 | bb
    (2 rows)
    """
    shown = [[_cell(v) for v in row] for row in rows[:max_rows]]
    columns = max([len(r) for r in shown] + [len(headers or ())], default=0)
    if columns == 0:
        return f"({len(rows)} rows)"
    header_cells = list(headers) if headers else [f"col{i + 1}" for i in range(columns)]
    widths = [max([len(header_cells[i])] + [len(r[i]) for r in shown if i < len(r)])
              for i in range(columns)]
    numeric = [all(isinstance(row[i], int | float) for row in rows[:max_rows] if i < len(row)
                   and row[i] is not None) for i in range(columns)]

    def line(cells: Sequence[str]) -> str:
        parts = [(c.rjust(w) if num else c.ljust(w))
                 for c, w, num in zip(cells, widths, numeric, strict=False)]
        return " | ".join(parts).rstrip()

    out = [line(header_cells), "-+-".join("-" * w for w in widths)]
    out += [line(r) for r in shown]
    more = len(rows) - len(shown)
    count = f"({len(rows)} row{'s' if len(rows) != 1 else ''}"
    out.append(count + (f", {more} not shown)" if more > 0 else ")"))
    return "\n".join(out)


def execute_and_format(db_path: str | Path, sql: str, infer: InferConfig) -> str:
    """Run ``sql`` read-only on ``db_path`` (time limit, row cap) and format the outcome.

    Returns:
        The result table, or one line naming the error kind and SQLite's message.

    Raises:
        FileNotFoundError: if ``db_path`` is not a file.
        sqlite3.DatabaseError: if it is not a SQLite database.
    """

    if not sql.strip():
        return "(no SQL to execute)"
    result = run_query(db_path, sql, **infer.limits.kwargs())
    if not result.ok:
        return f"execution failed ({result.error}): {result.message}"
    # ExecResult carries no column names yet (asked of t2s.sqlexec); until it
    # does, columns are numbered.
    headers = getattr(result, "columns", None) or None
    table = format_table(result.rows, headers)
    if result.truncated:
        table += f"\n(stopped at infer.max_rows={infer.max_rows} rows)"
    return table
