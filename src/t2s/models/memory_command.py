"""``t2s estimate-memory``: peak training memory of a config, by formula (see :mod:`t2s.models.memory`).

    t2s estimate-memory --config configs/qwen2.5-coder-7b_qlora.yaml
    t2s estimate-memory --config configs/config.yaml train.per_device_train_batch_size=8
"""

from __future__ import annotations

import argparse

from t2s.cli_args import add_config_arguments, config_path
from t2s.config import load_config
from t2s.models.memory import format_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """A config and ``key.sub=value`` overrides."""
    add_config_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Print the estimate table; returns 0.

    Raises:
        ConfigError: for an invalid config or a model whose shape is unknown offline.
    """
    print(format_table(load_config(config_path(args.config), args.overrides)))
    return 0
