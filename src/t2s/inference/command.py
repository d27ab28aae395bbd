"""``t2s infer``: SQL for one question, or a batch job over a file of questions.

Examples::

    t2s infer "How many singers are older than 40?" --db path/to/my.sqlite --execute
    t2s infer "How many dogs?" --db kennels=postgresql://reader@db.example/kennels --execute
    t2s infer "How many singers are there?" --db-id concert_singer --data-dir ../shared/data/spider
    t2s infer --input questions.jsonl --output answers.jsonl infer.batch_size=32
    t2s infer --input dev.json --data-dir ../shared/data/spider --output dev_pred.jsonl
    t2s infer --input questions.jsonl --output answers.jsonl --overwrite  # start over

Re-running a batch command resumes its output; an output written by another
job (other input, model or settings) is refused unless ``--overwrite`` is given
(see :mod:`t2s.inference.batch`).

This module stays light to import; the model is loaded inside :func:`run`.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from t2s.cli_args import add_config_arguments, config_path, setup_logging
from t2s.data.sources import open_dataset_if_any
from t2s.errors import InputError, T2SError
from t2s.inference.adapter_prompt import load_inference_config
from t2s.inference.batch import BatchRequest, run_job
from t2s.inference.display import execute_and_format
from t2s.inference.pipeline import Question, build_predictor, check_engines, make_resolver
from t2s.inference.postprocess import pretty_sql
from t2s.inference.questions import InputDefaults, split_database

# ``infer.batch_size=4``: a config override (dotted key then "="), not a question.
_OVERRIDE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+=", re.S)


class IntermixedArgumentParser(argparse.ArgumentParser):
    """A parser whose positionals may sit on both sides of options.

    argparse hands out positionals per contiguous run of them, so for
    ``t2s infer "q" --db x infer.batch_size=4`` the question and an empty
    override list take the first run and ``infer.batch_size=4`` is rejected.
    ``parse_known_intermixed_args`` parses the options first and then all
    positionals together; it calls ``parse_known_args`` itself, hence the
    re-entry guard.
    """

    _intermixed_active = False

    def parse_known_args(self, args=None, namespace=None):
        if self._intermixed_active:
            return super().parse_known_args(args, namespace)
        self._intermixed_active = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixed_active = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``t2s infer``."""
    # The dispatcher builds a plain ArgumentParser for each sub-command; only
    # this one has two positionals, so only it needs intermixed parsing.
    parser.__class__ = IntermixedArgumentParser
    parser.add_argument("question", nargs="?", default=None,
                        help="the question (omit with --input for a batch job)")
    where = parser.add_argument_group("database")
    where.add_argument("--db", metavar="[NAME=]DB",
                       help="a SQLite file or a postgresql:// DSN (NAME= names it in output "
                            "rows); its schema is read from the live database")
    where.add_argument("--db-id", metavar="ID", help="a database of the Spider-format --data-dir")
    where.add_argument("--data-dir", metavar="DIR",
                       help="Spider-format directory for --db-id (default: data.root)")
    single = parser.add_argument_group("one question")
    single.add_argument("--execute", action="store_true",
                        help="run the SQL read-only and print the result table")
    single.add_argument("--pretty", action="store_true", help="re-indent the SQL for display")
    single.add_argument("--show-prompt", action="store_true", help="print the prompt to stderr")
    batch = parser.add_argument_group("batch job")
    batch.add_argument("--input", metavar="FILE", help="questions: .jsonl, .csv or Spider .json")
    batch.add_argument("--output", metavar="FILE.jsonl",
                       help="answers, one JSON line per question; re-running the same job "
                            "resumes, another job (input, model, settings) is refused")
    batch.add_argument("--overwrite", action="store_true",
                       help="start --output over instead of resuming it; the old file is "
                            "replaced once the new run has written its first rows")
    batch.add_argument("--input-format", choices=("auto", "jsonl", "csv", "json"), default="auto")
    batch.add_argument("--shard", type=int, default=None,
                       help="this process's shard (default: from SLURM_ARRAY_TASK_ID in an array job)")
    batch.add_argument("--num-shards", type=int, default=None,
                       help="number of shards (default: SLURM_ARRAY_TASK_COUNT in an array job)")
    batch.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_config_arguments(parser)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "examples:\n"
        '  t2s infer "How many singers are older than 40?" --db my.sqlite --execute\n'
        '  t2s infer "How many dogs?" --db kennels=postgresql://reader@host/kennels --execute\n'
        '  t2s infer "How many singers are there?" --db-id concert_singer --data-dir DIR\n'
        "  t2s infer --input questions.jsonl --output answers.jsonl infer.batch_size=32")


