"""/cityfabric/v1/tenants: the tenants that exist (NGSI-LD has no operation listing them)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from cityfabric.api.responses import json_response

router = APIRouter(prefix="/cityfabric/v1", tags=["tenants"])


@router.get("/tenants", summary="The tenants written to, by name")
async def list_tenants(request: Request) -> Response:
    tenants: list[str] = await request.app.state.store.tenants()
    return json_response({"tenants": tenants})
