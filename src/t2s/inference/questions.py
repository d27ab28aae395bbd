"""Question files for batch inference: formats, records, databases, shards.

Input formats (``--input-format``, default from the file name):

- ``jsonl``: one JSON object per line;
- ``csv``: a header row, then one question per row;
- ``json``: a Spider-format JSON list (``dev.json``), ``query`` ignored.

Fields of a record: ``question`` (required), ``id`` (default: the record's
0-based position in the file, blank lines not counted), ``db`` (a SQLite file:
absolute, or relative to the working directory, else to the input file's
folder; or a ``postgresql://`` DSN) or ``db_id`` (a database of the ``--data-dir`` dataset). ``--db`` /
``--db-id`` give a default for records that name none. A record that cannot be
used becomes a :class:`~t2s.inference.pipeline.Question` carrying ``error``, so
the job writes an error row for it and goes on.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from t2s.config import NAME_PATTERN
from t2s.data.spider import MAX_QUESTION_CHARS
from t2s.errors import InputError
from t2s.inference.pipeline import Question
from t2s.jsonio import BadJSON, loads, read_lines
from t2s.sqlexec import is_dsn

FORMATS = ("auto", "jsonl", "csv", "json")
# ``NAME=`` in front of a DSN: NAME_PATTERN without its anchors, then "=".
_NAMED = re.compile(NAME_PATTERN.rstrip("$") + "=")


def split_database(text: str | None) -> tuple[str | None, str | None]:
    """``--db [NAME=]DB`` as ``(NAME or None, DB)``.

    Only a DSN takes a name (``shop=postgresql://reader@db/shop``): it is what
    output rows and messages call the database, never the DSN itself. A SQLite
    path is returned whole, even with an ``=`` in it.
    """
    if text is None:
        return None, None
    named = _NAMED.match(text)
    if named and is_dsn(text[named.end():]):
        return text[:named.end() - 1], text[named.end():]
    return None, text

@dataclass(frozen=True)
class InputDefaults:
    """Database used by records that name none (from ``--db`` / ``--db-id``)."""

    db_path: str | None = None
    db_id: str | None = None


def detect_format(path: Path, requested: str = "auto") -> str:
    """The input format: ``requested`` unless ``auto``; else from the suffix and content.

    A ``.json`` file whose first character is not ``[`` is read as JSON lines.

    Raises:
        InputError: for an unknown format or suffix.
    """
    if requested not in FORMATS:
        raise InputError(f"unknown input format {requested!r}; use one of {', '.join(FORMATS)}")
    if requested != "auto":
        return requested
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix == ".json":
        with path.open(encoding="utf-8", errors="replace") as handle:
            head = handle.read(4096).lstrip()
        return "json" if head.startswith("[") else "jsonl"
    raise InputError(f"{path}: cannot tell the format from the suffix {suffix!r}; "
                     "use --input-format jsonl|csv|json")


def read_questions(path: str | Path, input_format: str = "auto",
                   defaults: InputDefaults | None = None) -> list[Question]:
    """Read every record of a question file; unusable records carry ``error``.

    Raises:
        InputError: if the file is missing or, for ``json``, not a JSON list at all.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"input file {path} does not exist")
    defaults = defaults or InputDefaults()
    kind = detect_format(path, input_format)
    readers = {"jsonl": _jsonl_records, "csv": _csv_records, "json": _json_records}
    questions = []
    for position, (where, record) in enumerate(readers[kind](path)):
        questions.append(_question(position, where, record, path.parent, defaults))
    return questions


def _jsonl_records(path: Path) -> Iterator[tuple[str, Any]]:
    # Bytes, decoded line by line: a bad byte makes its own line an error row
    # instead of being replaced by U+FFFD and answered as a different question;
    # so does a line too long or nested too deep (t2s.jsonio), and the job goes on.
    for line in read_lines(path):
        where = f"line {line.number}"
        yield where, _Broken(line.error) if line.error is not None else line.value


def _csv_records(path: Path) -> Iterator[tuple[str, Any]]:
    # surrogateescape keeps undecodable bytes as lone surrogates, so the row
    # holding one becomes an error row instead of a silently altered question.
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        reader = csv.DictReader(handle, delimiter=delimiter)
        _check_csv_header(path, reader.fieldnames)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # a field past csv's limit (131,072 characters)
                yield f"line {reader.reader.line_num}", _Broken(str(exc))
                continue
            where = f"line {reader.line_num}"
            if None in row:  # more fields than the header names
                yield where, _Broken(f"{len(row[None])} more fields than the header has")
                continue
            if any(_BAD_BYTE.search(v) for v in row.values() if v):
                yield where, _Broken("not valid UTF-8")
                continue
            yield where, {k: v for k, v in row.items() if v not in (None, "")}


# Lone surrogates U+DC80..U+DCFF: what surrogateescape makes of undecodable bytes.
_BAD_BYTE = re.compile("[\udc80-\udcff]")


def _check_csv_header(path: Path, fieldnames: Sequence[str] | None) -> None:
    """Raise once for a header without a ``question`` column (else every row fails alike).

    Raises:
        InputError: if the file has a header row and it names no ``question`` column.
    """
    if fieldnames is None:  # an empty file: no rows, nothing to answer
        return
    if "question" not in fieldnames:
        found = ", ".join(repr(name) for name in fieldnames) or "nothing"
        raise InputError(f"{path}: the header row has no 'question' column (found {found}); "
                         "the first line must name the columns, e.g. id,question,db")


def _json_records(path: Path) -> Iterator[tuple[str, Any]]:
    try:
        records = loads(path.read_bytes().decode("utf-8-sig"), max_bytes=None)
    except (BadJSON, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc}); for one object per line "
                         "use --input-format jsonl") from None
    if not isinstance(records, list):
        raise InputError(f"{path}: expected a JSON list of question records (Spider format)")
    for index, record in enumerate(records):
        yield f"record {index}", record


