"""Many LoRA adapters on one base model in memory, chosen per prompt.

:class:`SharedBase` loads a base model once and loads adapters into one PEFT
model (``PeftModel.load_adapter(dir, adapter_name=slot)``); each adapter gets a
:class:`~t2s.inference.generate.SQLGenerator` of its own (its own tokenizer,
chat template and decoding) whose ``generate`` names its slot through peft's
``adapter_names`` argument. One ``generate`` call may mix adapters of one base:
peft (>= 0.10, checked on 0.21) runs the base layers once for the whole batch
and adds each row's LoRA delta from the adapter named for that row.
Memory: one base plus the adapters' LoRA weights (a rank-8 LoRA of SmolLM2-135M
is ~1.8 MB in fp32, against 540 MB for the base; BENCHMARKS.md "Serving memory").

Slots are never reused: a replaced or unloaded adapter keeps its slot until
its generator is garbage-collected (no request holds it any more), then the
slot is deleted from the PEFT model at the next load or generation, under the
model lock. So a request in flight keeps the weights it started with.

The model lock (this object is the context manager the generators enter)
serializes generation and adapter loading: ``load_adapter`` adds modules to
the PEFT model, which a forward on another thread must not see half done.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import threading
import warnings
import weakref
from pathlib import Path
from typing import Any

from t2s.config import DataConfig, InferConfig, ModelConfig, resolve_precision
from t2s.data.chat_templates import setup_chat_template
from t2s.errors import T2SError
from t2s.inference.generate import SQLGenerator
from t2s.models.loading import is_adapter_folder, load_base_model, load_tokenizer

log = logging.getLogger(__name__)

# serve/ may not import models/: it asks here whether a folder is an adapter.
__all__ = ["SharedBase", "adapter_base", "base_key", "is_adapter_folder"]


def adapter_base(path: str | Path) -> str:
    """The base model an adapter folder names (``base_model_name_or_path``).

    Raises:
        T2SError: if the folder holds no readable ``adapter_config.json`` or it names no base.
    """
    config_file = Path(path) / "adapter_config.json"
    try:
        base = json.loads(config_file.read_text(encoding="utf-8")).get("base_model_name_or_path")
    except (OSError, ValueError) as exc:
        raise T2SError(f"{config_file}: not a readable LoRA adapter config ({exc})") from None
    if not base:
        raise T2SError(f"{config_file} names no base model (base_model_name_or_path)")
    return base


def base_key(base: str) -> str:
    """What two adapters must share to share a base: a local folder by its resolved path,
    a hub id as written."""
    path = Path(base).expanduser()
    return str(path.resolve()) if path.is_dir() else base


class SharedBase:
    """One base model with any number of LoRA adapters loaded into one PEFT model.

    Args:
        base: The base model (hub id or folder), as the adapters record it.
        model_config: Dtype and loading options.
        precision: ``infer.precision`` (resolved against the hardware here).
    """

    def __init__(self, base: str, model_config: ModelConfig, precision: str = "auto") -> None:
        import torch

        self.base = base
        self.model_config = model_config
        self.cuda = torch.cuda.is_available()
        self.precision = resolve_precision(precision, self.cuda,
                                           self.cuda and torch.cuda.is_bf16_supported(),
                                           key="infer.precision")
        self.model: Any = None  # the PeftModel, made with the first adapter
        self._base_model = load_base_model(model_config, base, self.precision)
        if self.cuda:
            self._base_model = self._base_model.to("cuda")
        self._lock = threading.RLock()
        self._slots = itertools.count(1)
        self._retired: list[str] = []  # appended by finalizers (any thread), read under the lock

    def __enter__(self) -> SharedBase:
        self._lock.acquire()
        try:
            self._purge()
        except BaseException:
            self._lock.release()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()

    @property
    def slots(self) -> list[str]:
        """The adapter slots in the PEFT model now (retired ones until purged)."""
        with self._lock:
            return sorted(self.model.peft_config) if self.model is not None else []

    def add(self, infer: InferConfig, data: DataConfig) -> SQLGenerator:
        """Load the adapter at ``infer.adapter_path`` into a new slot; its generator.

        Raises:
            T2SError: if the adapter names another base or cannot be loaded.
            ConfigError: if its chat format meets a tokenizer without a template.
        """
        from peft import PeftModel

        path = Path(infer.adapter_path)
        theirs = adapter_base(path)
        if base_key(theirs) != base_key(self.base):
            raise T2SError(f"adapter {path} is for base {theirs!r}, not {self.base!r}")
        tokenizer_source = str(path) if (path / "tokenizer_config.json").is_file() else self.base
        tokenizer = load_tokenizer(tokenizer_source)
        setup_chat_template(tokenizer, data.prompt_format, data.prompt, str(path))
        slot = f"slot{next(self._slots)}"
        with self:
            try:
                if self.model is None:
                    self.model = PeftModel.from_pretrained(self._base_model, str(path),
                                                           adapter_name=slot)
                else:
                    self.model.load_adapter(str(path), adapter_name=slot)
            except (OSError, ValueError, RuntimeError, KeyError) as exc:
                raise T2SError(f"could not load adapter {path} onto {self.base!r}: "
                               f"{type(exc).__name__}: {exc}") from None
            self.model.eval()
        generator = SQLGenerator(self.model, tokenizer, dataclasses.replace(infer.decoding),
                                 adapter_name=slot, model_lock=self)
        weakref.finalize(generator, self._retired.append, slot)
        log.info("adapter %s loaded onto the shared base %s as %s", path, self.base, slot)
        return generator

    def _purge(self) -> None:
        """Delete the slots of collected generators (called with the lock held)."""
        if self.model is None:
            return
        kept = []
        for slot in list(self._retired):
            self._retired.remove(slot)
            if slot not in self.model.peft_config:
                continue
            if len(self.model.peft_config) == 1:
                kept.append(slot)  # a PEFT model keeps one adapter; the next load frees it
                continue
            with warnings.catch_warnings():
                # "Adapter slotN was active which is now deleted": no slot is "active"
                # here, every generate names its own.
                warnings.simplefilter("ignore")
                self.model.delete_adapter(slot)
            log.info("slot %s of %s deleted (its last request is done)", slot, self.base)
        self._retired.extend(kept)
