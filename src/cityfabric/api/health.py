"""/health: liveness and the store's readiness."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from cityfabric import __version__
from cityfabric.api.responses import json_response

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness and readiness")
async def health(request: Request) -> Response:
    tenants = await request.app.state.store.tenants()
    return json_response({"status": "ok", "version": __version__, "tenants": len(tenants)})
