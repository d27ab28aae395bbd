"""Batch inference jobs: a file of questions in, one JSON line per question out, resumable.

Input formats (``--input-format``, default from the file name):

- ``jsonl``: one JSON object per line;
- ``csv``: a header row, then one question per row;
- ``json``: a Spider-format JSON list (``dev.json``), ``query`` ignored.

Fields of a record: ``question`` (required), ``id`` (default: the record's
0-based position in the file, blank lines not counted), ``db`` (a SQLite file:
absolute, or relative to the working directory, else to the input file's
folder) or ``db_id`` (a database of the ``--data-dir`` dataset). ``--db`` /
``--db-id`` give a default for records that name none.

Output: one JSON line per input record with ``id, question, db, sql,
completion, latency_s, prompt_tokens, completion_tokens, batch_size, error``
(``error`` is null on success; a row that failed is still written). Lines are
appended and flushed window by window (and fsynced), so a killed job loses at
most the window in flight. Re-running the same command resumes: a torn last
line left by a kill is cut off, ids already written are skipped, and the
remaining questions are appended, so no row is lost or duplicated. A
``<output stem>.manifest.json`` beside the output records the model, the input
fingerprint, the counts and the environment.

Resuming only continues the *same* job. The manifest's ``job`` entry is what
identifies it (input file fingerprint, model and adapter fingerprint, decoding
and prompt settings, ``--db``/``--db-id`` defaults, shard); it is written
before the first row. When an existing output's ``job`` differs from the
command's (another input, a retrained adapter, other decoding settings), or the
output has rows but no such manifest, the job is refused before the model loads
and the message lists what differs. Then write to a new ``--output``, or pass
``--overwrite`` to start over: the new rows go to a hidden ``.<name>.new`` file
beside the output, which replaces the old output (atomically) once the first
window of new rows is on disk; until then the old file is untouched.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from t2s.errors import InputError
from t2s.inference.pipeline import Prediction, Predictor, Question, progress_bar

log = logging.getLogger(__name__)

FORMATS = ("auto", "jsonl", "csv", "json")

# Questions per write window: 4 generation batches. Sorting by length happens
# inside a window, so a window of 4 x batch_size keeps padding low while a kill
# loses at most 4 batches of work (64 questions, ~10 s, at the tiny preset).
WINDOW_BATCHES = 4


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
    # instead of being replaced by U+FFFD and answered as a different question.
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield f"line {number}", _Broken(f"not valid UTF-8 (byte {exc.start + 1} of the line)")
                continue
            if not line.strip():
                continue
            try:
                yield f"line {number}", json.loads(line)
            except json.JSONDecodeError as exc:
                yield f"line {number}", _Broken(f"not valid JSON ({exc})")


def _csv_records(path: Path) -> Iterator[tuple[str, Any]]:
    # surrogateescape keeps undecodable bytes as lone surrogates, so the row
    # holding one becomes an error row instead of a silently altered question.
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        reader = csv.DictReader(handle, delimiter=delimiter)
        _check_csv_header(path, reader.fieldnames)
        for row in reader:
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
        with path.open(encoding="utf-8") as handle:
            records = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
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
    raw_db = record.get("db") or record.get("db_path")
    db_id = record.get("db_id")
    if raw_db is None and db_id is None:
        raw_db, db_id = defaults.db_path, defaults.db_id
    db_path = resolve_db_path(str(raw_db), input_dir) if raw_db is not None else None
    if db_path is None and db_id is None:
        return Question(id=record_id, question=question,
                        error=f"{where}: no 'db' or 'db_id' field, and no --db/--db-id default")
    return Question(id=record_id, question=question, db_path=db_path,
                    db_id=None if db_id is None else str(db_id))


def resolve_db_path(raw: str, input_dir: Path) -> str:
    """An absolute path as is; a relative one against the working directory, else the input's folder.

    A path found in neither place is returned unchanged, so the error row names it as given.
    """
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


# ------------------------------------------------------------------ the output file


def repair_output(path: Path) -> int:
    """Cut a torn last line (no trailing newline) left by a killed job.

    Returns:
        The number of bytes removed (0 when the file was whole or absent).
    """
    if not path.is_file():
        return 0
    size = path.stat().st_size
    if size == 0:
        return 0
    with path.open("rb+") as handle:
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return 0
        # Scan back for the last newline in 64 KiB blocks (an output line is < 10 KiB).
        end = size
        keep = 0
        while end > 0:
            start = max(0, end - 65536)
            handle.seek(start)
            block = handle.read(end - start)
            newline = block.rfind(b"\n")
            if newline != -1:
                keep = start + newline + 1
                break
            end = start
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())
    return size - keep


def written_ids(path: Path) -> Counter[str]:
    """How many times each id occurs in an existing output file.

    Raises:
        InputError: if a (whole) line is not a JSON object with an ``id``:
            the file was not written by ``t2s infer`` or was edited.
    """
    counts: Counter[str] = Counter()
    if not path.is_file():
        return counts
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                record = None
            if not isinstance(record, dict) or "id" not in record:
                raise InputError(
                    f"{path} line {number} is not an output record of t2s infer; refusing to "
                    "append to it (move it away or choose another --output)")
            counts[str(record["id"])] += 1
    return counts


def remaining_questions(questions: Sequence[Question], done: Counter[str]) -> list[Question]:
    """Questions whose id is not yet in the output, counting repeated ids.

    An id that occurs twice in the input and once in the output has one
    occurrence left, so duplicated ids are neither lost nor written twice.
    """
    left = Counter(done)
    remaining = []
    for question in questions:
        if left[question.id] > 0:
            left[question.id] -= 1
            continue
        remaining.append(question)
    return remaining


class OutputWriter:
    """Appends JSON lines, one ``write`` call per line; flushes and fsyncs on ``commit``.

    Args:
        path: The file to append to (created with its folder if missing).
        truncate: Empty the file first instead of appending.
    """

    def __init__(self, path: Path, truncate: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._handle = path.open("w" if truncate else "a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        # One string per line: json.dumps escapes newlines inside values, so a
        # record is always exactly one line.
        self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")

    def commit(self) -> None:
        """Push written lines to the OS (survives a kill) and to disk (survives a crash)."""
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self.commit()
        self._handle.close()

    def __enter__(self) -> OutputWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@dataclass
class BatchSummary:
    """What one run of a batch job did."""

    output: Path
    total: int
    skipped: int
    written: int = 0
    errors: int = 0
    repaired_bytes: int = 0
    seconds: float = 0.0
    error_examples: list[str] = field(default_factory=list)

    def line(self) -> str:
        rate = self.written / self.seconds if self.seconds > 0 else 0.0
        text = (f"[t2s] {self.output}: wrote {self.written} rows ({self.errors} with errors), "
                f"skipped {self.skipped} already written, {self.total} in input; "
                f"{self.seconds:.1f}s ({rate:.2f} questions/s)")
        if self.repaired_bytes:
            text += f"; cut a torn last line of {self.repaired_bytes} bytes"
        return text


def run_batch(predictor: Predictor, questions: Sequence[Question], output: str | Path, *,
              progress: bool = True, overwrite: bool = False,
              on_start: Callable[[], None] | None = None) -> BatchSummary:
    """Answer ``questions`` into ``output``, resuming if it already holds some rows.

    Whether those rows belong to the same job is the caller's check
    (:func:`check_resumable`); this function trusts the ids it finds.

    Args:
        predictor: The loaded predictor.
        questions: Every question of the job (this shard's).
        output: The JSONL output file.
        progress: Show a progress bar on stderr.
        overwrite: Start over: write to ``.<name>.new`` beside ``output`` and
            replace ``output`` with it once the first window is on disk, so the
            old file stays whole until the new run has written rows.
        on_start: Called once the file that receives this run's rows is
            ``output``: before the first row when appending, right after the
            replace with ``overwrite`` (the caller writes the manifest then, so
            a killed job's rows always have one; a kill between the replace and
            the manifest leaves new rows under the old manifest, which the next
            run refuses to resume rather than mixing jobs).

    Raises:
        InputError: if ``output`` exists but is not a t2s output file (not
            checked with ``overwrite``).
    """
    output = Path(output)
    if overwrite:
        repaired, done = 0, Counter[str]()
        target = output.with_name(f".{output.name}.new")
    else:
        repaired = repair_output(output)
        if repaired:
            log.warning("%s: cut a torn last line (%d bytes) left by an interrupted run",
                        output, repaired)
        done = written_ids(output)
        target = output
    todo = remaining_questions(questions, done)
    summary = BatchSummary(output=output, total=len(questions), skipped=len(questions) - len(todo),
                           repaired_bytes=repaired)
    started = time.perf_counter()
    window = max(1, predictor.infer.batch_size * WINDOW_BATCHES)
    in_place = not overwrite
    if in_place and on_start is not None:
        on_start()

    def put_in_place() -> None:
        nonlocal in_place
        if not in_place:
            os.replace(target, output)  # same folder: atomic; the open handle follows the file
            in_place = True
            if on_start is not None:
                on_start()

    try:
        with OutputWriter(target, truncate=overwrite) as writer, progress_bar(
                len(questions), "questions", enabled=progress, initial=summary.skipped) as bar:
            for start in range(0, len(todo), window):
                for prediction in predictor.predict(todo[start:start + window],
                                                    on_progress=bar.update):
                    writer.write(prediction.to_record())
                    _count(summary, prediction)
                writer.commit()
                put_in_place()
        put_in_place()  # nothing to answer: the new (empty) output still replaces the old
    finally:
        if not in_place:
            target.unlink(missing_ok=True)  # failed before its first window: keep the old output
    summary.seconds = time.perf_counter() - started
    return summary


def _count(summary: BatchSummary, prediction: Prediction) -> None:
    summary.written += 1
    if prediction.error:
        summary.errors += 1
        if len(summary.error_examples) < 5:
            summary.error_examples.append(f"id {prediction.id}: {prediction.error}")


def manifest_path(output: str | Path) -> Path:
    """``answers.jsonl`` -> ``answers.manifest.json``."""
    output = Path(output)
    return output.with_name(f"{output.stem}.manifest.json")


def read_manifest(output: str | Path) -> dict[str, Any] | None:
    """The manifest beside ``output``, or None if it is missing or not a JSON object."""
    try:
        manifest = json.loads(manifest_path(output).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def check_resumable(output: str | Path, job: Mapping[str, Any]) -> None:
    """Refuse to resume ``output`` unless its manifest names the same ``job``.

    An absent or empty output starts a new job and always passes.

    Raises:
        InputError: if ``output`` holds rows and its manifest is missing, has
            no ``job`` entry, or records a different job; the message lists
            every difference and how to proceed.
    """
    output = Path(output)
    if not output.is_file() or output.stat().st_size == 0:
        return
    how = ("write to a new --output, or pass --overwrite to start over (the old rows are "
           "replaced once the new run has written its first rows)")
    manifest = read_manifest(output)
    if manifest is None or not isinstance(manifest.get("job"), dict):
        what = ("has no readable manifest" if manifest is None
                else "has a manifest without a 'job' entry (written by an older t2s)")
        raise InputError(f"{output} already holds rows but {what} at {manifest_path(output)}, "
                         f"so it cannot be resumed safely: {how}")
    differences = job_differences(manifest["job"], job)
    if differences:
        raise InputError(
            f"{output} holds rows of a different job; resuming would mix two runs in one "
            f"file. What differs (before -> now):\n  " + "\n  ".join(differences)
            + f"\nTo proceed, {how}.")


def job_differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    """``key.sub: old -> new`` for every leaf that differs between two job descriptions."""
    if isinstance(old, dict) and isinstance(new, dict):
        lines = []
        for key in sorted(set(old) | set(new), key=str):
            name = f"{prefix}.{key}" if prefix else str(key)
            lines += job_differences(old.get(key), new.get(key), name)
        return lines
    if old == new:
        return []
    return [f"{prefix}: {_short(old)} -> {_short(new)}"]


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."
