"""``t2s jobs``: list recent submissions (newest first) and their states."""

from __future__ import annotations

import argparse

from t2s.cli_args import add_config_arguments, config_path, positive_int
from t2s.config import load_config
from t2s.launch.registry import format_table, list_submissions


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``t2s jobs``."""
    add_config_arguments(parser)
    parser.add_argument("--jobs-dir", default=None,
                        help="folder of job folders (default: slurm.jobs_dir of the config)")
    parser.add_argument("-n", "--limit", type=positive_int, default=10,
                        help="show this many, at least 1 (default: 10)")


def run(args: argparse.Namespace) -> int:
    """Print the table; returns 0."""

    jobs_dir = args.jobs_dir or load_config(config_path(args.config), args.overrides).slurm.jobs_dir
    print(format_table(list_submissions(jobs_dir, limit=args.limit)))
    return 0
