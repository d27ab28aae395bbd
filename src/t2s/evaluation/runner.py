"""Scoring a set of examples, in parallel over worker processes.

:func:`evaluate_predictions` is the one entry point: ``t2s evaluate`` calls it
for prediction files, and the "score a model" mode calls it after generating
predictions with the inference code.

Parallelism: examples are grouped by database and cut into small chunks; each
worker process keeps its own read-only connections and gold-result cache, so a
chunk of one database reuses both. Every verdict depends only on its example
(no shared state, no randomness), and results are put back in input order, so
the report is the same for any number of workers. The only exception is a
query whose run time is within noise of ``--timeout``: on a loaded machine it
may time out in one run and not in another.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from t2s.config import EvalConfig, eval_problems
from t2s.data.spider import DatabaseSchema, load_tables
from t2s.db.postgres import redact_dsn
from t2s.errors import ConfigError, InputError
from t2s.evaluation import metrics
from t2s.evaluation.categories import categories, category
from t2s.evaluation.exact_match import GoldQueryError
from t2s.evaluation.execution import ExecutionEvaluator
from t2s.evaluation.hardness import hardness
from t2s.evaluation.inputs import GoldExample, check_databases, check_schemas
from t2s.evaluation.metrics import ExampleInput, uses_database
from t2s.evaluation.report import build_manifest, build_report, write_report
from t2s.evaluation.sampling import (
    CandidateVerdicts,
    check_candidates,
    resolve_ks,
    score_candidates,
)
from t2s.evaluation.test_suite import TestSuiteEvaluator, build_suites

# Examples per task sent to a worker. Small enough that 2 workers stay evenly
# loaded to the end (Spider dev: 972 examples -> ~70 chunks), large enough
# that the ~0.1 ms of pickling per task is noise next to ~1-5 ms of scoring.
CHUNK_SIZE = 16


def default_workers() -> int:
    """``min(2, CPUs)``: the CI and dev machines have 2 cores; more is opt-in."""
    return max(1, min(2, os.cpu_count() or 1))


@dataclass
class ExampleResult:
    """The verdicts for one example, as written to ``REPORT.json``.

    ``scores`` maps each scored metric's name (:data:`~t2s.evaluation.metrics.METRICS`)
    to its verdict: ``exact_match``/``string_match`` are absent when ``etype``
    is ``exec``, and ``execution`` when it is ``match`` or when
    ``execution_skipped``; the JSON form has every metric's key, ``null`` when
    not scored. ``error`` is about the prediction: the execution error (see
    :class:`~t2s.evaluation.execution.EvalError`) when execution was scored;
    otherwise the exact-match one (``empty_prediction``, ``parse_error``,
    ``unknown_table``, ``unknown_column``: the Spider parser could not read the
    prediction; ``gold_error``: it could not read the gold query).

    ``gold_parse_error`` is the Spider parser's message for a gold query it
    cannot parse (``None`` when it parses), in every mode: such an example has
    hardness ``unknown`` and ``exact_match`` false. ``execution_skipped`` is
    true when the example's database has no SQLite file and
    ``--skip-missing-db`` left it out of execution scoring. ``samples`` holds
    the verdict of each candidate when the example has several (``eval.samples``;
    see :mod:`t2s.evaluation.sampling`), when execution is scored.
    """

    index: int
    db_id: str
    question: str | None
    gold: str
    pred: str
    hardness: str
    category: str
    categories: list[str] = field(default_factory=list)
    difficulty: str | None = None
    scores: dict[str, bool | float | None] = field(default_factory=dict)
    error: str | None = None
    message: str = ""
    gold_parse_error: str | None = None
    execution_skipped: bool = False
    samples: CandidateVerdicts | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: the fields in order, ``scores`` spelled out as one key per metric,
        ``samples`` only when the example has candidates."""
        record: dict[str, Any] = {}
        for name, value in asdict(self).items():
            if name == "scores":
                record.update({m.example_key: self.scores.get(m.name) for m in metrics.METRICS})
            elif name == "samples":
                if self.samples is not None:
                    record[name] = self.samples.to_dict()
            else:
                record[name] = value
        return record


