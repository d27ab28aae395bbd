"""The ``t2s`` command.

Each sub-command lives in a light ``command`` module next to its stage, exposing
``add_arguments(parser)`` and ``run(args) -> int`` (the table is
:data:`t2s.cli_args.COMMANDS`, on the ground floor with the shared argparse helpers). Only the chosen sub-command's
module is imported, and those modules import torch/transformers inside ``run``,
so ``t2s --help`` stays well under a second.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from t2s import __version__
from t2s.cli_args import COMMANDS
from t2s.errors import T2SError


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
