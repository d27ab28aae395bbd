"""``t2s train``: fine-tune a model from a config (see :mod:`t2s.training.train`)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from t2s.cli_args import add_config_arguments, config_path, setup_logging
from t2s.config import load_config
from t2s.training.preemption import STOPPED_EXIT_CODE, TrainingStopped
from t2s.training.train import preflight_checks, summarize, train


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``t2s train``: a config and ``key.sub=value`` overrides."""
    add_config_arguments(parser)
    parser.add_argument("--overwrite", action="store_true",
                        help="start over (train.resume=never): an earlier run in "
                             "train.output_dir is moved aside to <dir>.old-<time>, never deleted")
    parser.epilog = ("examples:\n  t2s train --config configs/tiny.yaml train.max_steps=20\n"
                     "  t2s train --config configs/config.yaml data.root=/data/spider")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def run(args: argparse.Namespace) -> int:
    """Run training; returns 0 on success.

    A stop signal that saved a checkpoint ends the process at once with status 75
    (``t2s.training.preemption.STOPPED_EXIT_CODE``).
    """

    setup_logging()
    # Hardware and model checks join the config's own: one message, before any work.
    overrides = [*args.overrides, "train.resume=never"] if args.overwrite else args.overrides
    config = load_config(config_path(args.config), overrides, checks=preflight_checks())
    try:
        result = train(config)
    except TrainingStopped as stopped:
        print(f"[t2s] {stopped}", flush=True)
        # Exit at once: the requeue waits for this process, and tearing the
        # interpreter down after training took over 10 s on a loaded 2-core
        # machine (measured on the local Slurm), past a short signal delay.
        logging.shutdown()
        sys.stderr.flush()
        os._exit(STOPPED_EXIT_CODE)
    if os.environ.get("RANK", "0") == "0":  # one summary per job, not per process
        print(summarize(result))
    return 0

