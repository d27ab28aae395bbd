"""The ``t2s`` command.

Each sub-command lives in a light ``command`` module next to its stage, exposing
``add_arguments(parser)`` and ``run(args) -> int``. Only the chosen sub-command's
module is imported, and those modules import torch/transformers inside ``run``,
so ``t2s --help`` stays well under a second.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from t2s import __version__
from t2s.errors import T2SError

# The config every command reads when --config is not given (relative to the
# working directory: the repository root, where make and the jobs run).
DEFAULT_CONFIG = "configs/tiny.yaml"

# name -> (module with add_arguments/run, one-line help). Mirrors the Makefile.
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("t2s.train_command", "fine-tune a model (LoRA or full) on a Spider-format dataset"),
    "evaluate": ("t2s.evaluation.command", "score prediction files, or a trained model, against gold SQL"),
    "compare": ("t2s.evaluation.compare_command", "compare two evaluation reports (flips, McNemar test)"),
    "infer": ("t2s.inference.command", "generate SQL for one question or a batch file of questions"),
    "repl": ("t2s.inference.repl_command", "interactive question -> SQL loop over a database"),
    "export": ("t2s.inference.export_command", "merge a LoRA adapter into its base model and save it"),
    "base": ("t2s.base_command", "write a local base model (real tokenizer, random weights)"),
    "estimate-memory": ("t2s.memory_command", "estimate peak training memory of a config (no weights loaded)"),
    "sample-data": ("t2s.data.sample_command", "write the embedded sample Spider-format dataset"),
    "synth": ("t2s.data.synth_command", "write synthetic question/SQL pairs for your own SQLite databases"),
    "submit": ("t2s.launch.command", "submit a train/evaluate/infer job to Slurm or run it locally"),
    "jobs": ("t2s.launch.jobs_command", "list recent submissions and their states"),
    "config": ("t2s.config_command", "show the resolved config (with sources) or every config key"),
    "monitor": ("t2s.monitor.command", "monitoring reports (latency, failures, drift) from a serve log"),
    "serve": ("t2s.serve.command", "serve the model over HTTP (FastAPI): /generate, metrics, playground"),
}


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--config`` and ``key.sub=value`` overrides to a sub-command parser."""
    parser.add_argument("--config", "-c", default=None,
                        help="YAML config (default: configs/tiny.yaml when present)")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value",
                        help="config overrides, applied after the YAML")


def config_path(path: str | None) -> str | None:
    """``path``, or the default config file when it exists in the working directory."""
    if path is None and Path(DEFAULT_CONFIG).is_file():
        return DEFAULT_CONFIG
    return path


def positive_int(text: str) -> int:
    """An argparse ``type``: an integer >= 1.

    Raises:
        argparse.ArgumentTypeError: otherwise (argparse prints it with the option name).
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Build the top-level parser; import only ``command``'s module, if given."""

    parser = argparse.ArgumentParser(
        prog="t2s", description="Text-to-SQL fine-tuning, evaluation and inference jobs.")
    parser.add_argument("--version", action="version", version=f"t2s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if name == command:
            importlib.import_module(module_name).add_arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``t2s`` console script; returns the exit status.

    A reader that closes stdout early (``t2s jobs | head -1``) ends the command
    quietly with status 141, as a process killed by SIGPIPE would.
    """
    try:
        status = _dispatch(argv)
        sys.stdout.flush()  # a pipe closed early fails here, not at interpreter exit
        return status
    except BrokenPipeError:
        # Python ignores SIGPIPE and raises instead; point stdout at /dev/null so
        # the flush at exit cannot raise again, then exit like `yes | head -1`.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return SIGPIPE_STATUS


# 128 + SIGPIPE (13): what a shell reports for a process killed by a closed pipe.
SIGPIPE_STATUS = 141


def _dispatch(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not sys.stderr.isatty():
        # Batch jobs log to files: one progress line every 30 s instead of ten a
        # second (tqdm, also inside transformers/datasets, reads TQDM_* defaults).
        os.environ.setdefault("TQDM_MININTERVAL", "30")
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        return int(module.run(args) or 0)
    except T2SError as exc:
        print(f"t2s {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"t2s {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
