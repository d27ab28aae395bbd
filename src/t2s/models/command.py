"""``t2s base``: write a local base model of a real family from a real tokenizer.

    t2s base --tokenizer-gguf ../shared/data/tokenizers/ggml-vocab-llama-spm.gguf \\
        --arch tinyllama --out outputs/bases/llama-spm-small          # shrunken, CPU
    t2s base --tokenizer-gguf ../shared/data/tokenizers/ggml-vocab-llama-spm.gguf \\
        --arch tinyllama --full-size --dtype bfloat16 --out outputs/bases/tinyllama-1.1b
    t2s base --tokenizer-gguf ../shared/data/tokenizers/ggml-vocab-qwen2.gguf \\
        --arch qwen2 --layers 4 --hidden 128 --out outputs/bases/qwen2-small

Then ``t2s train model.name_or_path=outputs/bases/llama-spm-small``: the folder
loads through the same code as a hub id. Weights are random (see
:mod:`t2s.models.base`); the tokenizer, vocabulary and architecture are real.
"""

from __future__ import annotations

import argparse

from t2s.cli_args import positive_int
from t2s.models.base import build_base, shape_for


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this sub-command's options to ``parser``."""
    parser.add_argument("--tokenizer-gguf", required=True, metavar="FILE",
                        help="vocab-only GGUF file holding the real tokenizer")
    parser.add_argument("--arch", required=True, choices=["tinyllama", "qwen2"],
                        help="model family: tinyllama (LlamaForCausalLM) or qwen2 (Qwen2ForCausalLM)")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to write")
    parser.add_argument("--full-size", action="store_true",
                        help="the real shape (TinyLlama-1.1B / Qwen2.5-Coder-1.5B) instead of "
                             "the shrunken default (2 layers, width 64)")
    parser.add_argument("--layers", type=positive_int, help="number of transformer layers")
    parser.add_argument("--hidden", type=positive_int, help="hidden size")
    parser.add_argument("--heads", type=positive_int, help="attention heads")
    parser.add_argument("--kv-heads", type=positive_int, help="key/value heads")
    parser.add_argument("--intermediate", type=positive_int, help="MLP intermediate size")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                        help="weights dtype on disk (default: float32)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")


def run(args: argparse.Namespace) -> int:
    """Build the base folder and print its shape; returns the exit status.

    Raises:
        InputError: for a missing or unreadable tokenizer file or an impossible shape.
    """
    shape = shape_for(args.arch, args.full_size, num_hidden_layers=args.layers,
                      hidden_size=args.hidden, num_attention_heads=args.heads,
                      num_key_value_heads=args.kv_heads, intermediate_size=args.intermediate)
    out = build_base(args.tokenizer_gguf, args.arch, args.out, shape, seed=args.seed,
                     dtype=args.dtype)
    print(f"[t2s] {args.arch} base ({shape.num_hidden_layers} layers, hidden {shape.hidden_size}) "
          f"-> {out}\n[t2s] use it with: model.name_or_path={out}")
    return 0
