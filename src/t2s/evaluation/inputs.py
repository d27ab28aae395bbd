"""Reading gold and prediction files for ``t2s evaluate``.

Gold (``--gold``), either of:

* **Spider gold SQL** (``dev_gold.sql``): one ``SQL<TAB>db_id`` per line. The
  question is not known. Blank lines at the end of the file are ignored; a
  blank line anywhere else is an error (the official evaluator would silently
  treat it as a session break and shift every later example).
* **Spider-format JSON** (a ``.json`` file, e.g. ``dev.json``): a list of
  objects with ``question``, ``query`` and ``db_id`` (and optionally ``id``).

Predictions (``--pred``), either of:

* **Plain text**: one SQL per line, in gold order. As in the official evaluator,
  a line may carry ``SQL<TAB>anything`` and only the text before the first tab
  is the prediction. An empty line is an empty prediction (scored wrong), so a
  model that produced nothing keeps its place; blank lines at the end of the
  file beyond the number of gold examples are ignored.
* **JSONL** (a ``.jsonl``/``.ndjson`` file, or any file whose first non-blank
  line starts with ``{``): one object per line with ``sql`` (a string, or
  ``null`` for "no prediction") and a key saying which gold example it
  answers: ``index`` (0-based position in the gold file) or ``id`` (the gold
  record's ``id`` field, or its 0-based position written as a string when the
  gold has no ids). Lines may come in any order; every gold example needs
  exactly one prediction.

Every problem with the files themselves (a count mismatch, an unsafe or
unknown db_id, an empty gold line, bytes that are not UTF-8, a broken JSONL
line) raises :class:`~t2s.errors.InputError` naming the file and line. A bad
*prediction* (garbage SQL, an empty line) is not an input error: it is scored
as a wrong answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from t2s.data.spider import check_db_id
from t2s.errors import DataError, InputError
from t2s.jsonio import MAX_LINE_BYTES, BadJSON, loads, read_raw_lines

_JSONL_SUFFIXES = (".jsonl", ".ndjson")


@dataclass(frozen=True)
class GoldExample:
    """One gold example, with where it came from.

    Attributes:
        index: 0-based position in the gold file.
        db_id: The example's database.
        gold: The gold SQL.
        question: The question, when the gold file is Spider JSON.
        id: The id predictions may refer to (``id`` field or position).
        line: 1-based line (text) or record number (JSON), for messages.
        difficulty: The data's difficulty label (BIRD), reported as a breakdown.
    """

    index: int
    db_id: str
    gold: str
    question: str | None
    id: str
    line: int
    difficulty: str | None = None


def gold_from_examples(examples: Iterable[Any]) -> list[GoldExample]:
    """Gold examples from :class:`t2s.data.spider.Example` records (the "score a
    model" mode, where the eval split is loaded with the data loader)."""
    return [GoldExample(index=position, db_id=example.db_id, gold=example.query.strip(),
                        question=example.question, id=str(example.index), line=example.index,
                        difficulty=getattr(example, "difficulty", None))
            for position, example in enumerate(examples)]


def _read_lines(path: Path) -> list[str]:
    """Lines of a UTF-8 text file, without line endings.

    Raises:
        InputError: if the file is missing, a line is longer than
            :data:`~t2s.jsonio.MAX_LINE_BYTES`, or a line is not valid UTF-8
            (the message names the line and byte).
    """
    if not path.is_file():
        raise InputError(f"{path}: file does not exist")
    lines = []
    with path.open("rb") as handle:
        # Line by line with a cap: one 100 MB line is refused here, before the
        # SQL tokenizer could grow it to gigabytes.
        for number, raw, _ in read_raw_lines(handle):
            if raw is None:
                raise InputError(f"{path}:{number}: longer than the limit of "
                                 f"{MAX_LINE_BYTES:,} bytes per line; no SQL or record is "
                                 "that long")
            try:
                lines.append(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"{path}:{number}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column "
                    f"{exc.start + 1}); re-encode the file as UTF-8") from None
    return lines


def _drop_trailing_blank(lines: list[str]) -> list[str]:
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    return lines[:end]


def read_gold(path: str | Path) -> list[GoldExample]:
    """Read a gold file: ``SQL<TAB>db_id`` lines, or Spider JSON if it ends in ``.json``.

    Raises:
        InputError: on a missing file, bad encoding, an empty or malformed
            line/record, or a db_id with characters other than letters,
            digits, ``_`` and ``-``.
    """
    path = Path(path)
    examples = _read_gold_json(path) if path.suffix.lower() == ".json" else _read_gold_text(path)
    if not examples:
        raise InputError(f"{path}: no gold examples")
    return examples


def _read_gold_text(path: Path) -> list[GoldExample]:
    examples = []
    for number, line in enumerate(_drop_trailing_blank(_read_lines(path)), start=1):
        text = line.strip()
        if not text:
            raise InputError(f"{path}:{number}: empty line; expected 'SQL<TAB>db_id'")
        if "\t" not in text:
            raise InputError(f"{path}:{number}: no tab; expected 'SQL<TAB>db_id', got {text[:80]!r}")
        sql, db_id = (part.strip() for part in text.rsplit("\t", 1))
        if not sql:
            raise InputError(f"{path}:{number}: empty gold SQL")
        index = len(examples)
        examples.append(GoldExample(index=index, db_id=_checked_db_id(db_id, path, number),
                                    gold=sql, question=None, id=str(index), line=number))
    return examples


def _read_gold_json(path: Path) -> list[GoldExample]:
    if not path.is_file():
        raise InputError(f"{path}: file does not exist")
    try:
        records = loads(path.read_bytes().decode("utf-8"), max_bytes=None)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not valid UTF-8 at byte offset {exc.start}") from None
    except BadJSON as exc:
        raise InputError(f"{path}: {exc}") from None
    if not isinstance(records, list):
        raise InputError(f"{path}: expected a JSON list of {{question, query, db_id}} records")
    examples = []
    for index, record in enumerate(records):
        where = f"{path}: record {index}"
        if not isinstance(record, dict):
            raise InputError(f"{where}: expected an object")
        missing = [key for key in ("query", "db_id") if key not in record]
        if missing:
            raise InputError(f"{where}: missing {', '.join(missing)}")
        sql = record["query"]
        if not isinstance(sql, str) or not sql.strip():
            raise InputError(f"{where}: 'query' must be a non-empty string")
        question = record.get("question")  # optional: the question is only reported
        record_id = record.get("id", index)  # optional: predictions may refer to it
        difficulty = record.get("difficulty")  # optional: BIRD's label, a report breakdown
        examples.append(GoldExample(
            index=index, db_id=_checked_db_id(record["db_id"], path, index, "record"),
            gold=sql.strip(), question=question if isinstance(question, str) else None,
            id=str(record_id), line=index,
            difficulty=difficulty if isinstance(difficulty, str) else None))
    return examples


def _checked_db_id(db_id: Any, path: Path, number: int, unit: str = "line") -> str:
    try:
        return check_db_id(db_id)
    except DataError as exc:
        where = f"{path}:{number}" if unit == "line" else f"{path}: record {number}"
        raise InputError(f"{where}: {exc}") from None


def is_jsonl(path: Path, lines: Sequence[str]) -> bool:
    """Whether a prediction file is JSONL: by suffix, or a first line starting with ``{``.

    SQL never starts with ``{``, so the content test cannot mistake a text file.
    """
    if path.suffix.lower() in _JSONL_SUFFIXES:
        return True
    first = next((line for line in lines if line.strip()), "")
    return first.lstrip().startswith("{")


def read_predictions(path: str | Path, gold: Sequence[GoldExample]) -> list[str]:
    """Read predictions and align them with ``gold`` (one string per example).

    Raises:
        InputError: if the file is missing, not UTF-8, a JSONL line is broken,
            or the predictions do not cover the gold examples one to one.
    """
    path = Path(path)
    lines = _read_lines(path)
    if is_jsonl(path, lines):
        return _read_predictions_jsonl(path, lines, gold)
    return _read_predictions_text(path, lines, gold)


def _read_predictions_text(path: Path, lines: list[str],
                           gold: Sequence[GoldExample]) -> list[str]:
    if len(lines) > len(gold):
        lines = lines[:len(gold)] + _drop_trailing_blank(lines[len(gold):])
    if len(lines) != len(gold):
        raise InputError(
            f"{path}: {len(lines)} predictions for {len(gold)} gold examples; the files must "
            "have one line per example, in the same order"
            + (f" (the first without one is gold example {len(lines)}, counting from 0)"
               if len(lines) < len(gold) else ""))
    # Official behaviour: strip the line, keep what precedes the first tab.
    return [line.strip().split("\t")[0] for line in lines]


def _read_predictions_jsonl(path: Path, lines: list[str],
                            gold: Sequence[GoldExample]) -> list[str]:
    by_id = {example.id: example.index for example in gold}
    predictions: dict[int, str] = {}
    first_line: dict[int, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        record = _parse_jsonl_record(path, number, line)
        index = _prediction_index(path, number, record, len(gold), by_id)
        if index in predictions:
            raise InputError(f"{path}:{number}: a second prediction for example {index} "
                             f"(the first is on line {first_line[index]})")
        sql = record["sql"]
        predictions[index] = "" if sql is None else sql
        first_line[index] = number
    missing = [example.id for example in gold if example.index not in predictions]
    if missing:
        shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise InputError(f"{path}: {len(predictions)} predictions for {len(gold)} gold examples; "
                         f"no prediction for {len(missing)} of them (ids {shown})")
    return [predictions[i] for i in range(len(gold))]


def read_candidates(path: str | Path, gold: Sequence[GoldExample]) -> list[list[str]] | None:
    """The ``candidates`` list of each JSONL prediction record, aligned with ``gold``.

    For pass@k and maj@k (``t2s evaluate`` writes them with ``eval.samples``);
    ``None`` for a text file or when no record has one. Call after
    :func:`read_predictions`, which checks the records' ids and coverage.

    Raises:
        InputError: if only some records have candidates, or a list holds
            something other than strings (null counts as "").
    """
    path = Path(path)
    lines = _read_lines(path)
    if not is_jsonl(path, lines):
        return None
    by_id = {example.id: example.index for example in gold}
    found: dict[int, list[str]] = {}
    without = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        record = _parse_jsonl_record(path, number, line)
        if "candidates" not in record:
            without += 1
            continue
        drawn = record["candidates"]
        if not isinstance(drawn, list) or not all(c is None or isinstance(c, str) for c in drawn):
            raise InputError(f"{path}:{number}: 'candidates' must be a list of strings")
        found[_prediction_index(path, number, record, len(gold), by_id)] = [c or "" for c in drawn]
    if not found:
        return None
    if without:
        raise InputError(f"{path}: {len(found)} records have 'candidates' and {without} do not; "
                         "give every record its candidates, or none")
    return [found[i] for i in range(len(gold))]


def _parse_jsonl_record(path: Path, number: int, line: str) -> Mapping[str, Any]:
    try:
        record = loads(line)
    except BadJSON as exc:
        raise InputError(f"{path}:{number}: {exc}") from None
    if not isinstance(record, dict):
        raise InputError(f"{path}:{number}: expected a JSON object")
    if "sql" not in record:
        raise InputError(f"{path}:{number}: missing 'sql'")
    if record["sql"] is not None and not isinstance(record["sql"], str):
        raise InputError(f"{path}:{number}: 'sql' must be a string or null")
    return record


def _prediction_index(path: Path, number: int, record: Mapping[str, Any], count: int,
                      by_id: Mapping[str, int]) -> int:
    if "index" in record:
        index = record["index"]
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
            raise InputError(f"{path}:{number}: 'index' must be an integer in [0, {count})")
        return index
    if "id" in record:
        key = str(record["id"])
        if key not in by_id:
            raise InputError(f"{path}:{number}: id {key!r} is not an id of the gold file")
        return by_id[key]
    raise InputError(f"{path}:{number}: needs 'index' (0-based gold position) or 'id'")


# The first 16 bytes of every SQLite 3 database file (https://sqlite.org/fileformat.html).
SQLITE_HEADER = b"SQLite format 3\x00"

# At most this many problems are spelled out in one message; the rest are counted.
_SHOWN = 10


@dataclass(frozen=True)
class DatabaseCheck:
    """Which databases of a gold file exist.

    Attributes:
        paths: ``{db_id: path}`` of every used db_id whose SQLite file exists.
        missing: ``{db_id: examples}`` of every used db_id without one, in
            sorted db_id order (the count of gold examples on it).
    """

    paths: dict[str, Path]
    missing: dict[str, int]


def check_databases(examples: Sequence[GoldExample], db_dir: str | Path,
                    gold_path: str | Path, *, execution: bool = True,
                    skip_missing: bool = False) -> DatabaseCheck:
    """Resolve each distinct db_id to its SQLite file, and check the files.

    A db_id whose file is missing is fine when nothing is executed (exact match
    reads tables.json), or with ``skip_missing``; otherwise it is an error, and
    the message lists every missing db_id, not only the first. Every file that
    will be executed on must start with the SQLite header, so a stray text file
    fails here, before any scoring, rather than in a worker mid-run.

    Args:
        examples: The gold examples.
        db_dir: Folder of ``<db_id>/<db_id>.sqlite`` files.
        gold_path: The gold file, for messages.
        execution: Whether execution accuracy will be scored.
        skip_missing: Accept missing files (``--skip-missing-db``).

    Raises:
        InputError: if ``db_dir`` is not a folder; or, when executing without
            ``skip_missing``, listing every db_id that has no SQLite file.
        DataError: when executing, listing every file that is not a SQLite
            database (wrong header, or empty).
    """
    db_dir = Path(db_dir)
    if not db_dir.is_dir():
        raise InputError(f"--db {db_dir}: not a directory")
    paths: dict[str, Path] = {}
    first: dict[str, GoldExample] = {}
    counts: dict[str, int] = {}
    for example in examples:
        counts[example.db_id] = counts.get(example.db_id, 0) + 1
        if example.db_id in first:
            continue
        first[example.db_id] = example
        path = db_dir / _checked_db_id(example.db_id, Path(gold_path), example.line,
                                       _unit(gold_path)) / f"{example.db_id}.sqlite"
        if path.is_file():
            paths[example.db_id] = path
    missing = {db_id: counts[db_id] for db_id in sorted(first) if db_id not in paths}
    if execution and missing and not skip_missing:
        raise InputError(_missing_message(missing, first, db_dir, gold_path))
    if execution:
        check_sqlite_files(paths.values())
    return DatabaseCheck(paths=paths, missing=missing)


def _missing_message(missing: Mapping[str, int], first: Mapping[str, GoldExample],
                     db_dir: Path, gold_path: str | Path) -> str:
    examples = sum(missing.values())
    listed = [f"{db_id} ({count} example{'s' if count != 1 else ''}, first at "
              f"{_where(gold_path, first[db_id])})" for db_id, count in missing.items()]
    shown = "; ".join(listed[:_SHOWN]) + (f"; ... {len(listed) - _SHOWN} more"
                                          if len(listed) > _SHOWN else "")
    return (f"no <db_id>/<db_id>.sqlite in {db_dir} for {len(missing)} db_id"
            f"{'s' if len(missing) != 1 else ''} of the gold file: {shown}. Execution "
            f"accuracy needs them: add the files, or pass --skip-missing-db to leave these "
            f"{examples} examples out of execution scoring (exact match still scores them), "
            "or use --etype match")


def check_sqlite_files(paths: Iterable[Path]) -> None:
    """Check that each file starts with the SQLite header.

    Raises:
        DataError: listing every file that does not (an empty file included:
            the official evaluator leaves one behind for a missing database).
    """
    bad = []
    for path in paths:
        try:
            with path.open("rb") as handle:
                head = handle.read(len(SQLITE_HEADER))
        except OSError as exc:
            bad.append(f"{path} (cannot be read: {exc.strerror})")
            continue
        if not head:
            bad.append(f"{path} (empty file)")
        elif head != SQLITE_HEADER:
            bad.append(f"{path} (starts with {head[:8]!r})")
    if bad:
        shown = "; ".join(bad[:_SHOWN]) + (f"; ... {len(bad) - _SHOWN} more"
                                           if len(bad) > _SHOWN else "")
        raise DataError(f"not a SQLite database: {shown}")


def check_schemas(examples: Iterable[GoldExample], schemas: Mapping[str, Any],
                  gold_path: str | Path, tables_path: str | Path) -> None:
    """Check that every db_id has a schema in tables.json.

    Raises:
        InputError: listing every db_id that has none, with its first gold line.
    """
    unknown: dict[str, GoldExample] = {}
    for example in examples:
        if example.db_id not in schemas and example.db_id not in unknown:
            unknown[example.db_id] = example
    if unknown:
        listed = [f"{_where(gold_path, example)}: db_id {db_id!r}"
                  for db_id, example in unknown.items()]
        shown = "; ".join(listed[:_SHOWN]) + (f"; ... {len(listed) - _SHOWN} more"
                                              if len(listed) > _SHOWN else "")
        raise InputError(f"{shown} {'is' if len(listed) == 1 else 'are'} not in {tables_path}")


def _unit(gold_path: str | Path) -> str:
    return "record" if str(gold_path).lower().endswith(".json") else "line"


def _where(gold_path: str | Path, example: GoldExample) -> str:
    if _unit(gold_path) == "record":
        return f"{gold_path}: record {example.line}"
    return f"{gold_path}:{example.line}"
