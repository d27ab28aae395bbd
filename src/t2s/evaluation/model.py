"""Scoring a model: generate SQL for the eval split with :mod:`t2s.inference`, then score it.

This is ``t2s evaluate --config``'s library function (and a benchmark's):
:func:`score_model` takes the loaded config and a report folder, no parser.
It is the only module of :mod:`t2s.evaluation` besides the command that calls
inference (generation lives there); scoring prediction files needs no torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from t2s.config import Config
from t2s.data.selection import eval_examples
from t2s.data.sources import open_dataset_if_any
from t2s.db.dialect import check_dialect, live_databases
from t2s.errors import ConfigError, DataError, T2SError
from t2s.evaluation.inputs import gold_from_examples
from t2s.evaluation.runner import evaluate_predictions
from t2s.inference import generate_predictions
from t2s.inference.pipeline import describe_model
from t2s.outputs import check_output_dir, check_output_file
from t2s.provenance import write_text_atomic

PREDICTIONS = "predictions.jsonl"
REPORT = "REPORT.json"


@dataclass(frozen=True)
class ModelReport:
    """What :func:`score_model` wrote.

    Attributes:
        report: The report dict (``summary``, ``examples``, ``manifest``).
        report_path: ``REPORT.json`` (``REPORT.md`` is beside it).
        predictions_path: ``predictions.jsonl``.
    """

    report: dict[str, Any]
    report_path: Path
    predictions_path: Path


def score_model(config: Config, report_dir: str | Path, *, where: str = "eval.report_dir",
                progress: bool = True, skip_missing_db: bool = False) -> ModelReport:
    """Generate predictions for the eval split with the model, then score them.

    The eval split is ``data.eval_file`` (``data.eval_select``, then the first
    ``data.max_eval_examples``);
    the model is ``infer.*``; the scoring settings are ``config.eval``.
    Writes, under ``report_dir``: ``predictions.jsonl`` (one ``{"index", "id",
    "sql", "error"}`` record per example, so the file can be re-scored with
    ``t2s evaluate --pred``; with ``eval.samples`` above 1 also ``candidates``, the
    n drawn, ``sql`` being the first), ``REPORT.json`` and ``REPORT.md``.

    Args:
        config: The loaded config (:func:`t2s.inference.adapter_prompt.load_inference_config`
            adds the model's saved prompt settings).
        report_dir: The folder to write to (checked before any generation).
        where: The setting or flag that named ``report_dir``, for messages.
        progress: Show progress bars.
        skip_missing_db: As :func:`~t2s.evaluation.runner.evaluate_predictions`.

    Raises:
        InputError: if ``report_dir`` or a file in it cannot be written.
        ConfigError: on a null ``data.eval_file``, or a model of another
            ``data.dialect`` than its databases' engine (unless ``infer.dialect_override``).
        DataError: if the dataset is missing or malformed.
        T2SError: if the model cannot be loaded or inference returns too few predictions.
    """

    report_dir = Path(report_dir)
    check_output_dir(report_dir, where)
    for name in (PREDICTIONS, REPORT, "REPORT.md"):
        check_output_file(report_dir / name, where)
    if config.data.eval_file is None:
        raise ConfigError("data.eval_file is null: there is no split to evaluate")
    dataset = open_dataset_if_any(config.data)
    if dataset is None:
        raise DataError(f"no Spider-format dataset at data.root={config.data.root}")
    examples = eval_examples(dataset, config.data)
    # data.databases: these db_ids run on a server; the model must write its dialect.
    live = live_databases(config.data, {e.db_id for e in examples})
    check_dialect(config.data.dialect, {e.db_id: live.get(e.db_id, dataset.database_dir)
                                        for e in examples},
                  config.infer.dialect_override, config.infer.adapter_path)
    samples = config.eval.samples
    predictions = generate_predictions(config, examples, dataset, progress=progress,
                                       samples=samples)
    if len(predictions) != len(examples):
        raise T2SError(f"inference returned {len(predictions)} predictions for "
                       f"{len(examples)} examples")
    # A question that failed (prompt too long) has no candidates: n empty ones, all wrong.
    candidates = ([list(p.candidates or [p.sql] * samples) for p in predictions]
                  if samples > 1 else None)
    pred_path = report_dir / PREDICTIONS
    write_jsonl(pred_path, [{"index": i, "id": p.id, "sql": p.sql, "error": p.error,
                             **({"candidates": candidates[i]} if candidates else {})}
                            for i, p in enumerate(predictions)])
    report = evaluate_predictions(
        gold_from_examples(examples), [p.sql for p in predictions],
        db_dir=dataset.database_dir, tables_path=dataset.tables_path, options=config.eval,
        out_path=report_dir / REPORT, gold_path=dataset.split_path(config.data.eval_file),
        pred_path=pred_path, model=describe_model(config), workers=config.eval.workers,
        progress=progress, skip_missing_db=skip_missing_db, candidates=candidates,
        databases=live)
    return ModelReport(report, report_dir / REPORT, pred_path)


def write_jsonl(path: Path, records: list[dict[str, object]]) -> None:
    """Write JSON lines atomically (temporary file, then ``os.replace``).

    Raises:
        OSError: if the folder cannot be written.
    """

    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
