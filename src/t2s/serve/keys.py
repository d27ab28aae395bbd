"""The API keys a server accepts, from the config and the environment (no web framework).

``serve.api_keys`` (YAML or ``serve.api_keys=[...]`` on the command line) and
the variable named by ``serve.api_key_env`` (``T2S_API_KEY``) are the client
keys. A key is never printed: :class:`ApiKeys` hides them from ``repr``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from t2s.config import ServeConfig


@dataclass(frozen=True)
class ApiKeys:
    """The keys a server accepts (none: no authentication, loopback only).

    Attributes:
        client: Keys of every route but the public ones.
    """

    client: tuple[str, ...] = ()

    def __repr__(self) -> str:
        # Secrets never reach a log line or a traceback through repr().
        return f"ApiKeys(client=<{len(self.client)} keys>)"


def configured_keys(serve: ServeConfig) -> ApiKeys:
    """``serve.api_keys`` plus the key in ``$serve.api_key_env``, if set."""
    client = list(serve.api_keys)
    from_env = os.environ.get(serve.api_key_env, "").strip() if serve.api_key_env else ""
    if from_env:
        client.append(from_env)
    return ApiKeys(client=tuple(client))
