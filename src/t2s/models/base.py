"""Local base models of real families, built from a real tokenizer with random weights.

No weights can be downloaded here, but the real tokenizers can be read from
vocab-only GGUF files (``../shared/data/tokenizers``). :func:`build_base` writes
an ordinary Hugging Face folder — the real tokenizer saved as ``tokenizer.json``
and a ``LlamaForCausalLM`` / ``Qwen2ForCausalLM`` with random weights — so that
``model.name_or_path: <folder>`` runs exactly the code that loads
``TinyLlama/TinyLlama-1.1B-Chat-v1.0`` from the hub. Full size has the real
shape (TinyLlama-1.1B: 1.1 B parameters, 4.4 GB in fp32); shrunken copies keep
the real vocabulary (32,000 / 151,936 rows, so the LM head costs what it costs
for real models) and shrink the transformer.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from t2s.errors import InputError
from t2s.provenance import file_sha256, write_json_atomic

log = logging.getLogger(__name__)

MARKER_FILE = "t2s_base.json"


@dataclass(frozen=True)
class BaseShape:
    """The transformer's shape; the vocabulary always comes from the tokenizer."""

    num_hidden_layers: int
    hidden_size: int
    num_attention_heads: int
    num_key_value_heads: int
    intermediate_size: int
    max_position_embeddings: int
    rope_theta: float
    rms_norm_eps: float
    tie_word_embeddings: bool


# The real shapes, from the published config.json of each model.
FULL_SHAPES: dict[str, BaseShape] = {
    # TinyLlama/TinyLlama-1.1B-Chat-v1.0 (Llama-2 SentencePiece vocabulary, 32,000).
    "tinyllama": BaseShape(num_hidden_layers=22, hidden_size=2048, num_attention_heads=32,
                           num_key_value_heads=4, intermediate_size=5632,
                           max_position_embeddings=2048, rope_theta=10000.0, rms_norm_eps=1e-5,
                           tie_word_embeddings=False),
    # Qwen/Qwen2.5-Coder-1.5B (Qwen2 byte-level BPE vocabulary, 151,936).
    "qwen2": BaseShape(num_hidden_layers=28, hidden_size=1536, num_attention_heads=12,
                       num_key_value_heads=2, intermediate_size=8960,
                       max_position_embeddings=32768, rope_theta=1000000.0, rms_norm_eps=1e-6,
                       tie_word_embeddings=True),
}

# Shrunken default: 2 layers of width 64 with grouped-query attention (4 query
# heads, 2 KV heads, as the real models group them), a few seconds per step on CPU.
SMALL = {"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
         "num_key_value_heads": 2, "intermediate_size": 128, "max_position_embeddings": 2048}


def shape_for(arch: str, full_size: bool = False, **overrides: int) -> BaseShape:
    """The shape of ``arch``: the real one (``full_size``) or the shrunken default, plus overrides.

    Raises:
        InputError: for an unknown ``arch``, or heads that do not divide the width.
    """
    if arch not in FULL_SHAPES:
        raise InputError(f"unknown architecture {arch!r}; choose one of {', '.join(FULL_SHAPES)}")
    shape = FULL_SHAPES[arch] if full_size else replace(FULL_SHAPES[arch], **SMALL)
    shape = replace(shape, **{k: v for k, v in overrides.items() if v is not None})
    if shape.hidden_size % shape.num_attention_heads:
        raise InputError(f"hidden size {shape.hidden_size} is not divisible by "
                         f"{shape.num_attention_heads} attention heads")
    if shape.num_attention_heads % shape.num_key_value_heads:
        raise InputError(f"{shape.num_attention_heads} attention heads are not a multiple of "
                         f"{shape.num_key_value_heads} key/value heads")
    return shape


def load_gguf_tokenizer(gguf_file: str | Path):
    """The tokenizer stored in a (vocab-only) GGUF file, with a pad token.

    Raises:
        InputError: if the file is missing or cannot be read as a tokenizer.
    """
    from transformers import AutoTokenizer

    path = Path(gguf_file)
    if not path.is_file():
        raise InputError(f"tokenizer file {path} does not exist")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    except (OSError, ValueError, KeyError, ImportError) as exc:
        raise InputError(f"could not read a tokenizer from {path} ({type(exc).__name__}: {exc}); "
                         "is the gguf package installed (pip install 't2s[real]')?") from None
    if tokenizer.pad_token is None:
        # Llama has no pad token; t2s.models.loading.load_tokenizer does the same at every load.
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def model_config(arch: str, shape: BaseShape, tokenizer):
    """A transformers config of ``arch`` with ``shape`` and the tokenizer's vocabulary."""
    from transformers import LlamaConfig, Qwen2Config

    cls = LlamaConfig if arch == "tinyllama" else Qwen2Config
    fields = asdict(shape)
    return cls(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
               eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
               **fields)


def build_base(gguf_file: str | Path, arch: str, out: str | Path, shape: BaseShape,
               seed: int = 0, dtype: str = "float32") -> Path:
    """Write an HF-format base folder: the real tokenizer + a random-weight model.

    Rebuilding with the same inputs is skipped (``t2s_base.json`` records them).

    Raises:
        InputError: if the tokenizer cannot be read or ``out`` is a file.
    """
    import torch
    from transformers import AutoModelForCausalLM

    out = Path(out)
    if not Path(gguf_file).is_file():
        raise InputError(f"tokenizer file {gguf_file} does not exist")
    if out.is_file():
        raise InputError(f"--out {out} is a file, not a folder")
    identity = {"gguf_sha256": file_sha256(Path(gguf_file)), "arch": arch, "shape": asdict(shape),
                "seed": seed, "dtype": dtype}
    marker = out / MARKER_FILE
    if marker.is_file() and json.loads(marker.read_text()) == identity:
        log.info("base %s is current", out)
        return out
    tokenizer = load_gguf_tokenizer(gguf_file)
    config = model_config(arch, shape, tokenizer)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, dtype))
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(out))
    model.save_pretrained(str(out))
    write_json_atomic(marker, identity)
    return out

