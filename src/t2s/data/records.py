"""What a source adapter yields, and the one way bad rows are reported.

Every adapter (:mod:`t2s.data.sources` keeps the registry) turns its native
files into a :class:`SourceData`: :class:`~t2s.data.spider.Example` records per
split, tables.json-style schema entries per database, and the SQLite file of
each database it has. Rows that lack a field go through :class:`RowChecker`,
which raises one :class:`~t2s.errors.DataError` naming the file, row and field,
or (``data.bad_rows: skip``) leaves the row out and counts it for the report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from t2s.data.spider import DatabaseSchema, Example, oversized, schema_from_tables_entry
from t2s.errors import DataError

log = logging.getLogger(__name__)


@dataclass
class SkipReport:
    """Rows of one file left out under ``data.bad_rows: skip``."""

    file: str
    count: int = 0
    first: list[str] = field(default_factory=list)
    """The first few reasons (``row N: field ...``), for the report."""

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "skipped": self.count, "first": self.first}


class RowChecker:
    """Raises or counts problems of rows of one file, per ``data.bad_rows``.

    Args:
        file: The file the rows come from (named in every message).
        policy: ``error`` (raise on the first bad row) or ``skip`` (count it).
        unit: How messages count rows: ``row`` (0-based record) or ``line`` (1-based).
    """

    def __init__(self, file: str | Path, policy: str = "error", unit: str = "row") -> None:
        self.report = SkipReport(file=str(file))
        self.policy = policy
        self.unit = unit

    def bad(self, row: int, problem: str) -> None:
        """Report a bad row: raise, or count it when skipping.

        Raises:
            DataError: under ``error``, naming the file and row.
        """
        message = f"{self.unit} {row}: {problem}"
        if self.policy != "skip":
            raise DataError(f"{self.report.file}: {message} (data.bad_rows=skip leaves such "
                            "rows out, counted)")
        self.report.count += 1
        if len(self.report.first) < 5:
            self.report.first.append(message)

    def text(self, row: int, record: dict[str, Any], key: str, label: str | None = None,
             required: bool = True) -> str | None:
        """``record[key]`` as a stripped string; None (after :meth:`bad`) if missing or empty.

        Args:
            row: Row number for messages (0-based, as in the file).
            record: The row.
            key: The field (or mapped column) to read.
            label: How messages name the field (default ``key``).
            required: Whether a missing/empty value is a bad row (else None is returned).

        Raises:
            DataError: under ``error`` for a missing or empty required field.
        """
        value = record.get(key) if isinstance(record, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if required:
            name = label or f"field {key!r}"
            state = "missing" if not isinstance(record, dict) or key not in record \
                else f"empty ({value!r})"
            self.bad(row, f"{name} is {state}")
        return None

    def sized(self, row: int, example: Example) -> bool:
        """Whether ``example`` is within the size limits (:func:`~t2s.data.spider.oversized`);
        if not, it is a bad row (raised, or counted when skipping).

        Raises:
            DataError: under ``error`` for a question, evidence or SQL over its limit.
        """
        problem = oversized(example)
        if problem is not None:
            self.bad(row, problem)
        return problem is None

    def log_summary(self) -> None:
        """Warn once when rows were skipped."""
        if self.report.count:
            log.warning("%s: skipped %d bad row(s) (data.bad_rows=skip); first: %s",
                        self.report.file, self.report.count, "; ".join(self.report.first))


@dataclass
class SourceData:
    """A source read by its adapter, ready to be used or written as a Spider-format view.

    Attributes:
        kind: The adapter (``wikisql``, ``bird``, ...).
        splits: Examples per configured split name (``train_file``/``eval_file``).
        tables: tables.json entries by db_id (the evaluator needs their column indices).
        databases: Existing SQLite file of each db_id that has one.
        inputs: The native files read (their hashes fingerprint the view).
        skipped: Rows left out per file under ``data.bad_rows: skip``.
        build_databases: Writes databases the source does not ship (WikiSQL
            tables materialised from ``tables.jsonl``) into a folder and returns
            ``{db_id: path}``; None when there is nothing to write.
        report: Adapter-specific counts for run_info.json (e.g. WikiSQL categories).
    """

    kind: str
    splits: dict[str, list[Example]]
    tables: dict[str, dict[str, Any]]
    databases: dict[str, Path] = field(default_factory=dict)
    inputs: list[Path] = field(default_factory=list)
    skipped: list[SkipReport] = field(default_factory=list)
    build_databases: Callable[[Path], dict[str, Path]] | None = None
    report: dict[str, Any] = field(default_factory=dict)

    def schemas(self) -> dict[str, DatabaseSchema]:
        """:class:`DatabaseSchema` objects of :attr:`tables`.

        Raises:
            DataError: if an entry is malformed (naming its db_id).
        """
        schemas = {}
        for db_id, entry in self.tables.items():
            try:
                schemas[db_id] = schema_from_tables_entry(entry)
            except DataError as exc:
                raise DataError(f"{self.kind} schema of {db_id!r}: {exc}") from None
        return schemas


def tables_entry(schema: DatabaseSchema) -> dict[str, Any]:
    """A Spider tables.json entry for ``schema`` (e.g. one introspected from SQLite)."""
    table_names = [t.name for t in schema.tables]
    columns: list[list[Any]] = [[-1, "*"]]
    types = ["text"]
    index_of: dict[tuple[str, str], int] = {}
    for table_index, table in enumerate(schema.tables):
        for column in table.columns:
            index_of[(table.name.lower(), column.name.lower())] = len(columns)
            columns.append([table_index, column.name])
            types.append(column.type)
    primary = [index_of[(t.name.lower(), c.lower())] for t in schema.tables
               for c in t.primary_keys if (t.name.lower(), c.lower()) in index_of]
    foreign = [[index_of[(fk.table.lower(), fk.column.lower())],
                index_of[(fk.ref_table.lower(), fk.ref_column.lower())]]
               for fk in schema.foreign_keys
               if (fk.table.lower(), fk.column.lower()) in index_of
               and (fk.ref_table.lower(), fk.ref_column.lower()) in index_of]
    return {
        "db_id": schema.db_id,
        "table_names_original": table_names,
        "table_names": [_natural(n) for n in table_names],
        "column_names_original": columns,
        "column_names": [[t, _natural(n) if t >= 0 else n] for t, n in columns],
        "column_types": types,
        "primary_keys": primary,
        "foreign_keys": foreign,
    }


def _natural(name: str) -> str:
    """Spider's lower-case, space-separated form of an identifier."""
    return name.replace("_", " ").lower().strip()