@dataclass(frozen=True)
class _Task:
    example: GoldExample
    pred: str
    candidates: tuple[str, ...] = ()


class _Scorer:
    """Per-process state: schemas, options, skipped databases and the execution evaluator."""

    def __init__(self, db_dir: str, schemas: Mapping[str, DatabaseSchema],
                 options: EvalConfig, skip_execution: frozenset[str] = frozenset(),
                 databases: Mapping[str, str] | None = None,
                 suites: Mapping[str, Sequence[str]] | None = None) -> None:
        self.schemas = schemas
        self.options = options
        self.skip_execution = skip_execution
        self.executor = ExecutionEvaluator(db_dir, **options.limits.kwargs(),
                                           keep_distinct=options.keep_distinct,
                                           metric=options.exec_metric, databases=databases,
                                           ves_runs=options.ves_runs)
        self.test_suite = None if suites is None else TestSuiteEvaluator(suites, options)

    def close(self) -> None:
        """Close every connection."""
        self.executor.close()
        if self.test_suite is not None:
            self.test_suite.close()

    def score(self, task: _Task) -> ExampleResult:
        """Score one example.

        A gold query that Spider's grammar cannot parse gets hardness
        ``unknown``, its parser message in ``gold_parse_error`` and, in match
        mode, the error ``gold_error``; execution is still scored, since it
        does not need the parse. Examples on a db_id in ``skip_execution`` are
        not executed (``execution_skipped``).

        Raises:
            DataError: if its database disappeared since the inputs were checked.
        """

        example, pred = task.example, task.pred
        schema = self.schemas[example.db_id]
        gold_problem = None
        try:
            level = hardness(example.gold, schema)
        except GoldQueryError as exc:
            level, gold_problem = "unknown", exc.reason
        result = ExampleResult(
            index=example.index, db_id=example.db_id, question=example.question,
            gold=example.gold, pred=pred, hardness=level,
            category=category(example.gold), categories=sorted(categories(example.gold)),
            difficulty=example.difficulty, gold_parse_error=gold_problem)
        for metric in metrics.METRICS:
            if not metric.scored(self.options):
                continue
            if metric.needs_database and example.db_id in self.skip_execution:
                result.execution_skipped = True
                continue
            verdict = metric.score(ExampleInput(example, pred, schema, self.executor,
                                                      self.test_suite))
            result.scores[metric.name] = verdict.value
            if metric.reports_error:
                result.error, result.message = verdict.error, verdict.message
        if task.candidates and self.options.execution and not result.execution_skipped:
            result.samples = score_candidates(self.executor, example.db_id, example.gold,
                                              task.candidates)
        return result


_SCORER: _Scorer | None = None


def _init_worker(db_dir: str, schemas: Mapping[str, DatabaseSchema],
                 options: EvalConfig, skip_execution: frozenset[str],
                 databases: Mapping[str, str],
                 suites: Mapping[str, Sequence[str]] | None) -> None:
    global _SCORER
    _SCORER = _Scorer(db_dir, schemas, options, skip_execution, databases, suites)


def _score_chunk(tasks: Sequence[_Task]) -> list[ExampleResult]:
    if _SCORER is None:  # pragma: no cover - set by the pool initializer
        raise RuntimeError("worker not initialised")
    return [_SCORER.score(task) for task in tasks]


def _chunks(tasks: Sequence[_Task], size: int = CHUNK_SIZE) -> list[list[_Task]]:
    """Group tasks by database (first appearance order), then cut into chunks."""
    by_db: dict[str, list[_Task]] = {}
    for task in tasks:
        by_db.setdefault(task.example.db_id, []).append(task)
    return [group[start:start + size] for group in by_db.values()
            for start in range(0, len(group), size)]


