"""Hot swap: ``POST /admin/adapters``, ``DELETE /admin/adapters/{name}`` (admin key)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from fastapi import APIRouter, Depends, Request

from t2s.errors import T2SError
from t2s.serve.auth import require_admin_key
from t2s.serve.bodies import AdapterJson
from t2s.serve.engine import EngineRefusedError
from t2s.serve.errors import CONFLICT, ENGINE_UNAVAILABLE, VALIDATION, RequestError, request_id
from t2s.serve.routes.common import ServiceDep

log = logging.getLogger(__name__)

router = APIRouter(prefix="/admin", dependencies=[Depends(require_admin_key)])


def _inside(path: Path, roots: list[str]) -> bool:
    resolved = path.resolve()
    return any(resolved.is_relative_to(Path(root).resolve()) for root in roots)


def _check_folder(path: Path, roots: list[str]) -> None:
    """An adapter folder under ``roots``; messages name no server path (the caller's is theirs).

    Raises:
        RequestError: validation (422) for a folder outside the roots, missing,
            or without ``adapter_config.json`` (a base or merged model is no adapter).
    """
    if not _inside(path, roots):
        raise RequestError(VALIDATION, 422, "path: not under serve.adapter_roots")
    if not path.is_dir():
        raise RequestError(VALIDATION, 422, "path: no such folder")
    if not (path / "adapter_config.json").is_file():
        raise RequestError(VALIDATION, 422, "path: not a LoRA adapter folder (no "
                                            "adapter_config.json); a base or merged model "
                                            "cannot be loaded as an adapter")


@router.post("/adapters", status_code=201)
async def load_adapter(body: AdapterJson, request: Request, service: ServiceDep) -> dict:
    """Load (or replace) an adapter; requests keep flowing meanwhile."""
    path = Path(body.path)
    _check_folder(path, service.serve.adapter_roots)
    async with service.admin_lock:
        try:
            adapter = await asyncio.to_thread(service.registry.prepare, body.name, path)
        except EngineRefusedError as exc:
            # vLLM's reason may hold the server's paths: the log gets it.
            log.warning("admin load of %r: %s", body.name, exc)
            if exc.unavailable:
                raise RequestError(ENGINE_UNAVAILABLE, 503, "the generation engine cannot be "
                                   "reached now; retry later (the server log has why)") from None
            raise RequestError(VALIDATION, 422, "path: the engine refused the adapter; the "
                                                f"server log has why (request id "
                                                f"{request_id(request)})") from None
        except T2SError as exc:
            # The message may hold the server's paths: the log gets it, the caller a pointer.
            log.warning("admin load of %r failed: %s", body.name, exc)
            raise RequestError(VALIDATION, 422, "path: could not be loaded as an adapter; "
                                                f"the server log has why (request id "
                                                f"{request_id(request)})") from None
        # On the event loop: see AdapterRegistry.install.
        service.registry.install(adapter)
        await service.warm_up(adapter)
    return adapter.describe()


@router.delete("/adapters/{name}")
async def unload_adapter(name: str, service: ServiceDep) -> dict:
    """Unload an adapter (not the default); its requests in flight finish."""
    if name == service.serve.default_adapter:
        raise RequestError(CONFLICT, 409, f"{name!r} is the default adapter "
                                          "(serve.default_adapter); replace it instead")
    async with service.admin_lock:
        adapter = service.adapter(name)
        service.registry.unload(adapter.name)
    return {"unloaded": adapter.name, "sha256": adapter.sha256}
