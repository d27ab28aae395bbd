"""What every router's handlers share: the service of the app they run in."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from t2s.serve.service import Service


def service_of(request: Request) -> Service:
    """The :class:`~t2s.serve.service.Service` that ``create_app`` put in the app's state."""
    return request.app.state.service


# A handler parameter ``service: ServiceDep`` receives the app's service.
ServiceDep = Annotated[Service, Depends(service_of)]
