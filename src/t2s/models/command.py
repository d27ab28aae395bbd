"""``t2s base``: write a local base model: a real pretrained one from a GGUF file, or a
real family with a real tokenizer and random weights.

    t2s base --from-gguf ../shared/data/models/SmolLM2-135M-Instruct.Q4_1.gguf \\
        --out outputs/bases/smollm2-135m-instruct                     # real weights (make real-base)
    t2s base --tokenizer-gguf ../shared/data/tokenizers/ggml-vocab-llama-spm.gguf \\
        --arch tinyllama --out outputs/bases/llama-spm-small          # shrunken, CPU
    t2s base --tokenizer-gguf ../shared/data/tokenizers/ggml-vocab-llama-spm.gguf \\
        --arch tinyllama --full-size --dtype bfloat16 --out outputs/bases/tinyllama-1.1b
    t2s base --tokenizer-gguf ../shared/data/tokenizers/ggml-vocab-qwen2.gguf \\
        --arch qwen2 --layers 4 --hidden 128 --out outputs/bases/qwen2-small

Then ``t2s train model.name_or_path=outputs/bases/llama-spm-small``: the folder
loads through the same code as a hub id. With ``--tokenizer-gguf`` the weights
are random (see :mod:`t2s.models.base`); the tokenizer, vocabulary and
architecture are real. With ``--from-gguf`` everything is the GGUF's, dequantized
(see :mod:`t2s.models.gguf_model`).
"""

from __future__ import annotations

import argparse

from t2s.cli_args import positive_int
from t2s.errors import InputError
from t2s.models.base import build_base, shape_for
from t2s.models.gguf_model import convert_gguf

# Options that shape a random-weight base; a converted model has the GGUF's shape.
_SHAPE_OPTIONS = ("arch", "full_size", "layers", "hidden", "heads", "kv_heads", "intermediate")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this sub-command's options to ``parser``."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-gguf", metavar="FILE",
                        help="a GGUF model file (e.g. SmolLM2-135M-Instruct.Q4_1.gguf): its "
                             "weights dequantized into a plain HF folder")
    source.add_argument("--tokenizer-gguf", metavar="FILE",
                        help="vocab-only GGUF file holding the real tokenizer (random weights)")
    parser.add_argument("--arch", choices=["tinyllama", "qwen2"],
                        help="with --tokenizer-gguf (required there): model family, tinyllama "
                             "(LlamaForCausalLM) or qwen2 (Qwen2ForCausalLM)")
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


def _check_arguments(args: argparse.Namespace) -> None:
    """Refuse options that do not apply to the chosen source.

    Raises:
        InputError: for shape or seed options with --from-gguf, or --tokenizer-gguf
            without --arch.
    """
    if args.from_gguf:
        given = [f"--{name.replace('_', '-')}" for name in (*_SHAPE_OPTIONS, "seed")
                 if getattr(args, name) not in (None, False, 0)]
        if given:
            raise InputError(f"{', '.join(given)}: a model converted with --from-gguf has the "
                             "GGUF's shape and weights; these options are for --tokenizer-gguf")
    elif args.arch is None:
        raise InputError("--tokenizer-gguf needs --arch (tinyllama or qwen2)")


def run(args: argparse.Namespace) -> int:
    """Build (or convert) the base folder and print what it is; returns the exit status.

    Raises:
        InputError: for a missing or unreadable GGUF file, an impossible shape, or
            an ``--out`` folder holding something else.
    """
    _check_arguments(args)
    if args.from_gguf:
        out = convert_gguf(args.from_gguf, args.out, dtype=args.dtype)
        print(f"[t2s] {args.from_gguf} (dequantized, {args.dtype}) -> {out}\n"
              f"[t2s] use it with: model.name_or_path={out}")
        return 0
    shape = shape_for(args.arch, args.full_size, num_hidden_layers=args.layers,
                      hidden_size=args.hidden, num_attention_heads=args.heads,
                      num_key_value_heads=args.kv_heads, intermediate_size=args.intermediate)
    out = build_base(args.tokenizer_gguf, args.arch, args.out, shape, seed=args.seed,
                     dtype=args.dtype)
    print(f"[t2s] {args.arch} base ({shape.num_hidden_layers} layers, hidden {shape.hidden_size}) "
          f"-> {out}\n[t2s] use it with: model.name_or_path={out}")
    return 0
