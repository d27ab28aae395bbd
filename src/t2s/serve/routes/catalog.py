"""What a client may ask for: ``GET /v1/models``, ``/databases``, ``/schemas/{db_id}`` (client key)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from t2s.serve.auth import require_client_key
from t2s.serve.errors import NOT_READY, RequestError
from t2s.serve.routes.common import ServiceDep

router = APIRouter(dependencies=[Depends(require_client_key)])


@router.get("/v1/models")
async def models(service: ServiceDep) -> dict:
    """The loaded adapters (OpenAI list shape, with t2s details)."""
    return {"object": "list", "default": service.serve.default_adapter, "data": [
        {"id": a.name, "object": "model", "created": int(a.loaded_at), "owned_by": "t2s",
         **a.describe()} for a in service.registry.all()]}


@router.get("/databases")
async def databases(service: ServiceDep) -> dict:
    """Databases a request may name (registered first, then the dataset's)."""
    return {"databases": service.database_names()}


@router.get("/schemas/{db_id}")
async def schema(db_id: str, service: ServiceDep) -> dict:
    """The schema text a prompt for ``db_id`` holds."""
    if not service.ready:
        raise RequestError(NOT_READY, 503, "adapters are still loading")
    return service.schema(db_id)
