"""Readiness and metrics: ``GET /readyz``, ``GET /metrics`` (client key)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from t2s.serve.auth import require_client_key
from t2s.serve.errors import NOT_READY, RequestError
from t2s.serve.routes.common import ServiceDep

router = APIRouter(dependencies=[Depends(require_client_key)])


@router.get("/readyz")
async def readyz(service: ServiceDep) -> JSONResponse:
    """200 once the adapters are loaded and warm, else 503."""
    if not service.ready:
        raise RequestError(NOT_READY, 503, "adapters are still loading")
    return JSONResponse({"ready": True, "adapters": [a.name for a in service.registry.all()]})


@router.get("/metrics")
async def metrics(service: ServiceDep) -> Response:
    """Prometheus exposition."""
    body, content_type = service.metrics.render()
    return Response(body, media_type=content_type)
