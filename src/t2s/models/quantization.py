"""QLoRA: the frozen base loaded in 4 bits with bitsandbytes (``model.quantization``).

nf4 weights with double quantization take about 0.52 byte per parameter
(4 bits + 64-weight block constants, themselves quantized), so a 7B base needs
~3.8 GB instead of 14 GB in bf16; the LoRA matrices train in the compute dtype.
bitsandbytes' 4-bit kernels need a CUDA GPU: on CPU the check below fails at
config load, before any work.
"""

from __future__ import annotations

import importlib.util

from t2s.config import Config, QuantizationConfig

EXTRA = "qlora"


def quantization_problems(config: Config) -> list[tuple[str, str]]:
    """A :data:`t2s.config.ConfigCheck`: 4-bit loading needs CUDA and bitsandbytes."""
    if not config.model.quantization.load_in_4bit:
        return []
    import torch

    key = "model.quantization.load_in_4bit"
    problems = []
    if not torch.cuda.is_available():
        problems.append((key, "needs CUDA: bitsandbytes' 4-bit kernels run on NVIDIA GPUs, and "
                              "this machine has none; set it to false (LoRA in fp32 on CPU)"))
    if importlib.util.find_spec("bitsandbytes") is None:
        problems.append((key, f"needs bitsandbytes: pip install 't2s[{EXTRA}]'"))
    return problems


def bnb_config(quantization: QuantizationConfig):
    """transformers' BitsAndBytesConfig for ``model.quantization``."""
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type=quantization.quant_type,
        bnb_4bit_use_double_quant=quantization.double_quant,
        bnb_4bit_compute_dtype=getattr(torch, quantization.compute_dtype))
