"""``t2s evaluate``: score prediction files (or, with ``--config``, a trained model).

Prediction files, as a drop-in for the official Spider evaluator::

    t2s evaluate --gold ../shared/data/spider/dev_gold.sql --pred pred.sql \\
        --db ../shared/data/spider/database --table ../shared/data/spider/tables.json \\
        --out outputs/eval/REPORT.json [--etype all|match|exec] [--keep-distinct] \\
        [--workers 2] [--timeout 10] [--max-rows 100000] [--skip-missing-db]

``--gold`` may also be a Spider-format JSON question file (``dev.json``), which
puts the questions in the report; ``--pred`` may be JSONL with ids (see
:mod:`t2s.evaluation.inputs`). The report is ``REPORT.json`` plus ``REPORT.md``
beside it; a summary table is printed.

A db_id that tables.json knows but whose ``.sqlite`` file is absent is fine
with ``--etype match``; when execution is scored it is an error listing every
such db_id, unless ``--skip-missing-db`` leaves their examples out of
execution scoring (the report and the printed table say so).

A model: ``t2s evaluate --config configs/tiny.yaml [key.sub=value ...]``
generates predictions for the eval split with the trained adapter, then scores
them with the same code (:func:`t2s.evaluation.runner.evaluate_predictions`),
writing to ``eval.report_dir``. The scoring settings are then the ``eval.*``
keys: the prediction-file flags (``--gold`` ... ``--max-rows``) are refused
rather than silently ignored.

Nightly, in either mode: ``--out-dir reports/`` instead of ``--out`` (or
``eval.report_dir``) writes ``reports/<YYYY-MM-DD>/`` (UTC) and prints the flips
against the newest earlier dated report (``jobs/evaluate.py`` is this command).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from pathlib import Path

from t2s.cli_args import add_config_arguments, config_path
from t2s.config import Config, DataConfig, EType, EvalConfig, eval_problems
from t2s.data.selection import eval_examples
from t2s.data.sources import open_dataset_if_any
from t2s.errors import ConfigError, DataError, InputError, T2SError
from t2s.evaluation.compare import compare_with_previous_night
from t2s.evaluation.inputs import gold_from_examples, read_gold, read_predictions
from t2s.evaluation.report import dated_report_path, format_summary, markdown_path
from t2s.evaluation.runner import evaluate_predictions
from t2s.inference import generate_predictions
from t2s.inference.adapter_prompt import load_inference_config
from t2s.inference.pipeline import describe_model
from t2s.models.card import record_evaluation
from t2s.outputs import check_output_dir, check_output_file
from t2s.provenance import write_text_atomic

_FILE_ARGS = ("gold", "pred", "db", "table")

# Flags that only mean something for prediction files, and the config key that
# takes their place with --config (None: no counterpart).
_FILE_ONLY_FLAGS: dict[str, str | None] = {
    "gold": None, "pred": None, "db": None, "table": None,
    "etype": "eval.etype", "keep_distinct": "eval.keep_distinct", "workers": "eval.workers",
    "timeout": "eval.timeout_s", "max_rows": "eval.max_rows",
    "max_result_bytes": "eval.max_result_bytes", "exec_metric": "eval.exec_metric",
}

# Prediction-file flags start from the schema's defaults: one source per setting.
_DEFAULTS = EvalConfig()
# The flag each scoring field is given by, for error messages.
_FLAG_OF = {"etype": "--etype", "timeout_s": "--timeout", "max_rows": "--max-rows",
            "workers": "--workers", "keep_distinct": "--keep-distinct",
            "max_result_bytes": "--max-result-bytes", "exec_metric": "--exec-metric"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``t2s evaluate`` options (light: imports nothing heavy)."""

    parser.epilog = (
        "Score a model instead: t2s evaluate --config CONFIG [key.sub=value ...] generates "
        "SQL for data.eval_file with the trained adapter (infer.adapter_path) and scores it "
        "with the eval.* keys (eval.etype, eval.timeout_s, eval.max_rows, eval.workers, "
        "eval.keep_distinct). It writes predictions.jsonl, REPORT.json and REPORT.md to "
        f"eval.report_dir (default: {EvalConfig.report_dir}), or to DIR/<YYYY-MM-DD>/ with "
        "--out-dir DIR. --gold/--pred/--db/--table/--out and the scoring flags are refused "
        "there.")
    files = parser.add_argument_group("prediction files (all five needed without --config)")
    files.add_argument("--gold", help="gold file: 'SQL<TAB>db_id' lines (dev_gold.sql) "
                       "or a Spider-format JSON question file (dev.json)")
    files.add_argument("--pred", help="predictions: one SQL per line in gold order, or JSONL "
                       "records {\"index\": i, \"sql\": ...} / {\"id\": ..., \"sql\": ...}")
    files.add_argument("--db", help="folder of <db_id>/<db_id>.sqlite databases")
    files.add_argument("--table", help="tables.json with the schema of every db_id")
    where = files.add_mutually_exclusive_group()
    where.add_argument("--out", help="REPORT.json to write (REPORT.md goes beside it)")
    where.add_argument("--out-dir", metavar="DIR",
                       help="nightly: write DIR/<YYYY-MM-DD>/REPORT.json (UTC date; with "
                            "--config also predictions.jsonl there) and compare it with the "
                            "newest earlier dated report in DIR")
    # Scoring flags default to None so that one given with --config can be
    # refused; run() fills in the defaults shown in the help.
    scoring = parser.add_argument_group("scoring prediction files (with --config: the eval.* keys)")
    scoring.add_argument("--etype", choices=typing.get_args(EType), default=None,
                         help=f"exact set match, execution accuracy, or both "
                              f"(default: {_DEFAULTS.etype})")
    scoring.add_argument("--keep-distinct", action="store_true", default=None,
                         help="keep DISTINCT when executing (official default: remove it)")
    scoring.add_argument("--workers", type=int, default=None,
                         help=f"worker processes (default: {_DEFAULTS.workers})")
    scoring.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                         help=f"time limit per query; interrupted queries score as 'timeout' "
                              f"(default: {_DEFAULTS.timeout_s:g}, >1000x the slowest Spider dev "
                              "gold query)")
    scoring.add_argument("--max-rows", type=int, default=None,
                         help=f"rows fetched per query at most (default: {_DEFAULTS.max_rows})")
    scoring.add_argument("--max-result-bytes", type=int, default=None, metavar="BYTES",
                         help="bytes of result fetched per query at most; a larger result is "
                              "stopped and scored 'result_too_large' "
                              f"(default: {_DEFAULTS.max_result_bytes})")
    scoring.add_argument("--exec-metric", choices=("spider", "bird"), default=None,
                         help="execution accuracy semantics: spider (multisets of rows, order "
                              "when the gold orders, columns may be permuted) or bird (sets of "
                              "rows, BIRD's official metric) (default: spider)")
    parser.add_argument("--skip-missing-db", action="store_true",
                        help="when a db_id in tables.json has no <db_id>.sqlite, leave its "
                             "examples out of execution scoring (exact match still scores "
                             "them; the report lists them) instead of stopping; not needed "
                             "with --etype match")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_config_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Run ``t2s evaluate``; returns the exit status.

    Raises:
        InputError: on missing options or malformed input files.
        ConfigError: on invalid option values.
        DataError: on a missing/malformed tables.json.
    """
    file_mode = args.out is not None or any(getattr(args, n) is not None for n in _FILE_ARGS)
    if args.config is not None or args.overrides or not file_mode:
        # Like every command: the model, scored with the config (default configs/tiny.yaml).
        return score_model(args)

    missing = [f"--{name}" for name in _FILE_ARGS if getattr(args, name) is None]
    if args.out is None and args.out_dir is None:
        missing.append("--out (or --out-dir)")
    if missing:
        raise InputError(f"missing {', '.join(missing)} (or pass --config to score a model)")
    out = report_path(args)
    if out.is_dir():
        raise InputError(f"--out {args.out} is a folder; give the REPORT.json file path")
    check_output_file(out, "--out-dir" if args.out_dir else "--out")
    check_output_file(markdown_path(out), "--out-dir" if args.out_dir else "--out")
    options = scoring_options(args)
    gold = read_gold(args.gold)
    predictions = read_predictions(args.pred, gold)
    report = evaluate_predictions(
        gold, predictions, db_dir=args.db, tables_path=args.table, options=options,
        out_path=out, gold_path=args.gold, pred_path=args.pred, workers=options.workers,
        progress=not args.no_progress, skip_missing_db=args.skip_missing_db)
    print(format_summary(report))
    print(f"wrote {out} and {markdown_path(out)}", file=sys.stderr)
    print_nightly_comparison(args, out, report)
    return 0


def report_path(args: argparse.Namespace) -> Path:
    """Where REPORT.json goes: ``--out``, or today's folder under ``--out-dir``."""

    return dated_report_path(args.out_dir) if args.out_dir is not None else Path(args.out)


