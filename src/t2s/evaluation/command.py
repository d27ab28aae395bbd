"""``t2s evaluate``: score prediction files (or, with ``--config``, a trained model).

Prediction files, as a drop-in for the official Spider evaluator::

    t2s evaluate --gold ../shared/data/spider/dev_gold.sql --pred pred.sql \\
        --db ../shared/data/spider/database --table ../shared/data/spider/tables.json \\
        --out outputs/eval/REPORT.json [--etype all|match|exec] [--skip-missing-db] \\
        [eval.keep_distinct=true eval.workers=2 eval.timeout_s=10 eval.max_rows=100000 ...]

The flags are the official evaluator's own (``--gold --pred --db --table
--etype``) and ``--out``; every other scoring setting is an ``eval.*=``
override, on top of the schema's defaults (no YAML is read: ``--config``
scores a model). The flags that used to repeat ``eval.*`` fields
(``--keep-distinct --workers --timeout --max-rows --max-result-bytes
--exec-metric``) still work for one release, each printing a deprecation line.

``--gold`` may also be a Spider-format JSON question file (``dev.json``), which
puts the questions in the report; ``--pred`` may be JSONL with ids (see
:mod:`t2s.evaluation.inputs`), and with a ``candidates`` list per record
(``predictions.jsonl`` of an ``eval.samples`` run) adds pass@k and maj@k. The report is ``REPORT.json`` plus ``REPORT.md``
beside it; a summary table is printed.

A db_id that tables.json knows but whose ``.sqlite`` file is absent is fine
with ``--etype match``; when execution is scored it is an error listing every
such db_id, unless ``--skip-missing-db`` leaves their examples out of
execution scoring (the report and the printed table say so).

A model: ``t2s evaluate --config configs/tiny.yaml [key.sub=value ...]`` (or
overrides without prediction-file flags) generates predictions for the eval
split with the trained adapter, then scores them with the same code
(:func:`t2s.evaluation.model.score_model`), writing to ``eval.report_dir``.
The prediction-file flags are refused there rather than silently ignored.

Nightly, in either mode: ``--out-dir reports/`` instead of ``--out`` (or
``eval.report_dir``) writes ``reports/<YYYY-MM-DD>/`` (UTC) and prints the flips
against the newest earlier dated report (``jobs/evaluate.py`` is this command).
"""

from __future__ import annotations

import argparse
import json
import sys
import typing
from pathlib import Path

from t2s.cli_args import add_config_arguments, config_path
from t2s.config import DataConfig, EType, EvalConfig, load_config
from t2s.errors import InputError
from t2s.evaluation.compare import compare_with_previous_night
from t2s.evaluation.inputs import read_candidates, read_gold, read_predictions
from t2s.evaluation.model import score_model
from t2s.evaluation.report import dated_report_path, format_summary, markdown_path
from t2s.evaluation.runner import evaluate_predictions
from t2s.inference.adapter_prompt import load_inference_config
from t2s.models.card import record_evaluation
from t2s.outputs import check_output_file

_FILE_ARGS = ("gold", "pred", "db", "table")

# The scoring flags and the eval.* key each one sets. --etype is the official
# evaluator's own flag; the others are deprecated aliases, kept for one release.
_SCORING_FLAGS = {"etype": "eval.etype", "keep_distinct": "eval.keep_distinct",
                  "workers": "eval.workers", "timeout": "eval.timeout_s",
                  "max_rows": "eval.max_rows", "max_result_bytes": "eval.max_result_bytes",
                  "exec_metric": "eval.exec_metric"}
_OFFICIAL = ("etype",)