@dataclass(frozen=True)
class _Broken:
    reason: str


def _question(position: int, where: str, record: Any, input_dir: Path,
              defaults: InputDefaults) -> Question:
    """A :class:`Question` from one raw record, or one that carries the problem."""
    if isinstance(record, _Broken):
        return Question(id=str(position), question="", error=f"{where}: {record.reason}")
    if not isinstance(record, dict):
        return Question(id=str(position), question="",
                        error=f"{where}: expected an object, got {type(record).__name__}")
    record_id = str(record.get("id", position))
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        return Question(id=record_id, question="" if question is None else str(question),
                        error=f"{where}: missing or empty 'question' field")
    evidence = record.get("evidence")
    evidence = evidence if isinstance(evidence, str) else None
    for name, text in (("question", question), ("evidence", evidence)):
        if text is not None and len(text) > MAX_QUESTION_CHARS:
            # Refused before any tokenizing: the row says so, the job goes on.
            return Question(id=record_id, question="",
                            error=f"{where}: {name} is {len(text):,} characters, over the limit "
                                  f"of {MAX_QUESTION_CHARS:,} (t2s.data.spider.MAX_QUESTION_CHARS)")
    raw_db = record.get("db") or record.get("db_path")
    db_id = record.get("db_id")
    if raw_db is None and db_id is None:
        raw_db, db_id = defaults.db_path, defaults.db_id
    db_path = resolve_db_path(str(raw_db), input_dir) if raw_db is not None else None
    if db_path is None and db_id is None:
        return Question(id=record_id, question=question,
                        error=f"{where}: no 'db' or 'db_id' field, and no --db/--db-id default")
    return Question(id=record_id, question=question, db_path=db_path,
                    db_id=None if db_id is None else str(db_id), evidence=evidence)


def resolve_db_path(raw: str, input_dir: Path) -> str:
    """An absolute path as is; a relative one against the working directory, else the input's folder.

    A path found in neither place is returned unchanged, so the error row names it as given;
    so is a DSN.
    """
    if is_dsn(raw):
        return raw
    path = Path(raw).expanduser()
    if path.is_absolute() or path.exists():
        return str(path)
    beside = input_dir / path
    return str(beside) if beside.exists() else raw


def select_shard(questions: Sequence[Question], shard: int, num_shards: int) -> list[Question]:
    """Every ``num_shards``-th question starting at ``shard`` (round robin keeps shards even).

    Raises:
        InputError: if ``shard`` is not in ``[0, num_shards)``.
    """
    if num_shards < 1 or not 0 <= shard < num_shards:
        raise InputError(f"shard {shard} of {num_shards}: need 0 <= shard < num_shards")
    return list(questions[shard::num_shards])


def shard_output_path(output: str | Path, shard: int, num_shards: int) -> Path:
    """``answers.jsonl`` -> ``answers.shard-00003-of-00008.jsonl`` (unchanged for one shard)."""
    output = Path(output)
    if num_shards == 1:
        return output
    return output.with_name(f"{output.stem}.shard-{shard:05d}-of-{num_shards:05d}{output.suffix}")


def resolve_shard(shard: int | None, num_shards: int | None,
                  environ: dict[str, str] | None = None) -> tuple[int, int]:
    """The shard of this process: explicit arguments, else the Slurm array task.

    In a Slurm job array every task runs the same command; without sharding
    they would all append to the same output file. So when ``--num-shards`` is
    not given and ``SLURM_ARRAY_TASK_COUNT`` is set, the array defines the
    shards: shard = ``SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN``.

    Raises:
        InputError: if only one of the two is given outside an array job, or
            the array variables are not integers.
    """
    environ = dict(os.environ) if environ is None else environ
    in_array = "SLURM_ARRAY_TASK_ID" in environ
    try:
        if num_shards is None:
            if not in_array or "SLURM_ARRAY_TASK_COUNT" not in environ:
                if shard not in (None, 0):
                    raise InputError("--shard needs --num-shards")
                return 0, 1
            num_shards = int(environ["SLURM_ARRAY_TASK_COUNT"])
        if shard is None:
            if not in_array:
                raise InputError("--num-shards needs --shard (or run inside a Slurm job array)")
            shard = int(environ["SLURM_ARRAY_TASK_ID"]) - int(environ.get("SLURM_ARRAY_TASK_MIN", "0"))
    except ValueError as exc:
        raise InputError(f"Slurm array variables are not integers ({exc})") from None
    if num_shards < 1 or not 0 <= shard < num_shards:
        raise InputError(f"shard {shard} of {num_shards}: need 0 <= shard < num_shards")
    return shard, num_shards
