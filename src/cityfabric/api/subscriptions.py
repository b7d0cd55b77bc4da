"""/ngsi-ld/v1/subscriptions: create, list, retrieve, update, delete (clause 5.8, 6.10, 6.11).

Matching and delivery live in `notify/` (matcher, outbox, delivery worker; see
docs/subscriptions.md). Names in a GET are compacted with the caller's @context.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from cityfabric.api.entities import BODY, page_headers
from cityfabric.api.request import answer, context_of, read_json, response_mode, tenant_of
from cityfabric.api.responses import no_content
from cityfabric.ngsild.errors import BadRequestData
from cityfabric.notify.render import render_subscription
from cityfabric.notify.service import SubscriptionService, paging

router = APIRouter(prefix="/ngsi-ld/v1", tags=["subscriptions"])
PATH = "/ngsi-ld/v1/subscriptions"

Opt = Annotated[str | None, Query(description="sysAttrs: add createdAt and modifiedAt")]
Page = Annotated[str | None, Query(description="page size (default 20, at most 1000)")]


def service(request: Request) -> SubscriptionService:
    svc: SubscriptionService = request.app.state.subscriptions
    return svc


def _sys_attrs(options: str | None) -> bool:
    flags = {o.strip() for o in (options or "").split(",") if o.strip()}
    unknown = flags - {"sysAttrs"}
    if unknown:
        raise BadRequestData(f"unknown option(s) {sorted(unknown)}; subscriptions know sysAttrs")
    return "sysAttrs" in flags


@router.post("/subscriptions", status_code=201, openapi_extra=BODY, summary="Create a subscription")
async def create_subscription(request: Request) -> Response:
    body = await read_json(request)
    ctx = await context_of(request, body)
    subscription_id = await service(request).create(tenant_of(request), body, ctx)
    return Response(status_code=201, headers={"Location": f"{PATH}/{subscription_id}"})


@router.get("/subscriptions", summary="List subscriptions")
async def list_subscriptions(
    request: Request,
    limit: Page = None,
    offset: str | None = None,
    count: bool = False,
    options: Opt = None,
) -> Response:
    ctx = await context_of(request)
    mode = response_mode(request)
    sys_attrs = _sys_attrs(options)
    page = paging(limit, offset, count)
    svc = service(request)
    found, total = await svc.list(tenant_of(request), page)
    now = svc.clock()
    body = [
        render_subscription(s, ctx.compact, st, now=now, sys_attrs=sys_attrs) for s, st in found
    ]
    headers = page_headers(request, len(found), total, page.limit, page.offset)
    return answer(request, body, ctx, mode, headers=headers)


@router.get("/subscriptions/{subscriptionId}", summary="Retrieve a subscription")
async def retrieve_subscription(
    request: Request, subscriptionId: str, options: Opt = None
) -> Response:
    ctx = await context_of(request)
    mode = response_mode(request)
    sys_attrs = _sys_attrs(options)
    svc = service(request)
    sub, status = await svc.get(tenant_of(request), subscriptionId)
    body = render_subscription(sub, ctx.compact, status, now=svc.clock(), sys_attrs=sys_attrs)
    return answer(request, body, ctx, mode)


@router.patch(
    "/subscriptions/{subscriptionId}",
    status_code=204,
    openapi_extra=BODY,
    summary="Update a subscription (merge)",
)
async def update_subscription(request: Request, subscriptionId: str) -> Response:
    body = await read_json(request)
    ctx = await context_of(request, body)
    await service(request).patch(tenant_of(request), subscriptionId, body, ctx)
    return no_content()


@router.delete("/subscriptions/{subscriptionId}", status_code=204, summary="Delete a subscription")
async def delete_subscription(request: Request, subscriptionId: str) -> Response:
    await service(request).delete(tenant_of(request), subscriptionId)
    return no_content()
