"""The open routes: ``GET /healthz`` and the playground page ``GET /`` (no key)."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter()

# (method, path) of every route served without a key; tests/serve/test_routes.py
# fails for any other route that does not check one.
OPEN_ROUTES = frozenset({("GET", "/healthz"), ("GET", "/")})

_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; "
        "style-src 'self' 'unsafe-inline'")


@router.get("/healthz")
async def healthz() -> dict:
    """The process is up (no key needed)."""
    return {"status": "ok"}


@router.get("/", response_class=HTMLResponse)
async def playground() -> HTMLResponse:
    """The playground page (static; it asks for the API key itself)."""
    page = resources.files("t2s.serve").joinpath("playground.html").read_text(encoding="utf-8")
    return HTMLResponse(page, headers={"Content-Security-Policy": _CSP})
