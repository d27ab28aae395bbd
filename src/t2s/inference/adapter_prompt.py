"""The model carries its prompt: prompt settings come from the model folder.

Training saves the resolved config beside the adapter (``final_model/config.yaml``).
Every command that prompts a model (``t2s infer``, ``repl``, ``evaluate
--config``, the server) loads its config through :func:`load_inference_config`,
which takes the :data:`~t2s.config.PROMPT_KEYS` settings from that saved
config, so the model is prompted exactly as it learned:

- a setting left at its default here takes the model's value (logged);
- a setting given here (in the YAML or on the command line) that differs from
  the model's is refused, listing each ``key: model's -> given``, unless
  ``infer.prompt_override=true`` (then the given value is used, and manifests
  and reports record it through :func:`prompt_record`);
- a model folder without a saved config (an adapter trained elsewhere) keeps
  the given settings, with a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from t2s.config import (
    PROMPT_KEYS,
    Config,
    get_value,
    load_config_with_sources,
    to_dict,
    with_values,
)
from t2s.errors import ConfigError

log = logging.getLogger(__name__)

SAVED_CONFIG = "config.yaml"
_MISSING = object()


def load_inference_config(path: str | Path | None, overrides: Sequence[str] = ()) -> Config:
    """Load a config and apply the prompt settings saved with ``infer.adapter_path``.

    Raises:
        ConfigError: if the config is invalid, or a given prompt setting
            conflicts with the model's and ``infer.prompt_override`` is false.
    """
    config, sources = load_config_with_sources(path, list(overrides))
    return apply_model_prompt(config, sources)


def saved_config(model_dir: str | Path) -> dict[str, Any] | None:
    """The config saved with a model (plain data), or None if there is none or it is unreadable."""
    path = Path(model_dir) / SAVED_CONFIG
    try:
        tree = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return tree if isinstance(tree, dict) else None


def apply_model_prompt(config: Config, sources: Mapping[str, str]) -> Config:
    """``config`` with the model's saved prompt settings (see the module docstring).

    Args:
        sources: Where each key was set (:func:`~t2s.config.load_config_with_sources`);
            keys absent were left at their defaults.

    Raises:
        ConfigError: on a conflict without ``infer.prompt_override``.
    """
    model_dir = Path(config.infer.adapter_path)
    saved = saved_config(model_dir)
    if saved is None:
        if model_dir.is_dir():
            log.warning("%s has no saved %s (a model trained outside t2s?): prompting with "
                        "the given settings, which may differ from its training", model_dir,
                        SAVED_CONFIG)
        return config
    current = to_dict(config)
    taken: dict[str, Any] = {}
    conflicts: list[str] = []
    for key in _leaves(saved, PROMPT_KEYS):
        theirs, ours = get_value(saved, key, _MISSING), get_value(current, key, _MISSING)
        if theirs is _MISSING or ours is _MISSING or theirs == ours:
            continue
        given = [k for k in sources if k == key or k.startswith(key + ".")]
        if not given:
            taken[key] = theirs
        elif not config.infer.prompt_override:
            where = sorted({sources[k] for k in given})
            conflicts.append(f"{key}: {_short(theirs)} (model) -> {_short(ours)} "
                             f"(given in {', '.join(where)})")
    if conflicts:
        raise ConfigError(
            f"the model in {model_dir} was trained with other prompt settings than given:\n  "
            + "\n  ".join(conflicts) + "\nDrop the given settings (the model's are used), or "
            "set infer.prompt_override=true to prompt with yours (manifests record it)")
    if taken:
        log.info("prompt settings from %s: %s", model_dir / SAVED_CONFIG,
                 ", ".join(f"{k}={_short(v)}" for k, v in taken.items()))
        config = with_values(config, taken, str(model_dir / SAVED_CONFIG))
    return config


def _leaves(tree: dict[str, Any], keys: Sequence[str]) -> list[str]:
    """The leaf keys under ``keys`` that ``tree`` holds: a model saved before a
    setting existed (say ``data.schema.style``) is compared on what it recorded."""
    found: list[str] = []
    for key in keys:
        value = get_value(tree, key, _MISSING)
        if isinstance(value, dict):
            found += _leaves(tree, [f"{key}.{sub}" for sub in value])
        elif value is not _MISSING:
            found.append(key)
    return found


def prompt_record(config: Config) -> dict[str, Any]:
    """The prompt settings in use and whether they override the model's, for manifests."""
    tree = to_dict(config)
    settings = {key: value for key in PROMPT_KEYS
                if (value := get_value(tree, key, _MISSING)) is not _MISSING}
    saved = saved_config(config.infer.adapter_path)
    differs = saved is not None and any(
        get_value(saved, key, _MISSING) not in (_MISSING, value) for key, value in settings.items())
    return {"settings": settings, "overrides_model": bool(config.infer.prompt_override and differs)}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
