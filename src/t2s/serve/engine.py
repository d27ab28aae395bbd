"""``serve.engine``: the adapters generate through an OpenAI-compatible engine (vLLM).

t2s keeps the prompt (each adapter's own, from its folder), SQL extraction,
execution, auth, cache, metrics and the request log; the engine only continues
text (:class:`~t2s.inference.openai_backend.OpenAIBackend`, one per adapter,
each naming its engine model).

An adapter loaded at start is the engine's model of the same name when the
engine lists one (``t2s engine`` names its ``--lora-modules`` as t2s does);
any other, and every adapter the admin route loads, is loaded into the engine
through vLLM's runtime LoRA API (``VLLM_ALLOW_RUNTIME_LORA_UPDATING``, which
``t2s engine`` sets) under a name unique to its content, ``NAME-<sha256[:12]>``.
So a replacement never overwrites the weights a request in flight uses: the
t2s name points at the new engine name once it is loaded, and the old engine
name is unloaded when no adapter points at it and its last request is done
(:class:`EngineNames`). vLLM 0.32's routes (``entrypoints/serve/lora``):
``POST /v1/load_lora_adapter {"lora_name", "lora_path"}`` answers 200 with
text, 400 "has already been loaded" for a name it has (here: the same content,
so it is used as it is); ``POST /v1/unload_lora_adapter {"lora_name"}`` answers
404 for a name it does not have (here: already gone). Without the runtime API
the engine answers 404 on both routes: a clear refusal.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from pathlib import Path

from t2s.errors import T2SError
from t2s.inference.openai_backend import CHECK_TIMEOUT_S, EngineClient, EngineError

log = logging.getLogger(__name__)

# vLLM's 400 for a LoRA name it already holds (entrypoints/openai/models/serving.py).
_ALREADY_LOADED = "has already been loaded"


class EngineRefusedError(T2SError):
    """The engine did not load or unload a LoRA adapter; ``unavailable``: it could not be reached."""

    def __init__(self, message: str, unavailable: bool = False) -> None:
        super().__init__(message)
        self.unavailable = unavailable


def engine_name(name: str, sha256: str) -> str:
    """The engine's name for an adapter's content: ``NAME-<first 12 hex digits>``."""
    return f"{name}-{sha256[:12]}"


class EngineLoras:
    """The engine's models, and its runtime LoRA load and unload.

    Args:
        client: The engine's HTTP client.
    """

    def __init__(self, client: EngineClient) -> None:
        self.client = client

    @property
    def endpoint(self) -> str:
        return self.client.endpoint

    def served(self) -> set[str]:
        """The model names the engine lists in ``/v1/models``.

        Raises:
            EngineRefusedError: if the engine cannot be reached.
        """
        try:
            reply = self.client.request("/v1/models", timeout_s=CHECK_TIMEOUT_S, retries=0)
        except EngineError as exc:
            raise EngineRefusedError(f"serve.engine: {exc}", exc.unavailable) from None
        return {str(entry.get("id")) for entry in reply.get("data", []) if isinstance(entry, dict)}

    def load(self, name: str, path: Path) -> None:
        """Load the LoRA folder ``path`` under ``name`` (a name the engine has is kept).

        Raises:
            EngineRefusedError: with the engine's reason (no runtime LoRA API, a
                rank above ``--max-lora-rank``, another base ...).
        """
        body = {"lora_name": name, "lora_path": str(path.resolve())}
        try:
            self.client.request("/v1/load_lora_adapter", body, timeout_s=CHECK_TIMEOUT_S,
                                json_reply=False)
        except EngineError as exc:
            if exc.status == 400 and _ALREADY_LOADED in str(exc):
                return
            raise EngineRefusedError(_refusal("load", name, exc), exc.unavailable) from None
        log.info("engine %s: LoRA %s loaded", self.endpoint, name)

    def unload(self, name: str) -> None:
        """Unload ``name`` from the engine (a name it does not have is already gone).

        Raises:
            EngineRefusedError: if the engine refuses or cannot be reached.
        """
        try:
            self.client.request("/v1/unload_lora_adapter", {"lora_name": name},
                                timeout_s=CHECK_TIMEOUT_S, json_reply=False)
        except EngineError as exc:
            if exc.status == 404 and "cannot be found" in str(exc):
                return
            raise EngineRefusedError(_refusal("unload", name, exc), exc.unavailable) from None
        log.info("engine %s: LoRA %s unloaded", self.endpoint, name)


def _refusal(action: str, name: str, exc: EngineError) -> str:
    hint = ""
    if exc.status in (404, 405):
        hint = (" (the engine has no runtime LoRA API: start vLLM with "
                "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True, as `t2s engine` does)")
    return f"the engine refused to {action} LoRA {name!r}: {exc}{hint}"


class EngineNames:
    """Which engine names are in use, and unloading the ones t2s loaded once they are not.

    A name is in use while an adapter of the registry points at it (``point``
    / ``unpoint``) or a request generates with it (``hold`` / ``release``).
    Only names t2s loaded itself (``own``) are unloaded; the engine's own
    (``--lora-modules``) stay. Unloading runs on a thread of its own, so a
    request finishing on the event loop never waits for it.

    Args:
        loras: The engine.
    """

    def __init__(self, loras: EngineLoras) -> None:
        self.loras = loras
        self._lock = threading.Condition()
        self._pointed: Counter[str] = Counter()
        self._held: Counter[str] = Counter()
        self._owned: set[str] = set()
        self._unloading: set[str] = set()
        self.unloaded: list[str] = []  # in order, for tests and the log

    def claim(self, name: str) -> None:
        """Mark ``name`` as t2s's to unload, after an unload of it still running is done.

        So loading a content again right after its last use never races that
        use's unload (which would take the new adapter's weights).
        """
        with self._lock:
            self._lock.wait_for(lambda: name not in self._unloading, CHECK_TIMEOUT_S)
            self._owned.add(name)

    def point(self, name: str) -> None:
        with self._lock:
            self._pointed[name] += 1

    def unpoint(self, name: str) -> None:
        self._change(self._pointed, name)

    def hold(self, name: str) -> None:
        with self._lock:
            self._held[name] += 1

    def release(self, name: str) -> None:
        self._change(self._held, name)

    def forget(self, name: str) -> None:
        """Unload ``name`` if t2s loaded it and nothing uses it (a load that failed later)."""
        self._change(None, name)

    def _change(self, counts: Counter[str] | None, name: str) -> None:
        with self._lock:
            if counts is not None:
                counts[name] -= 1
            unused = self._pointed[name] <= 0 and self._held[name] <= 0
            if not unused or name not in self._owned:
                return
            self._owned.discard(name)
            self._unloading.add(name)
        threading.Thread(target=self._unload, args=(name,), name="t2s-engine-unload",
                         daemon=True).start()

    def _unload(self, name: str) -> None:
        try:
            self.loras.unload(name)
        except EngineRefusedError as exc:
            log.warning("%s", exc)
        with self._lock:
            self._unloading.discard(name)
            self.unloaded.append(name)
            self._lock.notify_all()

    def wait_unloaded(self, name: str, timeout_s: float) -> bool:
        """Wait until ``name`` has been unloaded (or its unload failed); False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: name in self.unloaded, timeout_s)