def split_question(args: argparse.Namespace) -> None:
    """Sort positionals into the question and ``key=value`` overrides.

    argparse binds positionals by position, so with overrides before the
    question (``t2s infer --config c k=v "q"``) the question lands among the
    overrides, and with none the first override lands in ``question``.
    """
    positionals = ([args.question] if args.question is not None else []) + list(args.overrides)
    questions = [p for p in positionals if not _OVERRIDE.match(p)]
    args.overrides = [p for p in positionals if _OVERRIDE.match(p)]
    args.question = " ".join(questions) if questions else None


def check_arguments(args: argparse.Namespace) -> None:
    """Reject impossible combinations, all at once.

    Raises:
        InputError: listing every problem.
    """

    problems = []
    if (args.question is None) == (args.input is None):
        problems.append("give either a question or --input FILE (not both)")
    if args.input is not None and args.output is None:
        problems.append("--input needs --output FILE.jsonl")
    if args.output is not None and args.input is None:
        problems.append("--output is only for batch jobs (--input)")
    if args.db and args.db_id:
        problems.append("--db and --db-id are alternatives; give one")
    if args.question is not None and not args.question.strip():
        problems.append("the question is empty")
    elif args.question is not None and not (args.db or args.db_id):
        problems.append("a question needs --db [NAME=]DB or --db-id ID")
    if args.overwrite and args.input is None:
        problems.append("--overwrite is only for batch jobs (--input)")
    if args.input is not None and (args.execute or args.pretty):
        problems.append("--execute/--pretty are for one question; batch output holds the SQL")
    if problems:
        raise InputError("; ".join(problems))


def check_job_args(args: argparse.Namespace) -> list[str]:
    """Problems with the arguments of a submitted infer job (``t2s submit infer --args``).

    The job runs in this directory, so a relative ``--input`` means the same there.
    """
    split_question(args)
    problems = []
    if args.input is not None and not Path(args.input).is_file():
        problems.append(f"--input {args.input} is not a file (relative paths are "
                        f"relative to {Path.cwd()}, where the job runs)")
    try:
        check_arguments(args)
    except InputError as exc:
        problems.append(str(exc))
    return problems


def run(args: argparse.Namespace) -> int:
    """Answer one question or run a batch job; returns the exit status."""

    setup_logging()
    split_question(args)
    check_arguments(args)
    config = load_inference_config(config_path(args.config), args.overrides)
    if args.input is not None:
        return run_batch_job(args, config)
    return answer_one(args, config)


def _dataset(args: argparse.Namespace, config, needed: bool):
    """The Spider-format dataset, opened only if a question names a db_id."""

    return open_dataset_if_any(config.data, args.data_dir) if needed else None


def answer_one(args: argparse.Namespace, config) -> int:
    """Print the SQL for ``args.question`` (and its result with ``--execute``).

    Raises:
        T2SError: if the database or model cannot be used, or generation failed.
    """

    dataset = _dataset(args, config, needed=args.db_id is not None)
    name, db = split_database(args.db)
    question = Question(id="0", question=args.question, db_path=db, db_id=name or args.db_id)
    # Resolve the database before loading the model: a wrong path fails in
    # milliseconds instead of after the model load.
    if db is not None:
        check_engines(config, {question.db or db: db})
    resolver = make_resolver(config, dataset)
    _schema_text, db_path = resolver.resolve(question)
    predictor = build_predictor(config, dataset)
    prediction = predictor.predict([question])[0]
    if args.show_prompt and predictor.last_prompt:
        print(predictor.last_prompt, file=sys.stderr)
    if prediction.error:
        raise T2SError(prediction.error)
    print(pretty_sql(prediction.sql) if args.pretty else prediction.sql)
    if args.execute:
        if db_path is None:
            raise T2SError(f"--execute: database {question.db} has no database file to run on")
        print(execute_and_format(db_path, prediction.sql, config.infer))
    return 0


def run_batch_job(args: argparse.Namespace, config) -> int:
    """Run (or resume) the batch job ``args`` describes; 0 even if some rows failed.

    Raises:
        InputError: if the input is unusable, or ``--output`` holds rows of
            another job and ``--overwrite`` is not given (before the model loads).
    """
    name, db = split_database(args.db)
    request = BatchRequest(
        input=Path(args.input), output=Path(args.output), input_format=args.input_format,
        defaults=InputDefaults(db_path=db, db_id=name or args.db_id), data_dir=args.data_dir,
        shard=args.shard, num_shards=args.num_shards, overwrite=args.overwrite,
        progress=not args.no_progress)
    summary = run_job(request, config)
    print(summary.line())
    for example in summary.error_examples:
        print(f"[t2s]   error: {example}", file=sys.stderr)
    return 0
