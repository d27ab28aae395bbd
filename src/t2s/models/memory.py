"""Peak training memory per GPU, from the model's shape alone (no weights loaded).

    t2s estimate-memory --config configs/qwen2.5-coder-7b_qlora.yaml

Terms (bytes, one process, micro-batch b = ``train.per_device_train_batch_size``,
sequence s = ``train.max_seq_length``):

- weights: parameters x 2 (bf16/fp16) or 4 (fp32). 4-bit (nf4 + double quant)
  stores each transformer Linear weight in 4 bits + 0.127 bit of block constants
  (one fp32 absmax per 64 weights, itself quantized to 8 bits per 256 blocks):
  0.516 byte; embeddings, norms and the LM head stay in the compute dtype.
- trainable parameters: LoRA r x (in + out) per targeted Linear (+ out for DoRA's
  magnitude), plus ``modules_to_save`` in full; everything for ``full``. peft keeps
  adapters in fp32 (4 bytes); full fine-tuning keeps them in the weights' dtype.
- gradients: one per trainable parameter, same dtype; AdamW: 2 fp32 moments (8 bytes).
- activations, kept for the backward pass, 2 bytes each (bf16/fp16; 4 in fp32):
  per token and layer the norm inputs and outputs (4h), q/k/v (h + 2 kv d),
  attention output (h), MLP gate/up/act/down inputs (4i) — SDPA/flash attention
  keeps no s x s scores. With checkpointing only each layer's input (h) is kept,
  plus one layer recomputed in full during the backward.
- logits: s x b x vocab in fp32 for the loss, twice (values and their gradient):
  2.5 GB for Qwen2's 151,936-row head at b=4, s=1024.

Not counted: the CUDA context and allocator fragmentation (~0.5-1 GB), and
optimizer state sharded by ZeRO (divide by the world size).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from t2s.config import Config, TinyModelConfig
from t2s.errors import ConfigError

GIB = 1024 ** 3
NF4_BYTES = (4 + 0.127) / 8
ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class Shape:
    """What the memory depends on: a decoder-only Llama/Qwen2-style transformer."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    intermediate_size: int
    tie_word_embeddings: bool = False
    qkv_bias: bool = False


# Published config.json values of the recipe models, so estimates need no download.
KNOWN_SHAPES: dict[str, Shape] = {
    "TinyLlama/TinyLlama-1.1B-Chat-v1.0": Shape(32000, 2048, 22, 32, 4, 5632),
    "Qwen/Qwen2.5-Coder-1.5B-Instruct": Shape(151936, 1536, 28, 12, 2, 8960, True, True),
    "Qwen/Qwen2.5-Coder-7B-Instruct": Shape(152064, 3584, 28, 28, 4, 18944, False, True),
    "meta-llama/Llama-3.2-1B-Instruct": Shape(128256, 2048, 16, 32, 8, 8192, True),
    "meta-llama/Llama-3.2-3B-Instruct": Shape(128256, 3072, 28, 24, 8, 8192, True),
    "codellama/CodeLlama-7b-Instruct-hf": Shape(32016, 4096, 32, 32, 32, 11008),
    "HuggingFaceTB/SmolLM2-135M-Instruct": Shape(49152, 576, 30, 9, 3, 1536, True),
}
# `make real-base` converts SmolLM2-135M-Instruct into this folder; before it exists
# the recipe (configs/smollm2-135m_lora.yaml) is estimated from the published shape.
LOCAL_ALIASES = {"outputs/bases/smollm2-135m-instruct": "HuggingFaceTB/SmolLM2-135M-Instruct"}


def shape_of(config: Config) -> Shape:
    """The model's shape: ``tiny`` settings, a local ``config.json``, or a known hub id.

    Raises:
        ConfigError: if the shape cannot be known without downloading.
    """
    name = config.model.name_or_path
    if name == "tiny":
        tiny: TinyModelConfig = config.model.tiny
        return Shape(tiny.vocab_size, tiny.hidden_size, tiny.num_hidden_layers,
                     tiny.num_attention_heads, tiny.num_attention_heads, tiny.intermediate_size)
    local = Path(name) / "config.json"
    if local.is_file():
        data = json.loads(local.read_text(encoding="utf-8"))
        return Shape(data["vocab_size"], data["hidden_size"], data["num_hidden_layers"],
                     data["num_attention_heads"],
                     data.get("num_key_value_heads") or data["num_attention_heads"],
                     data["intermediate_size"], bool(data.get("tie_word_embeddings", False)),
                     data.get("model_type") == "qwen2")
    name = LOCAL_ALIASES.get(name, name)
    if name in KNOWN_SHAPES:
        return KNOWN_SHAPES[name]
    raise ConfigError(f"model.name_or_path: {name!r} is neither a local folder with config.json "
                      f"nor a known model ({', '.join(KNOWN_SHAPES)})")