def print_nightly_comparison(args: argparse.Namespace, out: Path, report: dict) -> None:
    """With ``--out-dir``: print the flips against the previous dated report, if any.

    Raises:
        InputError: if the previous report cannot be read.
    """

    if args.out_dir is None:
        return
    text = compare_with_previous_night(args.out_dir, out, report)
    print(f"\n{text}" if text else f"\nno earlier dated report in {args.out_dir} to compare with")


def score_model(args: argparse.Namespace) -> int:
    """``t2s evaluate --config ...``: generate predictions with the model, then score them.

    Generation lives in :mod:`t2s.inference` (the only place that generates).
    The eval split is ``data.eval_file`` (``data.eval_select``, then the first
    ``data.max_eval_examples``);
    the scoring settings are the ``eval.*`` keys (the ``--etype``/``--timeout``/
    ``--workers``/... flags are for prediction files and are refused here).
    Writes, under ``eval.report_dir`` (or today's folder under ``--out-dir``):
    ``predictions.jsonl`` (one ``{"index", "id", "sql", "error"}`` record per
    example, so the file can be re-scored with ``--pred``), ``REPORT.json``
    and ``REPORT.md``.

    Raises:
        T2SError: if the model cannot be loaded.
        InputError: if ``--out`` or any prediction-file flag is given (the
            message lists them all).
        ConfigError: on an invalid config or a null ``data.eval_file``.
        DataError: if the dataset is missing or malformed.
    """

    refuse_file_flags(args)
    config = load_inference_config(config_path(args.config), args.overrides)
    report_dir = Path(config.eval.report_dir) if args.out_dir is None \
        else report_path(args).parent
    where = "--out-dir" if args.out_dir else "eval.report_dir"
    check_output_dir(report_dir, where)
    for name in ("predictions.jsonl", "REPORT.json", "REPORT.md"):
        check_output_file(report_dir / name, where)
    if config.data.eval_file is None:
        raise ConfigError("data.eval_file is null: there is no split to evaluate")
    dataset = open_dataset_if_any(config.data)
    if dataset is None:
        raise DataError(f"no Spider-format dataset at data.root={config.data.root}")
    examples = eval_examples(dataset, config.data)
    predictions = generate_predictions(config, examples, dataset, progress=not args.no_progress)
    if len(predictions) != len(examples):
        raise T2SError(f"inference returned {len(predictions)} predictions for "
                       f"{len(examples)} examples")
    pred_path = report_dir / "predictions.jsonl"
    write_jsonl(pred_path, [{"index": i, "id": p.id, "sql": p.sql, "error": p.error}
                            for i, p in enumerate(predictions)])
    options = dataclasses.replace(config.eval, exec_metric=exec_metric(config))
    report = evaluate_predictions(
        gold_from_examples(examples), [p.sql for p in predictions],
        db_dir=dataset.database_dir, tables_path=dataset.tables_path, options=options,
        out_path=report_dir / "REPORT.json", gold_path=dataset.split_path(config.data.eval_file),
        pred_path=pred_path, model=describe_model(config), workers=config.eval.workers,
        progress=not args.no_progress, skip_missing_db=args.skip_missing_db)
    print(format_summary(report))
    print(f"wrote {pred_path} and {report_dir / 'REPORT.json'}", file=sys.stderr)
    card = record_evaluation(config.infer.adapter_path, report, split=_split_name(config.data),
                             report_path=str(report_dir / "REPORT.json"))
    if card is not None:
        print(f"updated the model card {card}", file=sys.stderr)
    print_nightly_comparison(args, report_dir / "REPORT.json", report)
    return 0


