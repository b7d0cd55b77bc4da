"""/cityfabric/v1/retention: how long raw history is kept, per tenant and entity type.

Roll-ups (hourly and daily count, sum, min, max, avg) are kept when raw
instances expire. NGSI-LD defines no endpoint for this, hence our own path.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from cityfabric.api.entities import BODY
from cityfabric.api.request import context_of, read_json, tenant_of
from cityfabric.api.responses import json_response
from cityfabric.api.temporal import service
from cityfabric.ngsild.context import ActiveContext
from cityfabric.ngsild.temporal import DAY_MS, HOUR_MS

router = APIRouter(prefix="/cityfabric/v1", tags=["history retention"])


def _duration(ms: int) -> str:
    if ms % DAY_MS == 0:
        return f"P{ms // DAY_MS}D"
    if ms % HOUR_MS == 0:
        return f"PT{ms // HOUR_MS}H"
    return f"PT{ms / 1000:g}S"


def _rules_body(rules: dict[str, int], ctx: ActiveContext) -> dict[str, object]:
    return {
        "default": _duration(rules[""]) if "" in rules else None,
        "types": {ctx.compact(t): _duration(ms) for t, ms in sorted(rules.items()) if t},
    }


@router.get("/retention", summary="Raw history retention rules of the tenant")
async def get_retention(request: Request) -> Response:
    ctx = await context_of(request)
    rules = await service(request).retention(tenant_of(request))
    return json_response(_rules_body(rules, ctx))


@router.put("/retention", openapi_extra=BODY, summary="Set the tenant's raw history retention")
async def put_retention(request: Request) -> Response:
    body = await read_json(request)
    ctx = await context_of(request, body)
    rules = await service(request).set_retention(tenant_of(request), body, ctx)
    return json_response(_rules_body(rules, ctx))
