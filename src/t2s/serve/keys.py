"""The API keys a server accepts, from the config and the environment (no web framework).

Client keys: ``serve.api_keys`` (YAML, or ``serve.api_keys=[...]`` on the command
line) plus the variable named by ``serve.api_key_env`` (``T2S_API_KEY``). Admin
keys, for ``/admin/...`` only: ``serve.admin_api_keys`` plus
``serve.admin_api_key_env`` (``T2S_ADMIN_API_KEY``). A key is never printed:
:class:`ApiKeys` hides them from ``repr``, and the server logs only whether
auth is on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from t2s.config import ServeConfig


@dataclass(frozen=True)
class ApiKeys:
    """The keys a server accepts (none at all: no authentication, loopback only).

    Attributes:
        client: Keys of every route but the public and the admin ones.
        admin: Keys of the admin routes; a client key is not one. None while
            client keys are set: the admin routes refuse every request.
    """

    client: tuple[str, ...] = ()
    admin: tuple[str, ...] = ()

    def __repr__(self) -> str:
        # Secrets never reach a log line or a traceback through repr().
        return f"ApiKeys(client=<{len(self.client)} keys>, admin=<{len(self.admin)} keys>)"

    @property
    def open(self) -> bool:
        """No key of either kind: every route is open (the command allows it on loopback only)."""
        return not self.client and not self.admin


def _with_env(keys: list[str], variable: str | None) -> tuple[str, ...]:
    from_env = os.environ.get(variable, "").strip() if variable else ""
    return tuple([*keys, from_env] if from_env else keys)


def configured_keys(serve: ServeConfig) -> ApiKeys:
    """The keys of ``serve``: each list plus the key in its environment variable, if set."""
    return ApiKeys(client=_with_env(serve.api_keys, serve.api_key_env),
                   admin=_with_env(serve.admin_api_keys, serve.admin_api_key_env))
