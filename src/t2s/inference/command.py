"""``t2s infer``: SQL for one question, or a batch job over a file of questions.

Examples::

    t2s infer "How many singers are older than 40?" --db path/to/my.sqlite --execute
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
import json
import re
import sys
from pathlib import Path

from t2s.cli import add_config_arguments

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
    where.add_argument("--db", metavar="SQLITE",
                       help="a SQLite file; its schema is read from the file")
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
    from t2s.errors import InputError

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
        problems.append("a question needs --db SQLITE or --db-id ID")
    if args.overwrite and args.input is None:
        problems.append("--overwrite is only for batch jobs (--input)")
    if args.input is not None and (args.execute or args.pretty):
        problems.append("--execute/--pretty are for one question; batch output holds the SQL")
    if problems:
        raise InputError("; ".join(problems))


def run(args: argparse.Namespace) -> int:
    """Answer one question or run a batch job; returns the exit status."""
    from t2s.config import load_config
    from t2s.logging_setup import setup_logging
    from t2s.cli import config_path

    setup_logging()
    split_question(args)
    check_arguments(args)
    config = load_config(config_path(args.config), args.overrides)
    if args.input is not None:
        return run_batch_job(args, config)
    return answer_one(args, config)


def _dataset(args: argparse.Namespace, config, needed: bool):
    """The Spider-format dataset, opened only if a question names a db_id."""
    from t2s.data.sources import open_dataset_if_any

    return open_dataset_if_any(config.data, args.data_dir) if needed else None


def answer_one(args: argparse.Namespace, config) -> int:
    """Print the SQL for ``args.question`` (and its result with ``--execute``).

    Raises:
        T2SError: if the database or model cannot be used, or generation failed.
    """
    from t2s.errors import T2SError
    from t2s.inference.display import execute_and_format
    from t2s.inference.pipeline import Question, SchemaResolver, build_predictor
    from t2s.inference.postprocess import pretty_sql

    dataset = _dataset(args, config, needed=args.db_id is not None)
    question = Question(id="0", question=args.question, db_path=args.db, db_id=args.db_id)
    # Resolve the database before loading the model: a wrong path fails in
    # milliseconds instead of after the model load.
    _schema_text, db_path = SchemaResolver(config.data.schema, dataset).resolve(question)
    predictor = build_predictor(config, dataset)
    prediction = predictor.predict([question])[0]
    if args.show_prompt and predictor.last_prompt:
        print(predictor.last_prompt, file=sys.stderr)
    if prediction.error:
        raise T2SError(prediction.error)
    print(pretty_sql(prediction.sql) if args.pretty else prediction.sql)
    if args.execute:
        if db_path is None:
            raise T2SError(f"--execute: database {question.db} has no SQLite file to run on")
        print(execute_and_format(db_path, prediction.sql, config.infer))
    return 0


def run_batch_job(args: argparse.Namespace, config) -> int:
    """Run (or resume) a batch job and write its manifest; 0 even if some rows failed.

    Raises:
        InputError: if the input is unusable, or ``--output`` holds rows of
            another job and ``--overwrite`` is not given (before the model loads).
    """
    from t2s.inference.batch import (
        InputDefaults,
        check_resumable,
        detect_format,
        read_questions,
        resolve_shard,
        run_batch,
        select_shard,
        shard_output_path,
    )

    shard, num_shards = resolve_shard(args.shard, args.num_shards)
    questions = read_questions(args.input, args.input_format,
                               InputDefaults(db_path=args.db, db_id=args.db_id))
    questions = select_shard(questions, shard, num_shards)
    output = shard_output_path(args.output, shard, num_shards)
    uses_dataset = any(q.db_id for q in questions)
    from t2s.inference.pipeline import build_predictor, describe_model

    # Once per run: it hashes the whole model folder (seconds for a full model).
    model = describe_model(config)
    job = job_identity(args, config, model, detect_format(Path(args.input), args.input_format),
                       (shard, num_shards), uses_dataset)
    if not args.overwrite:
        check_resumable(output, job)
    dataset = _dataset(args, config, needed=uses_dataset)
    predictor = build_predictor(config, dataset)

    def manifest(summary=None) -> None:
        write_manifest(output, args, config, model, job, summary, predictor, (shard, num_shards))

    summary = run_batch(predictor, questions, output, progress=not args.no_progress,
                        overwrite=args.overwrite, on_start=manifest)
    print(summary.line())
    for example in summary.error_examples:
        print(f"[t2s]   error: {example}", file=sys.stderr)
    if config.infer.execution_guided:
        print(f"[t2s] {predictor.stats.summary()}")
    manifest(summary)
    return 0


def job_identity(args: argparse.Namespace, config, model_description: dict, input_format: str,
                 shard: tuple[int, int], uses_dataset: bool) -> dict:
    """What makes two runs the same batch job: only then may one resume the other's output.

    Input content (not its path), the model and adapter fingerprint with the
    decoding settings (:func:`~t2s.inference.pipeline.describe_model`; the
    adapter's path is left out, its hash identifies it), the schema-text
    switches of the prompt, the ``--db``/``--db-id`` defaults, the dataset when
    a question names a db_id, and the shard. Batch size is left out: it does
    not change the answers, and a resumed job may need a smaller one.

    Args:
        args: The ``t2s infer`` arguments.
        config: The resolved config.
        model_description: :func:`~t2s.inference.pipeline.describe_model` of ``config``.
        input_format: The input's format as read.
        shard: (shard, number of shards).
        uses_dataset: Whether a question names a db_id of the dataset.
    """
    from dataclasses import asdict

    from t2s.provenance import file_sha256

    infer = config.infer
    model = {k: v for k, v in model_description.items() if k != "adapter"}
    model["seed"] = infer.seed if infer.do_sample else None
    if infer.execution_guided:
        model["guided"] = {"strategy": infer.guided_strategy,
                           "execute_timeout_s": infer.execute_timeout_s,
                           "max_rows": infer.max_rows}
    job = {
        "input": {"sha256": file_sha256(args.input), "format": input_format},
        "defaults": {"db": args.db, "db_id": args.db_id},
        "data_dir": (args.data_dir or config.data.root) if uses_dataset else None,
        "schema_text": asdict(config.data.schema),
        "model": model,
        "shard": {"index": shard[0], "count": shard[1]},
    }
    # As the manifest will hold it (tuples become lists), so comparisons are like for like.
    return json.loads(json.dumps(job))


def write_manifest(output, args: argparse.Namespace, config, model: dict, job: dict, summary,
                   predictor, shard: tuple[int, int]) -> None:
    """Record the job, model, input fingerprint, counts and environment beside ``output``.

    Written before the first row (``summary`` None: ``last_run`` is null) and
    again at the end with the counts.
    """
    from t2s.config import to_dict
    from t2s.inference.batch import manifest_path
    from t2s.provenance import environment, write_json_atomic

    last_run = None if summary is None else {
        "total": summary.total, "skipped": summary.skipped, "written": summary.written,
        "errors": summary.errors, "repaired_bytes": summary.repaired_bytes,
        "seconds": round(summary.seconds, 2)}
    guided = config.infer.execution_guided and summary is not None
    write_json_atomic(manifest_path(output), {
        "job": job,
        "environment": environment(),
        "input": {"path": str(args.input), "sha256": job["input"]["sha256"],
                  "format": args.input_format},
        "output": str(output),
        "shard": {"index": shard[0], "count": shard[1]},
        "model": model,
        "last_run": last_run,
        "execution_guided": predictor.stats.as_dict() if guided else None,
        "config": to_dict(config),
    })
