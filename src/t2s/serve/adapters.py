"""Adapters by name: loaded at start or through the admin endpoint, swapped without a pause.

Each adapter is loaded as its own :class:`~t2s.inference.pipeline.Predictor`
(one model per adapter, through :func:`~t2s.inference.pipeline.build_predictor`
with ``infer.adapter_path`` pointing at it), so every adapter builds its prompts
exactly as its training did and brings its own tokenizer. Memory: one base copy
per adapter (2.2 GB per adapter for TinyLlama in bf16); fine for a handful.

Hot swap: loading happens off the event loop, and the name is pointed at the
new :class:`Adapter` only once it is loaded; unloading just drops the name. A
request holds a reference to the Adapter it started with, so a swap or an
unload never takes the model from under a request in flight; the old model is
freed when its last request is done.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from t2s.config import Config, Decoding
from t2s.data.spider import SpiderDataset
from t2s.errors import T2SError
from t2s.inference.pipeline import Predictor, build_predictor, describe_model

log = logging.getLogger(__name__)

# Builds the predictor of one adapter: build_predictor in production; tests
# pass one that wraps a scripted backend.
PredictorLoader = Callable[[Config, SpiderDataset | None], Predictor]


@dataclass(frozen=True)
class Adapter:
    """A loaded adapter.

    Attributes:
        name: What requests call it.
        path: Its folder.
        sha256: Content hash of the folder (weights + configs).
        base: The base model it sits on.
        predictor: Prompts and generation for it.
        options: Its decoding settings from the config (the batcher derives
            each batch's settings from these).
        loaded_at: Unix time of the load.
    """

    name: str
    path: Path
    sha256: str
    base: str
    predictor: Predictor
    options: Decoding
    loaded_at: float

    @property
    def model_hash(self) -> str:
        """Short content hash shown in responses (first 16 hex digits of ``sha256``)."""
        return self.sha256[:16]

    def describe(self) -> dict:
        """JSON-ready facts for ``/v1/models`` and admin replies (no server path in them)."""
        return {"name": self.name, "base": public_model_name(self.base), "sha256": self.sha256,
                "model_hash": self.model_hash, "prompt_format": self.predictor.prompt_format,
                "loaded_at": round(self.loaded_at, 3)}


def public_model_name(name_or_path: str) -> str:
    """A base model as a client may see it: a hub id as it is, a local folder by its name.

    ``base_model_name_or_path`` is a hub id (``TinyLlama/TinyLlama-1.1B-Chat-v1.0``)
    or a folder of this machine (``/home/me/models/tiny-base``); the folder's
    path says nothing a client needs and tells how the server's disk is laid out.
    """
    path = Path(name_or_path).expanduser()
    if path.is_absolute() or name_or_path.startswith((".", "~")) or path.is_dir():
        return path.name
    return name_or_path


class UnknownAdapterError(T2SError):
    """A request or admin call named an adapter that is not loaded."""


class AdapterRegistry:
    """The loaded adapters, by name.

    Args:
        config: The server's config; each adapter gets a copy with its own
            ``infer.adapter_path``.
        dataset: The Spider-format dataset for ``db_id`` questions, or None.
        loader: Builds a predictor (default :func:`build_predictor`).
    """

    def __init__(self, config: Config, dataset: SpiderDataset | None = None,
                 loader: PredictorLoader = build_predictor) -> None:
        self.config = config
        self.dataset = dataset
        self.loader = loader
        self._adapters: dict[str, Adapter] = {}
        self._lock = threading.Lock()

    def load(self, name: str, path: str | Path) -> Adapter:
        """Load the adapter at ``path`` under ``name`` (replacing one of that name).

        Blocking (seconds for a real model): call it off the event loop.

        Raises:
            T2SError: if the folder is missing or the model cannot be loaded.
        """
        path = Path(path)
        config = dataclasses.replace(
            self.config, infer=dataclasses.replace(self.config.infer, adapter_path=str(path)))
        facts = describe_model(config)  # raises T2SError for a missing folder
        started = time.perf_counter()
        predictor = self.loader(config, self.dataset)
        adapter = Adapter(name=name, path=path, sha256=facts["adapter_sha256"],
                          base=facts["base"], predictor=predictor,
                          options=predictor.backend.decoding,
                          loaded_at=time.time())
        with self._lock:
            replaced = self._adapters.get(name)
            self._adapters[name] = adapter
        log.info("adapter %s loaded from %s in %.1f s (sha256 %s)%s", name, path,
                 time.perf_counter() - started, adapter.model_hash,
                 f", replacing {replaced.model_hash}" if replaced else "")
        return adapter

    def unload(self, name: str) -> Adapter:
        """Forget ``name``; requests already holding it finish with it.

        Raises:
            UnknownAdapterError: if no adapter has that name.
        """
        with self._lock:
            adapter = self._adapters.pop(name, None)
        if adapter is None:
            raise UnknownAdapterError(f"no adapter named {name!r} is loaded")
        log.info("adapter %s unloaded", name)
        return adapter

    def get(self, name: str) -> Adapter:
        """The adapter called ``name``.

        Raises:
            UnknownAdapterError: naming the loaded adapters.
        """
        with self._lock:
            adapter = self._adapters.get(name)
            names = sorted(self._adapters)
        if adapter is None:
            raise UnknownAdapterError(
                f"no adapter named {name!r}; loaded: {', '.join(names) or 'none'}")
        return adapter

    def all(self) -> list[Adapter]:
        """Every loaded adapter, by name."""
        with self._lock:
            return [self._adapters[n] for n in sorted(self._adapters)]

    def __contains__(self, name: str) -> bool:
        with self._lock:
            return name in self._adapters
