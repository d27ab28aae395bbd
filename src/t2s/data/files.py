"""Question/SQL pairs from JSON, JSONL, CSV or Parquet files, or from a ``datasets`` dataset.

Rows are read with the ``datasets`` library (``load_dataset("json"|"csv"|
"parquet")``, ``load_from_disk`` for a saved dataset folder, or
``load_dataset(<hub id>)`` for a dataset already in the local cache: t2s never
downloads), and ``data.columns`` says which column holds each field::

    data:
      source: files
      root: data/inhouse
      train_file: train.jsonl          # or .json / .csv / .parquet
      eval_file: dev.csv
      columns: {question: nl, sql: gold_sql, db_id: database, evidence: hint}
      database_dir: dbs                # <db_id>/<db_id>.sqlite or <db_id>.sqlite

Schemas come from ``data.tables_file`` when it exists (Spider layout), else
from each database's SQLite file. A column named in the map but absent from a
file, and a row with an empty required field, stop with the file, row and field
(``data.bad_rows: skip`` counts and skips bad rows instead).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from t2s.config import ColumnMap, SourceConfig
from t2s.data.records import RowChecker, SourceData, tables_entry
from t2s.data.schema_text import introspect_sqlite
from t2s.data.spider import Example, check_db_id, load_tables
from t2s.errors import DataError
from t2s.jsonio import read_lines

FORMATS = {".json": "json", ".jsonl": "json", ".ndjson": "json", ".csv": "csv",
           ".parquet": "parquet"}
"""File suffix -> ``datasets`` builder."""


def read_file_rows(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """Column names and rows of one file, read with ``datasets``.

    Raises:
        DataError: for a missing file, an unknown suffix, bytes that are not
            UTF-8 (line and byte offset named), or a file the builder cannot
            read (for JSON lines, the first bad line is named).
    """
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    builder = FORMATS.get(path.suffix.lower())
    if builder is None:
        raise DataError(f"{path}: unknown file type {path.suffix!r}; expected one of "
                        f"{', '.join(sorted(FORMATS))}")
    if builder != "parquet":
        # pyarrow reads JSON with a bad byte and fails later, deep in to_list
        # (UnicodeDecodeError), and CSV with "An error occurred while generating
        # the dataset": checked here first, naming the line and byte offset.
        check_utf8(path)
    from datasets import load_dataset

    try:
        dataset = load_dataset(builder, data_files=str(path), split="train", keep_in_memory=True)
    except Exception as exc:  # datasets wraps parser errors in several types
        raise DataError(f"{path}: cannot be read as {builder}: {_first_bad_line(path) or exc}") \
            from None
    try:
        return list(dataset.column_names), dataset.to_list()
    except UnicodeDecodeError as exc:  # a Parquet string column holding other bytes
        raise DataError(f"{path}: a text value is not valid UTF-8 ({exc.reason}, byte "
                        f"0x{exc.object[exc.start]:02x}); re-encode the data as UTF-8") from None


# Bytes decoded at a time by check_utf8: its memory, whatever the file's size.
_UTF8_BLOCK = 1024 * 1024


def check_utf8(path: Path) -> None:
    """Check that a text file is UTF-8 throughout, in blocks of 1 MiB.

    Raises:
        DataError: at the first byte that is not, naming its line, column and
            byte offset in the file.
    """
    carry, offset, line, line_start = b"", 0, 1, 0  # offset: file position of data[0]
    with path.open("rb") as handle:
        while True:
            block = handle.read(_UTF8_BLOCK)
            data = carry + block
            if not data:
                return
            try:
                data.decode("utf-8")
                good = len(data)
            except UnicodeDecodeError as exc:
                # A character cut by the block's end is completed by the next block.
                if block and exc.end == len(data) and exc.reason == "unexpected end of data":
                    good = exc.start
                else:
                    good = -1
                    bad = exc.start
            end = good if good >= 0 else bad
            line += data.count(b"\n", 0, end)
            newline = data.rfind(b"\n", 0, end)
            if newline >= 0:
                line_start = offset + newline + 1
            if good < 0:
                at = offset + bad
                raise DataError(f"{path}: not valid UTF-8 at byte offset {at} (line {line}, "
                                f"column {at - line_start + 1}, byte 0x{data[bad]:02x}); "
                                "re-encode the file as UTF-8")
            carry, offset = data[good:], offset + good


def _first_bad_line(path: Path) -> str | None:
    """``line N: ...`` for the first line of a JSON-lines file that is not a JSON object."""
    if path.suffix.lower() not in (".jsonl", ".ndjson"):
        return None
    for line in read_lines(path):
        if line.error is not None:
            return f"line {line.number}: {line.error}"
        if not isinstance(line.value, dict):
            return f"line {line.number}: not a JSON object"
    return None


def map_rows(rows: Iterable[dict[str, Any]], columns: list[str], mapping: ColumnMap,
             checker: RowChecker, where: str) -> list[Example]:
    """Examples of ``rows`` through the column map.

    Raises:
        DataError: if the map names a column the data lacks (listing the
            columns there), or (unless skipped) a row's required field is empty.
    """
    fields = {f.name: getattr(mapping, f.name) for f in dataclasses.fields(mapping)}
    absent = [f"data.columns.{name}={column!r}" for name, column in fields.items()
              if column is not None and column not in columns]
    if absent:
        raise DataError(f"{where}: {', '.join(absent)} not a column (columns: "
                        f"{', '.join(columns)})")
    examples = []
    for row, record in enumerate(rows):
        values = {}
        for name in ("question", "sql", "db_id"):
            values[name] = checker.text(row, record, fields[name],
                                        f"field {name} (column {fields[name]!r})")
        if None in values.values():
            continue
        try:
            check_db_id(values["db_id"])
        except DataError as exc:
            checker.bad(row, f"field db_id (column {fields['db_id']!r}): {exc}")
            continue
        optional = {name: checker.text(row, record, fields[name], required=False)
                    for name in ("evidence", "difficulty", "category") if fields[name]}
        example = Example(index=len(examples), question=values["question"],
                          query=values["sql"], db_id=values["db_id"], **optional)
        if checker.sized(row, example):
            examples.append(example)
    return examples


def schemas_for(spec: SourceConfig, db_ids: set[str], root: Path
                ) -> tuple[dict[str, dict[str, Any]], dict[str, Path], list[Path]]:
    """tables.json entries and SQLite files for ``db_ids``; also the files read.

    From ``tables_file`` when it exists, else introspected from
    ``database_dir/<db_id>/<db_id>.sqlite`` or ``database_dir/<db_id>.sqlite``.

    Raises:
        DataError: if a db_id has neither a schema entry nor a SQLite file.
    """
    database_dir = Path(spec.database_dir or "database")
    database_dir = database_dir if database_dir.is_absolute() else root / database_dir
    databases = {}
    for db_id in sorted(db_ids):
        for candidate in (database_dir / db_id / f"{db_id}.sqlite", database_dir / f"{db_id}.sqlite"):
            if candidate.is_file():
                databases[db_id] = candidate
                break
    tables_path = Path(spec.tables_file or "tables.json")
    tables_path = tables_path if tables_path.is_absolute() else root / tables_path
    if tables_path.is_file():
        entries = {k: v.raw for k, v in load_tables(tables_path).items()}
        inputs = [tables_path]
    else:
        entries = {db_id: tables_entry(introspect_sqlite(path, db_id))
                   for db_id, path in databases.items()}
        inputs = list(databases.values())
    missing = sorted(db_ids - set(entries))
    if missing:
        raise DataError(f"no schema for db_id(s) {', '.join(missing[:10])}: not in {tables_path} "
                        f"and no SQLite file under {database_dir} (data.tables_file / "
                        "data.database_dir)")
    return {k: entries[k] for k in sorted(db_ids)}, databases, inputs


def load_files(spec: SourceConfig, bad_rows: str = "error") -> SourceData:
    """Read ``spec``'s split files through its column map.

    Raises:
        DataError: see :func:`read_file_rows`, :func:`map_rows`, :func:`schemas_for`.
    """
    root = Path(spec.root)
    if not root.is_dir():
        raise DataError(f"data folder {root} does not exist (data.root)")
    splits, skipped, inputs = {}, [], []
    for split_file in (spec.train_file, spec.eval_file):
        if not split_file:
            continue
        path = root / split_file
        columns, rows = read_file_rows(path)
        checker = RowChecker(path, bad_rows)
        splits[split_file] = map_rows(rows, columns, spec.columns or ColumnMap(), checker, str(path))
        checker.log_summary()
        skipped += [checker.report] if checker.report.count else []
        inputs.append(path)
    return _with_schemas("files", spec, root, splits, skipped, inputs)


def load_hf(spec: SourceConfig, bad_rows: str = "error") -> SourceData:
    """Read splits (``train_file``/``eval_file`` are split names) of a ``datasets`` folder or cached hub id.

    Raises:
        DataError: if the folder/id cannot be loaded offline, a split is
            missing, or rows are bad (see :func:`map_rows`).
    """
    dataset = _load_hf(spec.root)
    root = Path(spec.root) if Path(spec.root).is_dir() else Path.cwd()
    splits, skipped = {}, []
    for split in (spec.train_file, spec.eval_file):
        if not split:
            continue
        if split not in dataset:
            raise DataError(f"{spec.root}: no split {split!r} (splits: {', '.join(dataset)}); "
                            "data.train_file / data.eval_file name splits for source hf")
        part = dataset[split]
        where = f"{spec.root}[{split}]"
        checker = RowChecker(where, bad_rows)
        splits[split] = map_rows(part.to_list(), list(part.column_names),
                                 spec.columns or ColumnMap(), checker, where)
        checker.log_summary()
        skipped += [checker.report] if checker.report.count else []
    inputs = sorted(p for p in Path(spec.root).rglob("*") if p.is_file()) \
        if Path(spec.root).is_dir() else []
    return _with_schemas("hf", spec, root, splits, skipped, inputs)


def _load_hf(location: str):
    """A ``DatasetDict`` from a saved folder, or from the local cache of a hub id.

    Raises:
        DataError: if it cannot be loaded without the network.
    """
    import datasets

    path = Path(location)
    try:
        if path.is_dir() and ((path / "dataset_dict.json").is_file()
                              or (path / "dataset_info.json").is_file()):
            loaded = datasets.load_from_disk(str(path))
        else:
            loaded = datasets.load_dataset(location)
    except Exception as exc:  # FileNotFoundError, ConnectionError, DatasetNotFoundError, ...
        raise DataError(f"cannot load dataset {location!r} (a save_to_disk folder, or a hub id "
                        f"already in the local cache; t2s does not download): {exc}") from None
    if isinstance(loaded, datasets.Dataset):
        raise DataError(f"{location}: a single Dataset without splits; save a DatasetDict "
                        "({'train': ..., 'validation': ...})")
    return loaded


def _with_schemas(kind: str, spec: SourceConfig, root: Path, splits: dict[str, list[Example]],
                  skipped: list, inputs: list[Path]) -> SourceData:
    db_ids = {e.db_id for examples in splits.values() for e in examples}
    tables, databases, schema_inputs = schemas_for(spec, db_ids, root)
    return SourceData(kind=kind, splits=splits, tables=tables, databases=databases,
                      inputs=inputs + schema_inputs, skipped=skipped)
