"""Batch inference jobs: a file of questions in, one JSON line per question out, resumable.

Input: a question file (JSONL, CSV or Spider JSON; :mod:`t2s.inference.questions`).

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

import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from t2s.config import Config, to_dict
from t2s.data.sources import open_dataset_if_any
from t2s.errors import InputError, T2SError
from t2s.faults import crash_point
from t2s.inference.pipeline import (
    Prediction,
    Predictor,
    Question,
    build_predictor,
    check_engines,
    describe_model,
    progress_bar,
)
from t2s.inference.questions import (
    InputDefaults,
    detect_format,
    read_questions,
    resolve_shard,
    select_shard,
    shard_output_path,
)
from t2s.jsonio import BadJSON, loads
from t2s.outputs import WriterLock, check_output_file
from t2s.provenance import (
    differences,
    disk_full_message,
    environment,
    file_sha256,
    write_json_atomic,
)
from t2s.sqlexec import describe_target

log = logging.getLogger(__name__)

# Questions per write window: 4 generation batches. Sorting by length happens
# inside a window, so a window of 4 x batch_size keeps padding low while a kill
# loses at most 4 batches of work (64 questions, ~10 s, at the tiny preset).
WINDOW_BATCHES = 4


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
                record = loads(line, max_bytes=None)  # t2s's own lines: its writer bounds them
            except BadJSON:
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
                crash_point("batch-window", summary.written)  # tests only: see t2s.faults
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
    changed = differences(manifest["job"], job)
    if changed:
        raise InputError(
            f"{output} holds rows of a different job; resuming would mix two runs in one "
            f"file. What differs (before -> now):\n  " + "\n  ".join(changed)
            + f"\nTo proceed, {how}.")


# ------------------------------------------------------------------ the job


@dataclass(frozen=True)
class BatchRequest:
    """One batch job as the user asked for it (``t2s infer --input ... --output ...``)."""

    input: Path
    output: Path
    input_format: str = "auto"
    defaults: InputDefaults = field(default_factory=InputDefaults)
    data_dir: str | None = None
    """Spider-format dataset for ``db_id`` questions (default: ``data.root``)."""
    shard: int | None = None
    num_shards: int | None = None
    overwrite: bool = False
    progress: bool = True


def run_job(request: BatchRequest, config: Config) -> BatchSummary:
    """Run (or resume) a batch job and write its manifest beside the output.

    Raises:
        InputError: if the input is unusable, or the output holds rows of
            another job and ``request.overwrite`` is false (before the model loads).
        ConfigError: if a database is of the other engine than ``data.dialect``.
    """
    shard, num_shards = resolve_shard(request.shard, request.num_shards)
    output = check_output_file(shard_output_path(request.output, shard, num_shards), "--output")
    questions = read_questions(request.input, request.input_format, request.defaults)
    questions = select_shard(questions, shard, num_shards)
    # Before the model loads: a model of one engine is refused on the other's databases.
    check_engines(config, {str(q.db): q.db_path for q in questions if q.db_path and not q.error})
    uses_dataset = any(q.db_id and not q.db_path for q in questions)
    # One writer per output file: a second job on it is refused before any work.
    with WriterLock(output, "batch output"):
        try:
            return _run_locked(request, config, questions, output, (shard, num_shards),
                               uses_dataset)
        except OSError as exc:
            message = disk_full_message(exc, output)
            if message is None:
                raise
            raise T2SError(message) from None


def _run_locked(request: BatchRequest, config: Config, questions: list[Question], output: Path,
                shard_of: tuple[int, int], uses_dataset: bool) -> BatchSummary:
    shard, num_shards = shard_of

    # Once per run: it hashes the whole model folder (seconds for a full model).
    model = describe_model(config)
    job = job_identity(request, config, model, detect_format(request.input, request.input_format),
                       (shard, num_shards), uses_dataset)
    if not request.overwrite:
        check_resumable(output, job)
    dataset = open_dataset_if_any(config.data, request.data_dir) if uses_dataset else None
    predictor = build_predictor(config, dataset)

    def manifest(summary: BatchSummary | None = None) -> None:
        write_manifest(output, request, config, model, job, summary, predictor,
                       (shard, num_shards))

    summary = run_batch(predictor, questions, output, progress=request.progress,
                        overwrite=request.overwrite, on_start=manifest)
    if config.infer.execution_guided:
        log.info("%s", predictor.stats.summary())
    manifest(summary)
    return summary


def job_identity(request: BatchRequest, config: Config, model_description: dict,
                 input_format: str, shard: tuple[int, int], uses_dataset: bool) -> dict:
    """What makes two runs the same batch job: only then may one resume the other's output.

    Input content (not its path), the model and adapter fingerprint with the
    decoding settings (:func:`~t2s.inference.pipeline.describe_model`; the
    adapter's path is left out, its hash identifies it), the schema-text
    switches of the prompt, the ``--db``/``--db-id`` defaults, the dataset when
    a question names a db_id, and the shard. Batch size is left out: it does
    not change the answers, and a resumed job may need a smaller one.

    Args:
        request: The batch job.
        config: The resolved config.
        model_description: :func:`~t2s.inference.pipeline.describe_model` of ``config``.
        input_format: The input's format as read.
        shard: (shard, number of shards).
        uses_dataset: Whether a question names a db_id of the dataset.
    """
    infer = config.infer
    model = {k: v for k, v in model_description.items() if k != "adapter"}
    model["seed"] = infer.seed if infer.do_sample else None
    if infer.execution_guided:
        model["guided"] = {"strategy": infer.guided_strategy,
                           "execute_timeout_s": infer.execute_timeout_s,
                           "max_rows": infer.max_rows}
    job = {
        "input": {"sha256": file_sha256(request.input), "format": input_format},
        # A DSN as describe_target shows it: the manifest never holds a password.
        "defaults": {"db": None if request.defaults.db_path is None
                     else describe_target(request.defaults.db_path),
                     "db_id": request.defaults.db_id},
        "data_dir": (request.data_dir or config.data.root) if uses_dataset else None,
        "schema_text": asdict(config.data.schema),
        "model": model,
        "shard": {"index": shard[0], "count": shard[1]},
    }
    # As the manifest will hold it (tuples become lists), so comparisons are like for like.
    return json.loads(json.dumps(job))


def write_manifest(output: Path, request: BatchRequest, config: Config, model: dict, job: dict,
                   summary: BatchSummary | None, predictor: Predictor,
                   shard: tuple[int, int]) -> None:
    """Record the job, model, input fingerprint, counts and environment beside ``output``.

    Written before the first row (``summary`` None: ``last_run`` is null) and
    again at the end with the counts.
    """
    last_run = None if summary is None else {
        "total": summary.total, "skipped": summary.skipped, "written": summary.written,
        "errors": summary.errors, "repaired_bytes": summary.repaired_bytes,
        "seconds": round(summary.seconds, 2)}
    guided = config.infer.execution_guided and summary is not None
    write_json_atomic(manifest_path(output), {
        "job": job,
        "environment": environment(),
        "input": {"path": str(request.input), "sha256": job["input"]["sha256"],
                  "format": request.input_format},
        "output": str(output),
        "shard": {"index": shard[0], "count": shard[1]},
        "model": model,
        "last_run": last_run,
        "execution_guided": predictor.stats.as_dict() if guided else None,
        "config": to_dict(config),
    })
