"""BIRD (Li et al., 2023) questions, evidence and schemas.

A BIRD folder holds a question file (``dev.json``, ``train.json``, the mini-dev
``mini_dev_sqlite.json``): a JSON list of
``{"question_id", "db_id", "question", "evidence", "SQL", "difficulty"}``; a
schema file (``data.tables_file``) in Spider's tables.json layout
(``dev_tables.json``) or in the mini-dev's cleaned layout
(``dev_tables_cleaned.json``: ``{"name", "tables": [{"name", "primary_key",
"columns": [{"name", "type", "foreign_keys"}]}]}``); and, where shipped, the
databases as ``<data.database_dir>/<db_id>/<db_id>.sqlite`` (BIRD's own folder
is ``dev_databases``).

``evidence`` and ``difficulty`` travel with each example: evidence goes into
the prompt when ``data.evidence`` is true, difficulty into the report's
breakdown, and BIRD's execution metric (sets of rows) is chosen for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from t2s.config import SourceConfig
from t2s.data.records import RowChecker, SourceData, tables_entry
from t2s.data.schema_text import spider_type
from t2s.data.spider import Column, DatabaseSchema, Example, ForeignKey, Table, check_db_id
from t2s.errors import DataError
from t2s.jsonio import BadJSON, loads


def cleaned_tables_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A Spider tables.json entry from one entry of BIRD's cleaned schema file.

    Raises:
        DataError: if ``name``, ``tables`` or a column's ``name`` is missing.
    """
    try:
        db_id = entry["name"]
        tables, fks = [], []
        for table in entry["tables"]:
            columns = tuple(Column(c["name"], spider_type(c.get("type") or ""))
                            for c in table["columns"])
            tables.append(Table(table["name"], columns, tuple(table.get("primary_key") or ())))
            for column in table["columns"]:
                for fk in column.get("foreign_keys") or ():
                    fks.append(ForeignKey(table["name"], column["name"], fk["reference_table"],
                                          fk["reference_column"]))
    except (KeyError, TypeError) as exc:
        raise DataError(f"missing or malformed field {exc}") from None
    return tables_entry(DatabaseSchema(db_id, tuple(tables), tuple(fks)))


def read_tables(path: Path) -> dict[str, dict[str, Any]]:
    """BIRD schemas (either layout) as Spider tables.json entries by db_id.

    Raises:
        DataError: if the file is missing, not JSON, or an entry is malformed
            (the message names the file and entry).
    """
    if not path.is_file():
        found = sorted(p.name for p in path.parent.glob("*tables*.json")) \
            if path.parent.is_dir() else []
        hint = f"; schema files there: {', '.join(found)} (set data.tables_file)" if found else ""
        raise DataError(f"{path} does not exist{hint}")
    entries = _read_json(path)
    if not isinstance(entries, list):
        raise DataError(f"{path}: expected a JSON list of schemas")
    tables = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise DataError(f"{path}: entry {index} is not an object")
        try:
            spider = entry if "table_names_original" in entry else cleaned_tables_entry(entry)
        except DataError as exc:
            raise DataError(f"{path}: entry {index}: {exc}") from None
        if "db_id" not in spider:
            raise DataError(f"{path}: entry {index}: field 'db_id' is missing")
        tables[spider["db_id"]] = spider
    return tables


def read_questions(path: Path, checker: RowChecker, schemas: dict[str, Any]) -> list[Example]:
    """A BIRD question file as examples (``SQL`` -> query; evidence and difficulty kept).

    Raises:
        DataError: if the file is missing or not a JSON list, or (unless
            skipped) a record lacks ``question``/``SQL``/``db_id`` or names a
            db_id the schema file does not have.
    """
    records = _read_json(path)
    if not isinstance(records, list):
        raise DataError(f"{path}: expected a JSON list of questions")
    examples = []
    for row, record in enumerate(records):
        if not isinstance(record, dict):
            checker.bad(row, f"a {type(record).__name__}, not an object")
            continue
        question = checker.text(row, record, "question")
        sql = checker.text(row, record, "SQL")
        db_id = checker.text(row, record, "db_id")
        if question is None or sql is None or db_id is None:
            continue
        try:
            check_db_id(db_id)
        except DataError as exc:
            checker.bad(row, f"field 'db_id': {exc}")
            continue
        if db_id not in schemas:
            checker.bad(row, f"field 'db_id' {db_id!r} is not in the schema file")
            continue
        example = Example(
            index=len(examples), question=question, query=sql, db_id=db_id,
            evidence=checker.text(row, record, "evidence", required=False),
            difficulty=checker.text(row, record, "difficulty", required=False))
        if checker.sized(row, example):
            examples.append(example)
    return examples


def load_source(spec: SourceConfig, bad_rows: str = "error") -> SourceData:
    """Read the BIRD splits of ``spec`` with its schema file and any databases.

    Raises:
        DataError: if a file is missing or malformed (file, record and field
            named), unless ``bad_rows`` is ``skip`` for records.
    """
    root = Path(spec.root)
    if not root.is_dir():
        raise DataError(f"BIRD folder {root} does not exist (data.root)")
    tables_path = root / (spec.tables_file or "dev_tables.json")
    tables = read_tables(tables_path)
    splits, skipped = {}, []
    for split_file in (spec.train_file, spec.eval_file):
        if split_file:
            checker = RowChecker(root / split_file, bad_rows)
            splits[split_file] = read_questions(root / split_file, checker, tables)
            checker.log_summary()
            if checker.report.count:
                skipped.append(checker.report)
    database_dir = root / (spec.database_dir or "dev_databases")
    databases = {db_id: database_dir / db_id / f"{db_id}.sqlite" for db_id in tables
                 if (database_dir / db_id / f"{db_id}.sqlite").is_file()}
    difficulties: dict[str, dict[str, int]] = {}
    for name, examples in splits.items():
        counts: dict[str, int] = {}
        for example in examples:
            counts[example.difficulty or "unknown"] = counts.get(example.difficulty or "unknown", 0) + 1
        difficulties[name] = counts
    return SourceData(kind="bird", splits=splits, tables=tables, databases=databases,
                      inputs=[tables_path, *(root / n for n in splits)], skipped=skipped,
                      report={"difficulties": difficulties,
                              "databases_present": sorted(databases)})


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    try:
        return loads(path.read_text(encoding="utf-8"), max_bytes=None)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid UTF-8 ({exc})") from None
    except BadJSON as exc:
        raise DataError(f"{path}: {exc}") from None
