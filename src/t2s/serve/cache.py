"""An LRU + TTL response cache keyed by model, full prompt and decoding settings.

Greedy decoding is deterministic for a given model and prompt, so a repeated
request can be answered from memory. The key holds everything the answer
depends on: the adapter's content hash (a retrained adapter under the same name
misses), the full prompt (schema text included, so a changed database schema
misses) and the decoding settings.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any


def cache_key(model_hash: str, prompt: Any, decoding: dict[str, Any]) -> str:
    """A stable key for (model, prompt, decoding); the prompt is a string or chat messages."""
    payload = json.dumps([model_hash, prompt, decoding], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class ResponseCache:
    """Size-bounded LRU with a time to live; safe to share between threads.

    Args:
        max_entries: Entries kept at most (0: cache nothing).
        ttl_s: Seconds an entry stays valid.
        clock: Monotonic clock (tests pass a fake one).
    """

    def __init__(self, max_entries: int, ttl_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self.clock = clock
        self._items: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Any | None:
        """The cached value, or None when absent or expired (counted as a miss)."""
        with self._lock:
            item = self._items.get(key)
            if item is not None and item[0] > self.clock():
                self._items.move_to_end(key)
                self.hits += 1
                return item[1]
            if item is not None:
                del self._items[key]
            self.misses += 1
            return None

    def put(self, key: str, value: Any) -> None:
        """Store ``value``; the least recently used entry goes when full."""
        if self.max_entries <= 0:
            return
        with self._lock:
            self._items[key] = (self.clock() + self.ttl_s, value)
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    @property
    def hit_ratio(self) -> float:
        """Hits over lookups (0 before the first lookup)."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0