# Help texts show the schema's defaults: one source per setting.
_DEFAULTS = EvalConfig()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``t2s evaluate`` options (light: imports nothing heavy)."""

    parser.epilog = (
        "Scoring settings are eval.* overrides in both modes (eval.timeout_s, eval.max_rows, "
        "eval.workers, eval.keep_distinct, eval.exec_metric, ...). Score a model instead: "
        "t2s evaluate --config CONFIG [key.sub=value ...] generates SQL for data.eval_file "
        "with the trained adapter (infer.adapter_path) and scores it. It writes "
        "predictions.jsonl, REPORT.json and REPORT.md to eval.report_dir (default: "
        f"{EvalConfig.report_dir}), or to DIR/<YYYY-MM-DD>/ with --out-dir DIR. "
        "--gold/--pred/--db/--table/--out and --etype are refused there.")
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
    # Scoring flags default to None so that one given with --config can be refused.
    files.add_argument("--etype", choices=typing.get_args(EType), default=None,
                       help=f"exact set match, execution accuracy, or both; the same as "
                            f"eval.etype (default: {_DEFAULTS.etype})")
    _add_deprecated_arguments(parser)
    parser.add_argument("--skip-missing-db", action="store_true",
                        help="when a db_id in tables.json has no <db_id>.sqlite, leave its "
                             "examples out of execution scoring (exact match still scores "
                             "them; the report lists them) instead of stopping; not needed "
                             "with --etype match")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_config_arguments(parser)


def _add_deprecated_arguments(parser: argparse.ArgumentParser) -> None:
    old = parser.add_argument_group(
        "deprecated (kept for one release; each prints a deprecation line): use the eval.* "
        "override named")
    old.add_argument("--keep-distinct", action="store_true", default=None,
                     help="eval.keep_distinct=true")
    old.add_argument("--workers", type=int, default=None, metavar="N", help="eval.workers=N")
    old.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                     help="eval.timeout_s=SECONDS")
    old.add_argument("--max-rows", type=int, default=None, metavar="N", help="eval.max_rows=N")
    old.add_argument("--max-result-bytes", type=int, default=None, metavar="BYTES",
                     help="eval.max_result_bytes=BYTES")
    old.add_argument("--exec-metric", choices=("spider", "bird"), default=None,
                     help="eval.exec_metric=spider|bird")


def run(args: argparse.Namespace) -> int:
    """Run ``t2s evaluate``; returns the exit status.

    Raises:
        InputError: on missing options, malformed input files, or flags that do
            not belong to the mode.
        ConfigError: on invalid settings.
        DataError: on a missing/malformed tables.json or dataset.
        T2SError: if the model cannot be loaded.
    """
    file_mode = args.out is not None or any(getattr(args, n) is not None for n in _FILE_ARGS)
    if args.config is not None or not file_mode:
        # Like every command: the model, scored with the config (default configs/tiny.yaml).
        return _score_model(args)

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
    options = file_options(args)
    gold = read_gold(args.gold)
    predictions = read_predictions(args.pred, gold)
    report = evaluate_predictions(
        gold, predictions, db_dir=args.db, tables_path=args.table, options=options,
        out_path=out, gold_path=args.gold, pred_path=args.pred, workers=options.workers,
        progress=not args.no_progress, skip_missing_db=args.skip_missing_db,
        candidates=read_candidates(args.pred, gold))
    print(format_summary(report))
    print(f"wrote {out} and {markdown_path(out)}", file=sys.stderr)
    print_nightly_comparison(args, out, report)
    return 0


def _score_model(args: argparse.Namespace) -> int:
    """``t2s evaluate --config ...``: :func:`~t2s.evaluation.model.score_model`, then print.

    Raises:
        InputError: if a prediction-file flag is given (the message lists them all).
    """
    refuse_file_flags(args)
    config = load_inference_config(config_path(args.config), args.overrides)
    if args.out_dir is None:
        report_dir, where = Path(config.eval.report_dir), "eval.report_dir"
    else:
        report_dir, where = report_path(args).parent, "--out-dir"
    scored = score_model(config, report_dir, where=where, progress=not args.no_progress,
                         skip_missing_db=args.skip_missing_db)
    print(format_summary(scored.report))
    print(f"wrote {scored.predictions_path} and {scored.report_path}", file=sys.stderr)
    card = record_evaluation(config.infer.adapter_path, scored.report,
                             split=_split_name(config.data), report_path=str(scored.report_path))
    if card is not None:
        print(f"updated the model card {card}", file=sys.stderr)
    print_nightly_comparison(args, scored.report_path, scored.report)
    return 0


def _split_name(data: DataConfig) -> str:
    """The evaluated split as the model card names it, e.g. ``dev.json every:5``."""
    parts = [f"`{data.eval_file}`", data.eval_select,
             f"first {data.max_eval_examples}" if data.max_eval_examples else None]
    return " ".join(p for p in parts if p)


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


def file_options(args: argparse.Namespace) -> EvalConfig:
    """The scoring settings for prediction files: defaults < scoring flags < ``eval.*`` overrides.

    Each deprecated flag prints one deprecation line to stderr.

    Raises:
        InputError: if an override is not an ``eval.*`` scoring key, or a flag
            and an override set the same key.
        ConfigError: listing every invalid value, by key.
    """
    keys = [text.partition("=")[0].strip() for text in args.overrides]
    foreign = [k for k in keys if not k.startswith("eval.") or k == "eval.report_dir"]
    if foreign:
        raise InputError(f"{', '.join(foreign)}: prediction files take eval.* scoring "
                         "overrides only (for eval.report_dir use --out or --out-dir; pass "
                         "--config to score a model with the other keys)")
    flags = []
    for name, key in _SCORING_FLAGS.items():
        value = getattr(args, name)
        if value is None:
            continue
        flag = f"--{name.replace('_', '-')}"
        if key in keys:
            raise InputError(f"{flag} and {key}= both given; give only {key}=")
        # As typed on a command line: true, 0.5, bird (JSON numbers are YAML).
        override = f"{key}={value if isinstance(value, str) else json.dumps(value)}"
        if name not in _OFFICIAL:
            print(f"t2s evaluate: {flag} is deprecated and goes in the next release; use "
                  f"{override}", file=sys.stderr)
        flags.append(override)
    # Files name no data source, so eval.exec_metric: auto resolves to spider.
    return load_config(None, [*flags, *args.overrides]).eval


def check_job_args(args: argparse.Namespace) -> list[str]:
    """Problems with the arguments of a submitted evaluate job (``t2s submit evaluate --args``).

    The job always scores the model (``--config``): prediction-file flags would fail there.
    """
    try:
        refuse_file_flags(args)
    except InputError as exc:
        return [str(exc)]
    return []


def refuse_file_flags(args: argparse.Namespace) -> None:
    """With ``--config`` (or overrides alone), refuse the flags that only prediction files use.

    Scoring a model reads its data and settings from the config, so these
    flags would be silently ignored; one message lists every one given.

    Raises:
        InputError: if any was given.
    """

    problems = []
    files = [f"--{name}" for name in _FILE_ARGS if getattr(args, name) is not None]
    if files:
        problems.append(f"{', '.join(files)} name prediction files; --config scores the "
                        "model on data.eval_file of its dataset (drop --config to score "
                        "the files)")
    if args.out is not None:
        problems.append("--out is for prediction files; with --config set eval.report_dir "
                        "(or use --out-dir for dated nightly reports)")
    settings = [f"--{name.replace('_', '-')} (use {key}=...)"
                for name, key in _SCORING_FLAGS.items() if getattr(args, name) is not None]
    if settings:
        problems.append(f"{', '.join(settings)}: with --config the scoring settings are "
                        "the eval.* keys")
    if problems:
        raise InputError("; ".join(problems))
