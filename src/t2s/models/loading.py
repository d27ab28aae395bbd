"""Loading base models and tokenizers, wrapping them with LoRA, and reloading adapters.

A model is named by hub id or local folder (``model.name_or_path``); the offline
``tiny`` model is built by :mod:`t2s.models.tiny` and then loaded through the same code.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from t2s.config import LoraConfig, ModelConfig
from t2s.errors import ConfigError, T2SError
from t2s.models.quantization import bnb_config

log = logging.getLogger(__name__)

ALL_LINEAR = "all-linear"  # peft's name for every Linear layer but the output head
_DTYPES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}
_PRECISION_DTYPE = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}

# peft 0.21 and trl 1.16 read transformers' deprecated `is_gradient_checkpointing`
# property on every model they wrap: a FutureWarning no user of ours can act on.
warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated",
                        category=FutureWarning)


def torch_dtype(model_config: ModelConfig, precision: str):
    """The dtype to load weights in: ``model.dtype``, or follow the training precision.

    LoRA trains in the base dtype on GPU (bf16 halves memory); on CPU, fp32.
    """
    import torch

    name = _DTYPES.get(model_config.dtype) or _PRECISION_DTYPE.get(precision, "float32")
    return getattr(torch, name)


def _load_error(what: str, name: str, exc: Exception) -> T2SError:
    local = Path(name).exists()
    hint = ("the folder exists but is not a loadable model" if local else
            "it is not a local folder, and it could not be fetched from the hub "
            "(offline? set model.name_or_path to a local folder, or 'tiny')")
    return T2SError(f"could not load {what} {name!r}: {hint} ({type(exc).__name__}: {exc})")


def load_tokenizer(name_or_path: str, revision: str | None = None, trust_remote_code: bool = False):
    """Load a tokenizer and give it a pad token if it has none (Llama has none).

    Raises:
        T2SError: if it cannot be loaded; the message says why and what to do.
    """
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, revision=revision,
                                                  trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise _load_error("tokenizer", name_or_path, exc) from None
    if tokenizer.pad_token is None:
        # Padding positions are masked out of attention and loss, so reusing EOS is safe.
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base_model(model_config: ModelConfig, name_or_path: str, precision: str = "fp32"):
    """Load a causal LM by hub id or local folder.

    Raises:
        T2SError: if it cannot be loaded; the message says why and what to do.
    """
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": torch_dtype(model_config, precision),
                              "trust_remote_code": model_config.trust_remote_code}
    if model_config.revision:
        kwargs["revision"] = model_config.revision
    if model_config.attn_implementation:
        kwargs["attn_implementation"] = model_config.attn_implementation
    if model_config.quantization.load_in_4bit:
        kwargs["quantization_config"] = bnb_config(model_config.quantization)
    try:
        return AutoModelForCausalLM.from_pretrained(name_or_path, **kwargs)
    except (OSError, ValueError) as exc:
        raise _load_error("model", name_or_path, exc) from None


def linear_module_names(model) -> list[str]:
    """Sorted distinct short names of the model's Linear layers (LoRA targets)."""
    import torch

    return sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                   if isinstance(module, torch.nn.Linear)})


