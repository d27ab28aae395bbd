"""``model.*`` and ``lora.*``: the base model, how it is loaded, and the adapter trained on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class TinyModelConfig:
    """Shape of the offline tiny Llama model built when ``model.name_or_path: tiny``."""

    base_dir: str = "outputs/tiny_base"
    """Folder of pretrained tiny bases, one sub-folder per (shape, corpus, seed) fingerprint."""
    vocab_size: int = 2048
    """BPE vocabulary trained on the training corpus."""
    hidden_size: int = 64
    """Width of the tiny model."""
    intermediate_size: int = 256
    """MLP width of the tiny model."""
    num_hidden_layers: int = 2
    """Decoder layers of the tiny model."""
    num_attention_heads: int = 4
    """Attention heads (must divide hidden_size)."""
    max_position_embeddings: int = 1024
    """Longest sequence the tiny model accepts, in tokens."""
    pretrain_steps: int = 300
    """Full-parameter steps on the training split's text before LoRA (a random
    base barely learns through LoRA alone: measured loss 7.5 -> 7.2)."""
    pretrain_learning_rate: float = 3e-3
    """Learning rate of the tiny base's pretraining."""
    pretrain_batch_size: int = 16
    """Examples per pretraining step."""

    def problems(self) -> list[tuple[str, str]]:
        """``(field, message)`` for a shape or schedule that cannot be built."""
        problems = [(key, f"must be positive, got {getattr(self, key)}")
                    for key in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                                "num_attention_heads", "max_position_embeddings", "pretrain_batch_size")
                    if getattr(self, key) <= 0]
        if not self.pretrain_learning_rate > 0:  # `not >` also refuses NaN
            problems.append(("pretrain_learning_rate",
                             f"must be positive, got {self.pretrain_learning_rate}"))
        return problems


@dataclass
class QuantizationConfig:
    """bitsandbytes 4-bit loading of the frozen base (QLoRA)."""

    load_in_4bit: bool = False
    """Load the base in 4 bits (LoRA only; needs a CUDA GPU and ``pip install 't2s[qlora]'``)."""
    quant_type: Literal["nf4", "fp4"] = "nf4"
    """4-bit data type: ``nf4`` (normal float, for normally distributed weights) or ``fp4``."""
    double_quant: bool = True
    """Quantize the quantization constants too (about 0.4 bit/parameter saved)."""
    compute_dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"
    """Dtype the 4-bit weights are dequantized to for each matmul."""


@dataclass
class ModelConfig:
    """The base causal language model."""

    name_or_path: str = "TinyLlama/TinyLlama-1.1B-Chat-v1.0"
    """Hub id, local folder, or ``tiny`` for the offline model built from ``model.tiny``."""
    revision: str | None = None
    """Hub revision (branch, tag or commit) for reproducible downloads."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Weights dtype at load; ``auto`` follows ``train.precision``."""
    trust_remote_code: bool = False
    """Run the model repository's own Python code (only for models you trust)."""
    attn_implementation: str | None = None
    """e.g. ``sdpa`` or ``flash_attention_2``; null lets transformers choose."""
    tiny: TinyModelConfig = field(default_factory=TinyModelConfig)
    quantization: QuantizationConfig = field(default_factory=QuantizationConfig)
    """4-bit loading of the base (QLoRA); needs CUDA and the ``qlora`` extra."""

    def problems(self) -> list[tuple[str, str]]:
        """``(field, message)`` for the tiny model (``name_or_path: tiny``): its shape, its loading."""
        if self.name_or_path != "tiny":
            return []
        problems = []
        if self.quantization.load_in_4bit:
            problems.append(("quantization.load_in_4bit",
                             "the tiny model is pretrained here in full precision"))
        if self.tiny.num_attention_heads > 0 and self.tiny.hidden_size % self.tiny.num_attention_heads:
            problems.append(("tiny.hidden_size", "must be divisible by model.tiny.num_attention_heads"))
        return problems + [(f"tiny.{key}", message) for key, message in self.tiny.problems()]


@dataclass
class LoraConfig:
    """LoRA adapter settings (used when ``train.method: lora``)."""

    r: int = 8
    """Rank of the LoRA update matrices."""
    alpha: int = 16
    """LoRA scaling numerator: updates are scaled by alpha / r."""
    dropout: float = 0.05
    """Dropout on the LoRA input, in [0, 1)."""
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    """Module names that get LoRA adapters (checked against the model before training),
    or ``[all-linear]`` for every Linear layer but the LM head."""
    bias: Literal["none", "all", "lora_only"] = "none"
    """Which biases train: none, all, or only those of LoRA layers."""
    use_dora: bool = False
    """DoRA: learn a magnitude per output feature besides the LoRA direction."""
    use_rslora: bool = False
    """rsLoRA: scale by alpha/sqrt(r) instead of alpha/r (stable at large r)."""
    modules_to_save: list[str] = field(default_factory=list)
    """Modules trained in full and saved with the adapter, e.g. ``[lm_head, embed_tokens]``."""

    def problems(self) -> list[tuple[str, str]]:
        """``(field, message)`` for each setting out of range (targets the model lacks are
        checked against the model itself: ``t2s.models.loading``)."""
        problems = []
        if not 0.0 <= self.dropout < 1.0:
            problems.append(("dropout", f"must be in [0, 1), got {self.dropout}"))
        if self.r <= 0:
            problems.append(("r", f"must be positive, got {self.r}"))
        if self.alpha <= 0:
            problems.append(("alpha", f"must be positive, got {self.alpha}"))
        if "all-linear" in self.target_modules and len(self.target_modules) > 1:
            problems.append(("target_modules", "all-linear already covers every Linear layer; give it alone"))
        return problems
