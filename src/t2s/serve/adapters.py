"""Adapters by name: loaded at start or through the admin endpoint, swapped without a pause.

Each adapter is its own :class:`~t2s.inference.pipeline.Predictor` (through
:func:`~t2s.inference.pipeline.build_predictor` with ``infer.adapter_path``
pointing at it, and the prompt settings saved in its folder,
:func:`~t2s.inference.adapter_prompt.apply_model_prompt`), so every adapter
builds its prompts exactly as its training did and brings its own tokenizer.

One base in memory (``infer.backend=hf``): LoRA adapters that name the same base
(``base_model_name_or_path``, a local folder by its resolved path) are loaded
into one PEFT model on one copy of it (:class:`~t2s.inference.shared_base.SharedBase`)
and mix in one micro-batch. An adapter of another base gets a base group of its
own (a second base in memory) rather than a refusal: one server may serve, say,
SmolLM2 and Qwen adapters; a base is freed when its last adapter is. Memory is
one base per distinct base plus each adapter's LoRA weights (BENCHMARKS.md
"Serving memory": 4 SmolLM2 adapters take about what 1 did, against 4 x 540 MB
with a base per adapter). A merged model (no ``adapter_config.json``) or another
backend (``openai``) loads as before, a model (or an engine client) of its own.

On an engine (``serve.engine``, :mod:`t2s.serve.engine`): each adapter is an
:class:`~t2s.inference.openai_backend.OpenAIBackend` on the engine's model for
it; a replaced adapter's engine name is unloaded once its last request is done.

Hot swap: loading happens off the event loop, and the name is pointed at the
new :class:`Adapter` only once it is loaded; unloading just drops the name. A
request holds a reference to the Adapter it started with, so a swap or an
unload never takes the weights from under a request in flight: a replaced
adapter's LoRA slot stays in the shared model until its last request is done.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from t2s.config import Config, Decoding
from t2s.data.spider import SpiderDataset
from t2s.errors import T2SError
from t2s.inference.adapter_prompt import apply_model_prompt
from t2s.inference.pipeline import Predictor, build_predictor, describe_model
from t2s.inference.shared_base import SharedBase, adapter_base, base_key, is_adapter_folder
from t2s.serve.engine import EngineLoras, EngineNames, engine_name

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
        engine_model: The engine's model for it (``serve.engine``), else None.
    """

    name: str
    path: Path
    sha256: str
    base: str
    predictor: Predictor
    options: Decoding
    loaded_at: float
    engine_model: str | None = None

    @property
    def mix_key(self) -> tuple:
        """Jobs of adapters with equal keys may share one ``generate`` call (the batcher).

        On a shared base: the base and what decoding needs alike (end and pad
        tokens); otherwise this adapter alone.
        """
        backend = self.predictor.backend
        lock = getattr(backend, "model_lock", None)
        if isinstance(lock, SharedBase):
            return (id(lock), tuple(backend.eos_ids), backend.tokenizer.pad_token_id)
        return (id(self),)

    @property
    def model_hash(self) -> str:
        """Short content hash shown in responses (first 16 hex digits of ``sha256``)."""
        return self.sha256[:16]

    def describe(self) -> dict:
        """JSON-ready facts for ``/v1/models`` and admin replies (no server path in them)."""
        facts = {"name": self.name, "base": public_model_name(self.base), "sha256": self.sha256,
                 "model_hash": self.model_hash, "prompt_format": self.predictor.prompt_format,
                 "loaded_at": round(self.loaded_at, 3)}
        if self.engine_model is not None:
            facts["engine_model"] = self.engine_model
        return facts


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
        loader: Builds a predictor; default: LoRA adapters of ``infer.backend=hf``
            on a shared base, anything else through :func:`build_predictor`.
        engine: The engine every adapter generates on (``serve.engine``), or None.
    """

    def __init__(self, config: Config, dataset: SpiderDataset | None = None,
                 loader: PredictorLoader | None = None, engine: EngineLoras | None = None) -> None:
        self.config = config
        self.dataset = dataset
        self.loader = loader
        self.engine = engine
        self.engine_names = EngineNames(engine) if engine is not None else None
        self._adapters: dict[str, Adapter] = {}
        self._lock = threading.Lock()
        # Loads one at a time, so two adapters of a new base make one base, not two.
        self._loading = threading.Lock()
        # Held by the adapters' generators, so a base goes when its last adapter does.
        self._bases: weakref.WeakValueDictionary[str, SharedBase] = weakref.WeakValueDictionary()

    @property
    def bases(self) -> list[SharedBase]:
        """The shared bases in memory now."""
        return list(self._bases.values())

    def _predictor(self, config: Config) -> Predictor:
        if self.loader is not None:
            return self.loader(config, self.dataset)
        path = config.infer.adapter_path
        if config.infer.backend != "hf" or not is_adapter_folder(path):
            return build_predictor(config, self.dataset)
        base = adapter_base(path)
        with self._loading:
            shared = self._bases.get(base_key(base))
            if shared is None:
                shared = SharedBase(base, config.model, config.infer.precision)
                self._bases[base_key(base)] = shared
                log.info("base %s loaded (shared by its adapters)", public_model_name(base))
            backend = shared.add(config.infer, config.data)
        return build_predictor(config, self.dataset, backend)

    def load(self, name: str, path: str | Path, at_start: bool = False) -> Adapter:
        """Load the adapter at ``path`` under ``name`` (replacing one of that name).

        Blocking (seconds for a real model): call it off the event loop.
        ``at_start``: an engine's model named ``name`` is this adapter.

        Raises:
            T2SError: if the folder is missing or the model cannot be loaded.
        """
        adapter = self.prepare(name, path, at_start)
        self.install(adapter)
        return adapter

    def prepare(self, name: str, path: str | Path, at_start: bool = False) -> Adapter:
        """The adapter at ``path``, loaded (into the engine too) but not yet named.

        Raises:
            T2SError: if the folder is missing or the model cannot be loaded;
                EngineRefusedError if the engine does not take it.
        """
        path = Path(path)
        config = dataclasses.replace(
            self.config, infer=dataclasses.replace(self.config.infer, adapter_path=str(path)))
        facts = describe_model(config)  # raises T2SError for a missing folder
        # No setting counts as given: the adapter is prompted as it was trained
        # (a folder without a saved config keeps the server's, with a warning).
        config = apply_model_prompt(config, {})
        started = time.perf_counter()
        model = None
        if self.engine is not None:
            model = self._engine_model(name, path, facts["adapter_sha256"], at_start)
            config = dataclasses.replace(config, infer=dataclasses.replace(
                config.infer, backend="openai", endpoint=self.engine.endpoint, engine_model=model))
        try:
            predictor = self._predictor(config)
        except BaseException:
            if model is not None:
                self.engine_names.forget(model)
            raise
        log.info("adapter %s prepared from %s in %.1f s (sha256 %s)", name, path,
                 time.perf_counter() - started, facts["adapter_sha256"][:16])
        return Adapter(name=name, path=path, sha256=facts["adapter_sha256"], base=facts["base"],
                       predictor=predictor, options=predictor.backend.decoding,
                       loaded_at=time.time(), engine_model=model)

    def _engine_model(self, name: str, path: Path, sha256: str, at_start: bool) -> str:
        """The engine's model for the adapter: its own name at start if the engine has it,
        else its content's name, loaded through the runtime LoRA API."""
        if at_start and name in self.engine.served():
            return name
        if not is_adapter_folder(path):
            raise T2SError(f"adapter {name}: {path} is no LoRA adapter folder; an engine "
                           "loads only LoRAs at runtime (serve a full model as its --model)")
        model = engine_name(name, sha256)
        self.engine_names.claim(model)
        try:
            self.engine.load(model, path)
        except BaseException:
            self.engine_names.forget(model)
            raise
        return model

    def install(self, adapter: Adapter) -> Adapter | None:
        """Point ``adapter.name`` at ``adapter``; the adapter it replaces, if any.

        Call it on the event loop: a request takes its adapter and holds it
        (:meth:`hold`) without awaiting in between, so the replaced one's
        engine name is never unloaded under a request that took it.
        """
        if self.engine_names is not None:
            self.engine_names.point(adapter.engine_model)
        with self._lock:
            replaced = self._adapters.get(adapter.name)
            self._adapters[adapter.name] = adapter
        if replaced is not None and self.engine_names is not None:
            self.engine_names.unpoint(replaced.engine_model)
        log.info("adapter %s loaded from %s (sha256 %s)%s", adapter.name, adapter.path,
                 adapter.model_hash, f", replacing {replaced.model_hash}" if replaced else "")
        return replaced

    @contextmanager
    def hold(self, adapter: Adapter) -> Iterator[Adapter]:
        """Keep ``adapter``'s engine model loaded while the block generates with it."""
        if self.engine_names is None or adapter.engine_model is None:
            yield adapter
            return
        self.engine_names.hold(adapter.engine_model)
        try:
            yield adapter
        finally:
            self.engine_names.release(adapter.engine_model)

    def unload(self, name: str) -> Adapter:
        """Forget ``name``; requests already holding it finish with it.

        Raises:
            UnknownAdapterError: if no adapter has that name.
        """
        with self._lock:
            adapter = self._adapters.pop(name, None)
        if adapter is None:
            raise UnknownAdapterError(f"no adapter named {name!r} is loaded")
        if self.engine_names is not None:
            self.engine_names.unpoint(adapter.engine_model)
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