def score_examples(examples: Sequence[GoldExample], predictions: Sequence[str], *,
                   db_dir: str | Path, schemas: Mapping[str, DatabaseSchema],
                   options: EvalConfig, workers: int | None = None,
                   progress: bool = True,
                   skip_execution: Collection[str] = (),
                   candidates: Sequence[Sequence[str]] | None = None,
                   databases: Mapping[str, str] | None = None) -> list[ExampleResult]:
    """Score every example; results come back in input order.

    Args:
        examples: Gold examples (already checked: databases and schemas exist).
        predictions: One prediction per example, same order.
        db_dir: Folder of ``<db_id>/<db_id>.sqlite`` files.
        schemas: tables.json schemas by db_id.
        options: What to score and how.
        workers: Worker processes; 1 scores in this process. Default
            :func:`default_workers`.
        progress: Show a tqdm progress bar on stderr.
        skip_execution: db_ids whose examples are not executed (their
            databases are missing and ``--skip-missing-db`` was given).
        candidates: Several candidates per example, same order, scored for
            pass@k and maj@k (:mod:`t2s.evaluation.sampling`); ``None``: one each.
        databases: The ``postgresql://`` DSN of each db_id on a server.

    Raises:
        ValueError: if ``examples`` and ``predictions`` (or ``candidates``) differ in length.
        DataError: if a database disappears mid-run.
    """
    from tqdm import tqdm

    if len(examples) != len(predictions):
        raise ValueError(f"{len(examples)} examples but {len(predictions)} predictions")
    workers = default_workers() if workers is None else max(1, workers)
    drawn = [()] * len(examples) if candidates is None else [tuple(c) for c in candidates]
    if len(drawn) != len(examples):
        raise ValueError(f"{len(examples)} examples but {len(drawn)} candidate lists")
    tasks = [_Task(example, pred, cands)
             for example, pred, cands in zip(examples, predictions, drawn, strict=True)]
    used = {example.db_id: schemas[example.db_id] for example in examples}
    skip = frozenset(skip_execution)
    suites = (build_suites(examples, db_dir, options, skip | frozenset(databases or {}))
              if metrics.by_name("test_suite").scored(options) else None)
    results: list[ExampleResult] = []
    with tqdm(total=len(tasks), desc="evaluate", unit="ex", disable=not progress,
              dynamic_ncols=True) as bar:
        if workers == 1:
            scorer = _Scorer(str(db_dir), used, options, skip, databases, suites)
            try:
                for task in tasks:
                    results.append(scorer.score(task))
                    bar.update(1)
            finally:
                scorer.close()
        else:
            for chunk_results in _run_pool(_chunks(tasks), str(db_dir), used, options, skip,
                                           workers, dict(databases or {}), suites):
                results.extend(chunk_results)
                bar.update(len(chunk_results))
    results.sort(key=lambda result: result.index)
    return results


def _run_pool(chunks: list[list[_Task]], db_dir: str, schemas: Mapping[str, DatabaseSchema],
              options: EvalConfig, skip_execution: frozenset[str],
              workers: int, databases: Mapping[str, str],
              suites: Mapping[str, Sequence[str]] | None = None
              ) -> Iterator[list[ExampleResult]]:
    # 'spawn', not 'fork': the "score a model" mode calls this from a process
    # that has torch (and its thread pools) loaded, which fork can deadlock.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, max(1, len(chunks))), mp_context=context,
                             initializer=_init_worker,
                             initargs=(db_dir, schemas, options, skip_execution,
                                       databases, suites)) as pool:
        pending: set[Future[list[ExampleResult]]] = {
            pool.submit(_score_chunk, chunk) for chunk in chunks}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        finally:
            for future in pending:
                future.cancel()


