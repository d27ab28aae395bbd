"""Hot swap: ``POST /admin/adapters``, ``DELETE /admin/adapters/{name}``."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import APIRouter, Depends

from t2s.errors import T2SError
from t2s.serve.auth import require_client_key
from t2s.serve.bodies import AdapterBody
from t2s.serve.errors import CONFLICT, VALIDATION, RequestError
from t2s.serve.routes.common import ServiceDep

router = APIRouter(prefix="/admin", dependencies=[Depends(require_client_key)])


def _inside(path: Path, roots: list[str]) -> bool:
    resolved = path.resolve()
    return any(resolved.is_relative_to(Path(root).resolve()) for root in roots)


@router.post("/adapters", status_code=201)
async def load_adapter(body: AdapterBody, service: ServiceDep) -> dict:
    """Load (or replace) an adapter; requests keep flowing meanwhile."""
    path = Path(body.path)
    roots = service.serve.adapter_roots
    if not _inside(path, roots):
        raise RequestError(VALIDATION, 422, f"path: not under serve.adapter_roots "
                                            f"({', '.join(roots)})")
    async with service.admin_lock:
        try:
            adapter = await asyncio.to_thread(service.registry.load, body.name, path)
        except T2SError as exc:
            raise RequestError(VALIDATION, 422, f"path: {exc}") from None
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