def architecture_linear_names(model_config: ModelConfig) -> list[str] | None:
    """The Linear layer names of the configured model, built on the meta device.

    No weights are read or allocated: only the model's config (a local folder,
    or the hub cache). None when the config cannot be read here; loading the
    model later reports why.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, LlamaConfig

    if model_config.name_or_path == "tiny":
        # The tiny base is a Llama (t2s.models.tiny.build_tiny_model); its layer names do
        # not depend on the sizes, so the smallest shape keeps this instant.
        config = LlamaConfig(vocab_size=16, hidden_size=8, intermediate_size=8,
                             num_hidden_layers=1, num_attention_heads=1)
    else:
        try:
            # local_files_only: a check must not wait on the network (offline,
            # a hub id retries for ~20 s); an uncached id is checked at load.
            config = AutoConfig.from_pretrained(
                model_config.name_or_path, revision=model_config.revision,
                trust_remote_code=model_config.trust_remote_code, local_files_only=True)
        except (OSError, ValueError):
            return None
    try:
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(
                config, trust_remote_code=model_config.trust_remote_code)
    except (OSError, ValueError, TypeError, RuntimeError):
        return None
    return linear_module_names(model)


def lora_target_problems(config) -> list[tuple[str, str]]:
    """A :data:`t2s.config.ConfigCheck`: LoRA targets the configured model lacks."""
    if config.train.method != "lora":
        return []
    available = architecture_linear_names(config.model)
    if available is None:
        return []
    problem = _missing_targets(config.lora.target_modules, available)
    return [("lora.target_modules", problem)] if problem else []


def _missing_targets(target_modules: list[str], available: list[str]) -> str | None:
    missing = [m for m in target_modules if m not in available and m != ALL_LINEAR]
    if not missing:
        return None
    return f"{missing} not in this model; its Linear layers are: {', '.join(available)}"


def check_target_modules(model, target_modules: list[str]) -> None:
    """Fail early if a LoRA target module does not exist in ``model``.

    Raises:
        ConfigError: naming the missing modules and listing the valid ones.
    """
    problem = _missing_targets(target_modules, linear_module_names(model))
    if problem:
        raise ConfigError(f"1 configuration problem:\n  config: lora.target_modules: {problem}")


def apply_lora(model, lora: LoraConfig):
    """Wrap ``model`` with a fresh LoRA adapter (base weights frozen).

    Raises:
        ConfigError: if a target module is missing.
    """
    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model

    check_target_modules(model, lora.target_modules)
    targets = ALL_LINEAR if ALL_LINEAR in lora.target_modules else list(lora.target_modules)
    if getattr(model, "is_loaded_in_4bit", False):
        from peft import prepare_model_for_kbit_training

        # Norms in fp32 and input gradients on, for QLoRA.
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    peft_config = PeftLoraConfig(
        r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
        target_modules=targets, bias=lora.bias, task_type="CAUSAL_LM",
        use_dora=lora.use_dora, use_rslora=lora.use_rslora,
        modules_to_save=list(lora.modules_to_save) or None)
    return get_peft_model(model, peft_config)


@dataclass(frozen=True)
class ParameterCount:
    """Trainable and total parameter counts."""

    trainable: int
    total: int

    @property
    def percent(self) -> float:
        return 100.0 * self.trainable / self.total if self.total else 0.0

    def __str__(self) -> str:
        return (f"trainable params: {self.trainable:,} || all params: {self.total:,} "
                f"|| trainable%: {self.percent:.4f}")


def count_parameters(model) -> ParameterCount:
    """Count trainable and total parameters (tied weights counted once)."""
    seen: set[int] = set()
    trainable = total = 0
    for param in model.parameters():
        if id(param) in seen:
            continue
        seen.add(id(param))
        # Under ZeRO-3 a parameter is a shard of numel 0; ds_numel is its full size.
        numel = getattr(param, "ds_numel", None) or param.numel()
        total += numel
        if param.requires_grad:
            trainable += numel
    return ParameterCount(trainable=trainable, total=total)


def is_adapter_folder(path: str | Path) -> bool:
    """Whether ``path`` holds a PEFT adapter (rather than a full model)."""
    return (Path(path) / "adapter_config.json").is_file()


def load_trained(path: str | Path, model_config: ModelConfig | None = None,
                 base_model: str | None = None, precision: str = "fp32"):
    """Load a trained adapter (over its base) or a full/merged model, plus tokenizer.

    Args:
        path: ``outputs/final_model`` or any adapter / merged-model folder.
        model_config: Dtype and loading options (defaults if None).
        base_model: Override the adapter's recorded base model path.
        precision: Used when ``model.dtype`` is ``auto``.

    Returns:
        ``(model, tokenizer)``, the model in eval mode.

    Raises:
        T2SError: if the folder is missing or cannot be loaded.
    """
    path = Path(path)
    if not path.is_dir():
        raise T2SError(f"model folder {path} does not exist; train first (t2s train) "
                       "or set infer.adapter_path")
    model_config = model_config or ModelConfig()
    tokenizer_source = str(path)
    if is_adapter_folder(path):
        from peft import PeftModel

        adapter_config = json.loads((path / "adapter_config.json").read_text())
        base = base_model or adapter_config.get("base_model_name_or_path")
        if not base:
            raise T2SError(f"{path}/adapter_config.json names no base model; pass the base model")
        model = load_base_model(model_config, base, precision)
        model = PeftModel.from_pretrained(model, str(path))
        if not (path / "tokenizer_config.json").is_file():
            tokenizer_source = base
    else:
        model = load_base_model(model_config, str(path), precision)
    tokenizer = load_tokenizer(tokenizer_source)
    model.eval()
    return model, tokenizer
