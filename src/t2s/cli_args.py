"""The ground floor of every sub-command: the command table and shared argparse helpers.

``cli`` dispatches through :data:`COMMANDS`; each stage's ``command`` module
takes its argument helpers from here, so no stage imports the CLI that imports
it back. Nothing here loads an ML library (``t2s --help`` stays under a second).
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

# The config every command reads when --config is not given (relative to the
# working directory: the repository root, where make and the jobs run).
DEFAULT_CONFIG = "configs/tiny.yaml"

# name -> (module with add_arguments/run, one-line help). Mirrors the Makefile.
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("t2s.training.command", "fine-tune a model (LoRA or full) on a Spider-format dataset"),
    "evaluate": ("t2s.evaluation.command", "score prediction files, or a trained model, against gold SQL"),
    "compare": ("t2s.evaluation.compare_command", "compare two evaluation reports (flips, McNemar test)"),
    "infer": ("t2s.inference.command", "generate SQL for one question or a batch file of questions"),
    "repl": ("t2s.inference.repl_command", "interactive question -> SQL loop over a database"),
    "export": ("t2s.inference.export_command", "merge a LoRA adapter into its base model and save it"),
    "base": ("t2s.models.command", "write a local base model (real tokenizer, random weights)"),
    "estimate-memory": ("t2s.models.memory_command", "estimate peak training memory of a config (no weights loaded)"),
    "sample-data": ("t2s.data.sample_command", "write the embedded sample Spider-format dataset"),
    "synth": ("t2s.data.synth_command", "write synthetic question/SQL pairs for your own SQLite or PostgreSQL databases"),
    "submit": ("t2s.launch.command", "submit a train/evaluate/infer job to Slurm or run it locally"),
    "jobs": ("t2s.launch.jobs_command", "list recent submissions and their states"),
    "engine": ("t2s.launch.engine_command", "print or run the vLLM server for a config's base and adapters"),
    "config": ("t2s.config.command", "show the resolved config (with sources) or every config key"),
    "monitor": ("t2s.monitor.command", "monitoring reports (latency, failures, drift) from a serve log"),
    "serve": ("t2s.serve.command", "serve the model over HTTP (FastAPI): /generate, metrics, playground"),
    "db": ("t2s.db.command", "PostgreSQL: print a SELECT-only role's grants, import a SQLite database"),
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


def setup_logging(level: str | None = None) -> None:
    """Configure root logging once for a job; ``T2S_LOG_LEVEL`` overrides the level.

    One format, t2s at INFO, noisy libraries at WARNING.
    """
    level = level or os.environ.get("T2S_LOG_LEVEL", "INFO")
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=False)
    logging.getLogger("t2s").setLevel(level.upper())
