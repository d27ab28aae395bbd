"""Experiment trackers named in ``train.report_to``: installed, or a clear error.

transformers raises a RuntimeError traceback at trainer construction when a
tracker is not installed; this check runs at config load and names the extra.
"""

from __future__ import annotations

import importlib.util
import os

from t2s.config import Config, TrainConfig

# report_to value -> (module that must import, pip extra of t2s that installs it)
TRACKERS = {"tensorboard": ("tensorboard", None), "wandb": ("wandb", "wandb"),
            "mlflow": ("mlflow", "mlflow")}


def tracking_problems(config: Config) -> list[tuple[str, str]]:
    """A :data:`t2s.config.ConfigCheck`: every ``train.report_to`` tracker is known and installed."""
    problems = []
    for name in config.train.report_to:
        if name == "none":
            continue
        if name not in TRACKERS:
            problems.append(("train.report_to", f"unknown tracker {name!r}; t2s supports "
                                                f"{', '.join(TRACKERS)}"))
            continue
        module, extra = TRACKERS[name]
        if importlib.util.find_spec(module) is None:
            install = f"pip install 't2s[{extra}]'" if extra else f"pip install {module}"
            problems.append(("train.report_to", f"{name} is not installed: {install}"))
    return problems


def set_tracking_environment(train: TrainConfig) -> None:
    """Pass ``train.project`` to the trackers, which read it from the environment."""
    if train.project:
        os.environ.setdefault("WANDB_PROJECT", train.project)
        os.environ.setdefault("MLFLOW_EXPERIMENT_NAME", train.project)