def _split_name(data: DataConfig) -> str:
    """The evaluated split as the model card names it, e.g. ``dev.json every:5``."""
    parts = [f"`{data.eval_file}`", data.eval_select,
             f"first {data.max_eval_examples}" if data.max_eval_examples else None]
    return " ".join(p for p in parts if p)


def scoring_options(args: argparse.Namespace) -> EvalConfig:
    """The prediction-file flags as an :class:`EvalConfig` (defaults for flags not given).

    Raises:
        ConfigError: listing every invalid value, by flag.
    """
    given = {"etype": args.etype, "keep_distinct": args.keep_distinct, "workers": args.workers,
             "timeout_s": args.timeout, "max_rows": args.max_rows,
             "max_result_bytes": args.max_result_bytes,
             # Files name no source, so "auto" means Spider's metric here.
             "exec_metric": args.exec_metric or "spider"}
    options = dataclasses.replace(_DEFAULTS, **{k: v for k, v in given.items() if v is not None})
    problems = eval_problems(options)
    if problems:
        raise ConfigError("; ".join(f"{_FLAG_OF[key]} {message}" for key, message in problems))
    return options


def check_job_args(args: argparse.Namespace) -> list[str]:
    """Problems with the arguments of a submitted evaluate job (``t2s submit evaluate --args``).

    The job always scores the model (``--config``): prediction-file flags would fail there.
    """
    try:
        refuse_file_flags(args)
    except InputError as exc:
        return [str(exc)]
    return []


