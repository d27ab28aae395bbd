"""``t2s export --merge --out DIR``: fold a LoRA adapter into its base model for serving.

::

    t2s export --merge --out outputs/merged
    t2s export --merge --out /models/t2s-v3 --config configs/config.yaml infer.adapter_path=runs/v3/final_model

The merged folder is a plain Hugging Face model (weights as safetensors) plus
the tokenizer, loadable without peft (``infer.adapter_path=DIR`` works too), so
serving skips the adapter's extra matmuls (``bench/bench_infer.py`` on the tiny
model, 1 CPU thread: single-question p50 441 ms with the adapter vs 352 ms
merged). ``export_info.json`` records which adapter (and its
fingerprint) it came from. The folder is written to ``DIR.partial`` and renamed
when complete, so a killed export never leaves a half model under ``DIR``.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from t2s.cli_args import add_config_arguments, config_path, setup_logging
from t2s.config import load_config, resolve_precision
from t2s.errors import InputError, T2SError
from t2s.models.loading import is_adapter_folder, load_trained
from t2s.outputs import check_output_dir, check_output_folder
from t2s.provenance import environment, folder_sha256, write_json_atomic


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``t2s export``."""
    parser.add_argument("--merge", action="store_true",
                        help="merge the LoRA adapter (infer.adapter_path) into its base model")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to write")
    parser.add_argument("--force", action="store_true", help="replace DIR if it exists")
    add_config_arguments(parser)


def export_merged(adapter_path: str | Path, out: str | Path, model_config=None,
                  precision: str = "fp32", force: bool = False) -> Path:
    """Merge an adapter into its base and save model + tokenizer to ``out``.

    Args:
        adapter_path: A PEFT adapter folder (``outputs/final_model``).
        out: Destination folder.
        model_config: Loading options (:class:`t2s.config.ModelConfig`).
        precision: Dtype when ``model.dtype`` is ``auto`` (``fp32``/``bf16``/``fp16``).
        force: Replace ``out`` if it exists.

    Returns:
        ``out`` as a Path.

    Raises:
        T2SError: if ``adapter_path`` is not an adapter folder, ``out`` exists
            without ``force``, or loading fails.
    """

    adapter_path, out = Path(adapter_path), Path(out)
    if not adapter_path.is_dir():
        raise T2SError(f"adapter folder {adapter_path} does not exist; train first or set "
                       "infer.adapter_path")
    if not is_adapter_folder(adapter_path):
        raise T2SError(f"{adapter_path} holds a full model, not a LoRA adapter: there is "
                       "nothing to merge; serve it as it is")
    if out.exists() and any(out.iterdir()) and not force:
        raise T2SError(f"{out} exists and is not empty; choose another --out or pass --force")
    model, tokenizer = load_trained(adapter_path, model_config, precision=precision)
    base = model.peft_config["default"].base_model_name_or_path
    merged = model.merge_and_unload()
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    merged.save_pretrained(str(staging), safe_serialization=True)
    tokenizer.save_pretrained(str(staging))
    if (adapter_path / "config.yaml").is_file():
        # Keep the training config beside the weights: data.prompt_format and
        # data.schema must match at inference.
        shutil.copy2(adapter_path / "config.yaml", staging / "config.yaml")
    write_json_atomic(staging / "export_info.json", {
        "merged_from": str(adapter_path.resolve()),
        "adapter_sha256": folder_sha256(adapter_path),
        "base_model": base,
        "dtype": str(merged.dtype).removeprefix("torch."),
        "environment": environment(),
    })
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    return out


def run(args: argparse.Namespace) -> int:
    """Merge ``infer.adapter_path`` into its base and save it to ``--out``.

    Raises:
        InputError: without ``--merge``, or if ``--out`` is not empty and
            ``--force`` is not given (checked before the model loads).
    """
    if args.force:
        check_output_dir(args.out, "--out")
    else:
        check_output_folder(args.out, "--out", force="--force")
    import torch

    setup_logging()
    if not args.merge:
        raise InputError("t2s export writes a merged model; pass --merge "
                         "(an adapter folder can be served as it is)")
    config = load_config(config_path(args.config), args.overrides)
    cuda = torch.cuda.is_available()
    precision = resolve_precision(config.infer.precision, cuda,
                                  cuda and torch.cuda.is_bf16_supported(), key="infer.precision")
    out = export_merged(config.infer.adapter_path, args.out, config.model, precision, args.force)
    print(f"[t2s] merged {config.infer.adapter_path} into its base model -> {out} "
          f"(use infer.adapter_path={out})")
    return 0