def linear_shapes(shape: Shape) -> dict[str, tuple[int, int]]:
    """(in, out) features of each Linear layer of one transformer block."""
    h, i = shape.hidden_size, shape.intermediate_size
    kv = shape.num_key_value_heads * (h // shape.num_attention_heads)
    return {"q_proj": (h, h), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (h, h),
            "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}


def parameter_counts(shape: Shape) -> tuple[int, int]:
    """(transformer Linear weights, everything else: embeddings, head, norms, biases)."""
    linears = sum(a * b for a, b in linear_shapes(shape).values()) * shape.num_hidden_layers
    h, v = shape.hidden_size, shape.vocab_size
    kv = shape.num_key_value_heads * (h // shape.num_attention_heads)
    other = v * h * (1 if shape.tie_word_embeddings else 2)
    other += shape.num_hidden_layers * (2 * h + ((h + 2 * kv) if shape.qkv_bias else 0)) + h
    return linears, other


@dataclass(frozen=True)
class Estimate:
    """Bytes per component of one training process."""

    weights: float
    trainable_params: int
    total_params: int
    trainable: float
    gradients: float
    optimizer: float
    activations: float
    logits: float

    @property
    def peak(self) -> float:
        return (self.weights + self.trainable + self.gradients + self.optimizer
                + self.activations + self.logits)


def estimate(config: Config, shape: Shape | None = None) -> Estimate:
    """Peak training memory of ``config`` (see the module docstring for the terms).

    Raises:
        ConfigError: if the model's shape is unknown.
    """
    shape = shape or shape_of(config)
    train, lora = config.train, config.lora
    act_bytes = 4 if train.precision == "fp32" else 2
    linears, other = parameter_counts(shape)
    four_bit = config.model.quantization.load_in_4bit
    weights = linears * (NF4_BYTES if four_bit else act_bytes) + other * act_bytes
    if train.method == "full":
        trainable_params, trainable_bytes = linears + other, 0.0  # the weights themselves
        grad_bytes = act_bytes
    else:
        targets = ALL_LINEAR if "all-linear" in lora.target_modules else lora.target_modules
        layers = linear_shapes(shape)
        per_layer = sum(lora.r * (layers[m][0] + layers[m][1]) + (layers[m][1] if lora.use_dora else 0)
                        for m in targets if m in layers)
        trainable_params = per_layer * shape.num_hidden_layers
        saved = {"lm_head": shape.vocab_size * shape.hidden_size,
                 "embed_tokens": shape.vocab_size * shape.hidden_size}
        trainable_params += sum(saved.get(m, 0) for m in lora.modules_to_save)
        trainable_bytes = trainable_params * 4.0  # peft keeps adapters in fp32
        grad_bytes = 4
    tokens = train.per_device_train_batch_size * train.max_seq_length
    h, i = shape.hidden_size, shape.intermediate_size
    kv = shape.num_key_value_heads * (h // shape.num_attention_heads)
    per_layer_token = (4 * h + h + 2 * kv + h + 4 * i) * act_bytes
    if train.gradient_checkpointing:
        activations = tokens * (h * act_bytes * shape.num_hidden_layers + per_layer_token)
    else:
        activations = tokens * per_layer_token * shape.num_hidden_layers
    return Estimate(
        weights=weights, trainable_params=trainable_params, total_params=linears + other,
        trainable=trainable_bytes, gradients=trainable_params * grad_bytes,
        optimizer=trainable_params * 8.0, activations=activations,
        logits=2.0 * tokens * shape.vocab_size * 4)


def variants(config: Config) -> list[tuple[str, Estimate]]:
    """The configured estimate, then with checkpointing and 4-bit toggled."""
    shape = shape_of(config)
    rows = [("as configured", estimate(config, shape))]
    ckpt = not config.train.gradient_checkpointing
    flipped = replace(config, train=replace(config.train, gradient_checkpointing=ckpt))
    rows.append((f"checkpointing {'on' if ckpt else 'off'}", estimate(flipped, shape)))
    if config.train.method == "lora":
        four = not config.model.quantization.load_in_4bit
        quant = replace(config.model.quantization, load_in_4bit=four)
        for label, base in (("", config), (f", checkpointing {'on' if ckpt else 'off'}", flipped)):
            changed = replace(base, model=replace(base.model, quantization=quant))
            rows.append((f"4-bit {'on' if four else 'off'}{label}", estimate(changed, shape)))
    return rows


def format_table(config: Config) -> str:
    """The estimate and its variants as a text table, in GiB."""
    rows = variants(config)
    head = rows[0][1]
    lines = [f"model {config.model.name_or_path}: {head.total_params / 1e9:.2f} B parameters, "
             f"{head.trainable_params / 1e6:.1f} M trainable ({config.train.method}); micro-batch "
             f"{config.train.per_device_train_batch_size} x {config.train.max_seq_length} tokens",
             f"{'variant':<32}{'weights':>9}{'train':>8}{'grads':>8}{'adam':>8}{'activ':>8}"
             f"{'logits':>8}{'PEAK GiB':>10}"]
    for label, e in rows:
        lines.append(f"{label:<32}{e.weights / GIB:>9.2f}{e.trainable / GIB:>8.2f}"
                     f"{e.gradients / GIB:>8.2f}{e.optimizer / GIB:>8.2f}{e.activations / GIB:>8.2f}"
                     f"{e.logits / GIB:>8.2f}{e.peak / GIB:>10.1f}")
    lines.append("(plus ~0.5-1 GiB CUDA context; see t2s.models.memory for the formula)")
    return "\n".join(lines)