def exec_metric(config: Config) -> str:
    """``eval.exec_metric``, with ``auto`` resolved by source: ``bird`` for BIRD data
    (one BIRD source, or a mixture whose evaluation sources are all BIRD), else ``spider``."""
    if config.eval.exec_metric != "auto":
        return config.eval.exec_metric
    data = config.data
    kinds = {s.source for s in data.sources if s.eval_file} if data.sources else {data.source}
    return "bird" if kinds == {"bird"} else "spider"


def refuse_file_flags(args: argparse.Namespace) -> None:
    """With ``--config`` (or overrides), refuse the flags that only prediction files use.

    Scoring a model reads its data and settings from the config, so these
    flags would be silently ignored; one message lists every one given.

    Raises:
        InputError: if any was given.
    """

    problems = []
    files = [f"--{name}" for name in _FILE_ARGS if getattr(args, name) is not None]
    if files:
        problems.append(f"{', '.join(files)} name prediction files; --config scores the "
                        "model on data.eval_file of its dataset (drop --config and the "
                        "key=value overrides to score the files)")
    if args.out is not None:
        problems.append("--out is for prediction files; with --config set eval.report_dir "
                        "(or use --out-dir for dated nightly reports)")
    settings = [f"--{name.replace('_', '-')} (use {key}=...)"
                for name, key in _FILE_ONLY_FLAGS.items()
                if key is not None and getattr(args, name) is not None]
    if settings:
        problems.append(f"{', '.join(settings)}: with --config the scoring settings are "
                        "the eval.* keys")
    if problems:
        raise InputError("; ".join(problems))


def write_jsonl(path: Path, records: list[dict[str, object]]) -> None:
    """Write JSON lines atomically (temporary file, then ``os.replace``).

    Raises:
        OSError: if the folder cannot be written.
    """

    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
