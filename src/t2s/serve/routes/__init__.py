"""The HTTP routes, one :class:`fastapi.APIRouter` per area, each declaring its auth.

- :mod:`.public` — ``/healthz`` and the playground page ``/``: the only open routes;
- :mod:`.generation` — ``/generate``, ``/v1/chat/completions``;
- :mod:`.catalog` — ``/v1/models``, ``/databases``, ``/schemas/{db_id}``;
- :mod:`.monitoring` — ``/readyz``, ``/metrics``;
- :mod:`.admin` — ``/admin/adapters`` (hot swap).
"""

from __future__ import annotations

from t2s.serve.routes import admin, catalog, generation, monitoring, public

ROUTERS = (public.router, generation.router, catalog.router, monitoring.router, admin.router)
OPEN_ROUTES = public.OPEN_ROUTES