def evaluate_predictions(examples: Sequence[GoldExample], predictions: Sequence[str], *,
                         db_dir: str | Path, tables_path: str | Path,
                         options: EvalConfig | None = None,
                         out_path: str | Path | None = None,
                         gold_path: str | Path | None = None,
                         pred_path: str | Path | None = None,
                         model: Mapping[str, Any] | None = None,
                         workers: int | None = None, progress: bool = True,
                         skip_missing_db: bool = False,
                         candidates: Sequence[Sequence[str]] | None = None,
                         databases: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Check inputs, score every example and build (and optionally write) the report.

    This is what ``t2s evaluate`` runs for prediction files, and what the
    "score a model" mode calls once inference has produced ``predictions``.

    Args:
        examples: Gold examples (from :func:`~t2s.evaluation.inputs.read_gold`).
        predictions: One SQL string per example, same order ("" = no prediction).
        db_dir: Folder of ``<db_id>/<db_id>.sqlite`` files.
        tables_path: The tables.json with every example's schema.
        options: What to score and how (defaults: official settings).
        out_path: Write ``REPORT.json`` here (and ``REPORT.md`` beside it).
        gold_path: The gold file, fingerprinted in the manifest.
        pred_path: The prediction file, fingerprinted in the manifest.
        model: Model/adapter description for the manifest (e.g. ``{"base": ...,
            "adapter": ..., "adapter_sha256": ..., "decoding": {...}}``).
        workers: Worker processes (default :func:`default_workers`).
        progress: Show a progress bar.
        skip_missing_db: Leave the examples of a db_id that is in tables.json
            but has no SQLite file out of execution scoring (they are still
            scored by exact match; the report lists them) instead of refusing.
        candidates: Several candidates per example (the same number for each),
            for pass@k and maj@k; ``predictions`` are then usually their first.
        databases: The ``postgresql://`` DSN of each db_id on a server
            (``data.databases``): executed there, gold transpiled; the manifest
            lists them without passwords.

    Returns:
        The report dict (``summary``, ``examples``, ``manifest``).

    Raises:
        InputError: if counts differ (of candidates too, or an ``eval.pass_k``
            exceeds them), a db_id has no schema, a db_id has no
            database while execution is scored (unless ``skip_missing_db``;
            the message lists them all), or the report cannot be written.
        DataError: if tables.json is missing or malformed, or a database
            to execute on is not a SQLite file.
        ConfigError: if ``options`` are invalid.
    """

    options = options or EvalConfig()
    problems = eval_problems(options)
    if problems:
        raise ConfigError("; ".join(f"{key}: {message}" for key, message in problems))
    if len(examples) != len(predictions):
        raise InputError(f"{pred_path or 'predictions'}: {len(predictions)} predictions for "
                         f"{len(examples)} gold examples")
    where = gold_path or "gold"
    if candidates is not None:
        resolve_ks(options.pass_k, check_candidates(candidates, len(examples),
                                                    str(pred_path or "candidates")))
    schemas = load_tables(tables_path)
    check_schemas(examples, schemas, where, tables_path)
    live = dict(databases or {})
    files = check_databases([e for e in examples if e.db_id not in live], db_dir, where,
                            execution=uses_database(options), skip_missing=skip_missing_db)
    start = time.perf_counter()
    results = score_examples(examples, predictions, db_dir=db_dir, schemas=schemas,
                             options=options, workers=workers, progress=progress,
                             skip_execution=files.missing, candidates=candidates,
                             databases=live)
    wall_s = time.perf_counter() - start
    manifest = build_manifest(
        options=options, gold_path=gold_path, pred_path=pred_path, tables_path=tables_path,
        db_paths=files.paths, missing_databases=list(files.missing), model=model,
        runtime={"workers": workers or default_workers(), "wall_s": round(wall_s, 3)})
    if live:
        manifest["data"]["postgres_databases"] = {
            db_id: redact_dsn(dsn) for db_id, dsn in sorted(live.items())
            if db_id in {e.db_id for e in examples}}
    report = build_report(results, options, manifest)
    if out_path is not None:
        try:
            write_report(report, out_path)
        except OSError as exc:
            raise InputError(f"cannot write the report to {out_path}: {exc}") from None
    return report
