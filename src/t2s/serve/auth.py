"""The key checks that routers declare as their dependency.

Each router but the public one (``/healthz``, the playground page) declares
:func:`require_client_key` or, for ``/admin/...``, :func:`require_admin_key` at
the router level, so a route added to it cannot ship without a key check;
``tests/serve/test_routes.py`` walks the app's routes to make sure. Request
bodies are parsed by a dependency declared after the router's
(:func:`t2s.serve.bodies.json_body`), so a request without a key is refused
(401) before its body is read as JSON, and leaves no request-log line.

The key comes as ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``; every
configured key is compared in constant time (``hmac.compare_digest``), and all
of them are always compared, so timing tells nothing about any key.
"""

from __future__ import annotations

import hmac

from fastapi import Request

from t2s.serve.errors import AUTH, RequestError
from t2s.serve.keys import ApiKeys

_HOW = "(Authorization: Bearer KEY or X-API-Key)"


def _given_key(request: Request) -> str:
    given = request.headers.get("x-api-key", "")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token:
        given = token.strip()
    return given


def _matches(given: str, keys: tuple[str, ...]) -> bool:
    candidate = given.encode("utf-8")
    matched = False
    for key in keys:  # every key, always: no early exit to time
        matched |= hmac.compare_digest(candidate, key.encode("utf-8"))
    return matched


async def require_client_key(request: Request) -> None:
    """Router dependency: a client key, unless no key at all is configured.

    Raises:
        RequestError: auth (401) for a missing or wrong key.
    """
    keys: ApiKeys = request.app.state.keys
    if keys.client and not _matches(_given_key(request), keys.client):
        raise RequestError(AUTH, 401, f"missing or wrong API key {_HOW}")


async def require_admin_key(request: Request) -> None:
    """Router dependency of ``/admin/...``: an admin key, unless no key at all is configured.

    Raises:
        RequestError: auth (401) for a missing or wrong admin key (a client key
            is a wrong one), or when client keys are set and no admin key is.
    """
    keys: ApiKeys = request.app.state.keys
    if keys.open:
        return
    if not keys.admin:
        raise RequestError(AUTH, 401, "admin routes are off: no admin key is configured "
                                      "(serve.admin_api_keys or serve.admin_api_key_env)")
    if not _matches(_given_key(request), keys.admin):
        raise RequestError(AUTH, 401, f"missing or wrong admin key {_HOW}")

