"""``t2s submit``: run a train/evaluate/infer job on Slurm, locally, or in-process."""

from __future__ import annotations

import argparse
import importlib
import shlex

from t2s.cli_args import COMMANDS, add_config_arguments, config_path
from t2s.config import load_config
from t2s.errors import InputError
from t2s.launch.submit import check_submission, describe, submit, wait

EXAMPLES = """\
examples:
  t2s submit train --config configs/config.yaml slurm.partition=gpu slurm.gpus_per_node=8
  t2s submit train --config configs/config.yaml --then-evaluate
  t2s submit infer --config configs/config.yaml --shards 8 \\
      --args "--input questions.jsonl --output outputs/answers.jsonl"
  t2s submit evaluate --config configs/config.yaml --begin 02:00
  t2s submit train --config configs/tiny.yaml --cluster local
  t2s submit train --config configs/config.yaml --dry-run   # print the sbatch script
  T2S_API_KEY=... t2s submit serve --config configs/config.yaml --args "--host 0.0.0.0 --port 8000"
  T2S_API_KEY=... t2s submit serve --engine vllm --config configs/smollm2-135m_lora.yaml \
      slurm.gpus_per_node=1 --args "--host 0.0.0.0 --port 8000"
"""
STAGE_HELP = {
    "train": "fine-tune (jobs/train.py; accelerate launch when slurm.accelerate_config is set)",
    "evaluate": "generate predictions with the trained model and score them (t2s evaluate)",
    "infer": "batch inference (t2s infer), optionally as an array of shards",
    "serve": "serve the trained model over HTTP (t2s serve); the job log's first "
             "{\"listening\": ...} line says where (e.g. --args \"--host 0.0.0.0 --port 8000\")",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``t2s submit STAGE``: one sub-parser per stage.

    Sub-parsers rather than a ``stage`` positional: argparse would otherwise
    bind the (empty) overrides list together with the stage and reject
    ``key=value`` arguments given after ``--config``.
    """
    parser.epilog = EXAMPLES
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    stages = parser.add_subparsers(dest="stage", metavar="STAGE", required=True)
    for stage, help_text in STAGE_HELP.items():
        sub = stages.add_parser(stage, help=help_text, description=help_text, epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
        _add_stage_arguments(sub, stage)


def _add_stage_arguments(parser: argparse.ArgumentParser, stage: str) -> None:
    add_config_arguments(parser)
    parser.add_argument("--cluster", choices=("slurm", "local", "debug"), default=None,
                        help="where to run (default: slurm.cluster); local runs a subprocess "
                             "and debug runs in this process (pdb on failure); both wait")
    parser.add_argument("--args", default="", metavar="'ARGS'",
                        help="extra arguments for the stage command, one quoted string; "
                             "checked with the stage's own parser before anything is submitted")
    parser.add_argument("--after", default=None, metavar="JOBID",
                        help="start after this job completed successfully (afterok)")
    parser.add_argument("--begin", default=None,
                        help="sbatch --begin time, e.g. 02:00 or now+1hour")
    parser.add_argument("--wait", action="store_true",
                        help="wait for the job(s) to finish (always on for local/debug)")
    parser.add_argument("--dry-run", action="store_true",
                        help="write the job folder and sbatch script, submit nothing")
    if stage == "infer":
        parser.add_argument("--shards", type=int, default=None,
                            help="a job array of N shards (--shard i --num-shards N each); "
                                 "needs --input in --args")
    if stage == "serve":
        parser.add_argument("--engine", choices=("vllm",), default=None,
                            help="vllm: the job starts vLLM for the adapters on its node "
                                 "(t2s serve --engine auto: loopback, a free port, its log in "
                                 "serve.engine_log) and t2s serve in front of it")
    if stage == "train":
        parser.add_argument("--then-evaluate", action="store_true",
                            help="also submit an evaluation that starts when training succeeded")


def run(args: argparse.Namespace) -> int:
    """Submit; returns 0, or 1 when a waited-for job did not complete."""

    source = config_path(args.config)
    config = load_config(source, args.overrides)
    cluster = args.cluster or config.slurm.cluster
    shards = getattr(args, "shards", None)
    check_submission(config, args.stage, cluster, shards, after=args.after, dry_run=args.dry_run)
    extra_args = split_stage_args(args.args)
    if getattr(args, "engine", None) == "vllm":
        # One job, one node: t2s serve starts vLLM as its child and stops it with itself.
        extra_args = [*extra_args, "--engine", "auto"]
    check_stage_args(args.stage, extra_args, shards)
    common = {"cluster": cluster, "source": source, "overrides": args.overrides,
              "dry_run": args.dry_run}
    submission = submit(config, args.stage, extra_args=extra_args,
                        shards=shards, begin=args.begin,
                        dependency=f"afterok:{args.after}" if args.after else None, **common)
    submissions = [submission]
    print(describe(submission))
    if args.dry_run and (submission.job_dir / "sbatch.sh").is_file():
        print((submission.job_dir / "sbatch.sh").read_text())
    if getattr(args, "then_evaluate", False):
        if cluster != "slurm":
            # Local runs are sequential anyway: wait for training, then evaluate.
            if wait(submission) != "COMPLETED":
                print(f"training ended {submission.record['state']}; evaluation not started")
                return 1
        train_ids = submission.record["job_ids"]
        dependency = f"afterok:{train_ids[0]}" if train_ids and cluster == "slurm" else None
        follow = submit(config, "evaluate", dependency=dependency, **common)
        print(describe(follow))
        submissions.append(follow)
    if args.dry_run or not (args.wait or cluster != "slurm"):
        return 0
    states = [sub.record["state"] or wait(sub) for sub in submissions]
    for sub, state in zip(submissions, states, strict=True):
        print(f"{sub.record['stage']} {', '.join(sub.record['job_ids'])}: {state}")
    return 0 if all(state == "COMPLETED" for state in states) else 1


def split_stage_args(text: str) -> list[str]:
    """``--args`` split like a shell line.

    Raises:
        InputError: if it cannot be split (an unclosed quote, a trailing backslash).
    """

    try:
        return shlex.split(text)
    except ValueError as exc:
        raise InputError(f"--args {text!r} cannot be split into arguments: {exc}; it is read "
                         "like a shell line, so close every quote "
                         "(e.g. --args '--input \"my questions.jsonl\" --output a.jsonl')") from None


def _no_checks(parsed: argparse.Namespace) -> list[str]:
    return []


def check_stage_args(stage: str, extra_args: list[str], shards: int | None) -> None:
    """Parse the stage's arguments now, with the stage's own parser, as the job will.

    Cheap checks only (no config or model is loaded): unknown options and
    missing values, ``--config`` or overrides inside ``--args`` (they belong on
    the submit line, where they are frozen into the job's config), ``--shards``
    only with ``--input``, and the stage module's own ``check_job_args(parsed)
    -> list[str]`` (an existing ``--input`` file for infer jobs, no
    prediction-file flags for evaluate jobs).

    Raises:
        InputError: listing every problem.
    """

    parser = argparse.ArgumentParser(prog=f"t2s {stage}", add_help=False)
    module = importlib.import_module(COMMANDS[stage][0])
    module.add_arguments(parser)

    def refuse(message: str) -> None:
        raise InputError(f"--args {shlex.join(extra_args)!r} for the {stage} job: {message}")

    parser.error = refuse  # an instance attribute: wins over any parser class's error()
    parsed = parser.parse_args(extra_args)
    problems = []
    if parsed.config is not None:
        problems.append("--config belongs on the t2s submit line, not in --args "
                        "(the job reads the config frozen into its folder)")
    if shards is not None and (getattr(parsed, "shard", None) is not None
                               or getattr(parsed, "num_shards", None) is not None):
        problems.append("--shard/--num-shards are set per task by --shards; drop them")
    if shards is not None and getattr(parsed, "input", None) is None:
        problems.append(f"--shards {shards} splits a batch job: give --input FILE "
                        "(and --output) in --args")
    # The stage's own checks, found through the command registry: launch/ never
    # imports a stage module by name.
    problems.extend(getattr(module, "check_job_args", _no_checks)(parsed))
    if parsed.overrides:
        problems.append(f"config overrides ({' '.join(parsed.overrides)}) belong on the t2s "
                        "submit line, where they are frozen into the job's config")
    if problems:
        raise InputError(f"--args for the {stage} job:\n  " + "\n  ".join(problems))
