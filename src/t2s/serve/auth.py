"""The key checks that routers declare as their dependency.

Each router but the public one (``/healthz``, the playground page) declares
:func:`require_client_key` at the router level, so a route added to it cannot
ship without a key check; ``tests/serve/test_routes.py`` walks the app's
routes to make sure. The key comes as ``Authorization: Bearer KEY`` or
``X-API-Key: KEY``; every configured key is compared in constant time
(``hmac.compare_digest``), and all of them are always compared, so timing
tells nothing about any key.
"""

from __future__ import annotations

import hmac

from fastapi import Request

from t2s.serve.errors import AUTH, RequestError
from t2s.serve.keys import ApiKeys


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
    """Router dependency: a configured client key, unless none is configured.

    Raises:
        RequestError: auth (401) for a missing or wrong key.
    """
    keys: ApiKeys = request.app.state.keys
    if keys.client and not _matches(_given_key(request), keys.client):
        raise RequestError(AUTH, 401, "missing or wrong API key "
                                      "(Authorization: Bearer KEY or X-API-Key)")
