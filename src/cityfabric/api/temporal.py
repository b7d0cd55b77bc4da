"""/ngsi-ld/v1/temporal: entity history, its queries and edits (clause 6.18-6.24)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from cityfabric.api.batch import read_query
from cityfabric.api.entities import BODY, page_headers
from cityfabric.api.request import (
    answer,
    context_of,
    options_of,
    read_json,
    response_mode,
    tenant_of,
)
from cityfabric.api.responses import no_content
from cityfabric.config import Settings
from cityfabric.ngsild.context import ActiveContext
from cityfabric.ngsild.errors import BadRequestData
from cityfabric.ngsild.history import HistoryService
from cityfabric.ngsild.querybuild import QueryParams
from cityfabric.ngsild.temporal_query import (
    Representation,
    TemporalParams,
    build_history_query,
    representation_of,
)
from cityfabric.ngsild.temporal_render import content_range, history_csv, render_history
from cityfabric.store.base import EntityHistory, HistoryPage, HistoryQuery

router = APIRouter(prefix="/ngsi-ld/v1/temporal", tags=["temporal"])
CSV = "text/csv"

Opt = Annotated[
    str | None, Query(description="temporalValues, aggregatedValues, sysAttrs (comma list)")
]
Names = Annotated[str | None, Query(description="comma-separated attribute names")]
Time = Annotated[str | None, Query(description="ISO 8601 date-time")]


def service(request: Request) -> HistoryService:
    svc: HistoryService = request.app.state.history
    return svc


def _max_instances(request: Request) -> int:
    settings: Settings = request.app.state.settings
    return settings.temporal_max_instances


def _wants_csv(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return any(part.split(";")[0].strip().lower() == CSV for part in accept.split(","))


def _respond(
    request: Request,
    entities: list[EntityHistory],
    ctx: ActiveContext,
    rep: Representation,
    query: HistoryQuery,
    *,
    sys_attrs: bool,
    one: bool,
    headers: dict[str, str] | None = None,
) -> Response:
    """JSON (or CSV when asked), 206 with Content-Range when instances were cut short."""
    out_headers = dict(headers or {})
    status = 200
    span = content_range(entities)
    if span is not None:
        status, out_headers["Content-Range"] = 206, span
    timeproperty = query.time.timeproperty
    if _wants_csv(request):
        text = history_csv(entities, ctx.compact, rep, timeproperty)
        return Response(text, status_code=status, media_type=CSV, headers=out_headers)
    mode = response_mode(request)
    body: Any = [
        render_history(e, ctx.compact, rep, sys_attrs=sys_attrs, timeproperty=timeproperty)
        for e in entities
    ]
    return answer(request, body[0] if one else body, ctx, mode, status=status, headers=out_headers)


async def _query_page(
    request: Request,
    ctx: ActiveContext,
    params: QueryParams,
    temporal: TemporalParams,
    options: str | None,
) -> Response:
    opts = options_of(options)
    rep = representation_of(opts.flags)
    query = build_history_query(params, temporal, ctx, rep, max_instances=_max_instances(request))
    page: HistoryPage = await service(request).query(tenant_of(request), query)
    headers = page_headers(request, len(page.entities), page.count, query.limit, query.offset)
    return _respond(
        request,
        page.entities,
        ctx,
        rep,
        query,
        sys_attrs=opts.sys_attrs,
        one=False,
        headers=headers,
    )


@router.get("/entities", summary="Query the history of entities")
async def query_temporal(
    request: Request,
    type: Annotated[str | None, Query(description="type name or type expression")] = None,
    id: Annotated[str | None, Query(description="comma-separated entity ids")] = None,
    idPattern: str | None = None,
    attrs: Names = None,
    q: Annotated[str | None, Query(description="NGSI-LD query over the current state")] = None,
    scopeQ: str | None = None,
    georel: str | None = None,
    geometry: str | None = None,
    coordinates: str | None = None,
    geoproperty: str | None = None,
    timerel: Annotated[str | None, Query(description="before, after or between")] = None,
    timeAt: Time = None,
    endTimeAt: Time = None,
    timeproperty: Annotated[
        str | None, Query(description="observedAt (default), createdAt, modifiedAt")
    ] = None,
    lastN: Annotated[str | None, Query(description="the last N instances per attribute")] = None,
    aggrMethods: Annotated[
        str | None,
        Query(description="totalCount, distinctCount, sum, avg, min, max, stddev, sumsq"),
    ] = None,
    aggrPeriodDuration: Annotated[
        str | None, Query(description="ISO 8601 duration, e.g. PT1H; PT0S = whole range")
    ] = None,
    limit: str | None = None,
    offset: str | None = None,
    count: bool = False,
    options: Opt = None,
) -> Response:
    params = QueryParams(
        type=type,
        id=id,
        id_pattern=idPattern,
        attrs=attrs,
        q=q,
        scope_q=scopeQ,
        georel=georel,
        geometry=geometry,
        coordinates=coordinates,
        geoproperty=geoproperty,
        limit=limit,
        offset=offset,
        count=count,
    )
    temporal = TemporalParams(
        timerel, timeAt, endTimeAt, timeproperty, lastN, aggrMethods, aggrPeriodDuration
    )
    return await _query_page(request, await context_of(request), params, temporal, options)


@router.get("/entities/{entity_id}", summary="Retrieve the history of an entity")
async def retrieve_temporal(
    request: Request,
    entity_id: str,
    attrs: Names = None,
    timerel: str | None = None,
    timeAt: Time = None,
    endTimeAt: Time = None,
    timeproperty: str | None = None,
    lastN: str | None = None,
    aggrMethods: str | None = None,
    aggrPeriodDuration: str | None = None,
    options: Opt = None,
) -> Response:
    ctx = await context_of(request)
    opts = options_of(options)
    rep = representation_of(opts.flags)
    temporal = TemporalParams(
        timerel, timeAt, endTimeAt, timeproperty, lastN, aggrMethods, aggrPeriodDuration
    )
    query = build_history_query(
        QueryParams(attrs=attrs),
        temporal,
        ctx,
        rep,
        max_instances=_max_instances(request),
        entity_id=entity_id,
    )
    entity = await service(request).get(tenant_of(request), entity_id, query)
    return _respond(request, [entity], ctx, rep, query, sys_attrs=opts.sys_attrs, one=True)


@router.post("/entities", status_code=201, openapi_extra=BODY, summary="Create or add to history")
async def create_temporal(request: Request) -> Response:
    body = await read_json(request)
    ctx = await context_of(request, body)
    entity_id, created = await service(request).create(tenant_of(request), body, ctx)
    if not created:
        return no_content()
    location = f"/ngsi-ld/v1/temporal/entities/{entity_id}"
    return Response(status_code=201, headers={"Location": location})


@router.delete("/entities/{entity_id}", status_code=204, summary="Delete an entity's history")
async def delete_temporal(request: Request, entity_id: str) -> Response:
    await context_of(request)
    await service(request).delete(tenant_of(request), entity_id)
    return no_content()


@router.post(
    "/entities/{entity_id}/attrs",
    status_code=204,
    openapi_extra=BODY,
    summary="Add attribute instances to an entity's history",
)
async def add_temporal_attrs(request: Request, entity_id: str) -> Response:
    body = await read_json(request)
    ctx = await context_of(request, body)
    await service(request).add_attrs(tenant_of(request), entity_id, body, ctx)
    return no_content()


@router.delete(
    "/entities/{entity_id}/attrs/{attr_id}",
    status_code=204,
    summary="Delete an attribute's history",
)
async def delete_temporal_attr(
    request: Request,
    entity_id: str,
    attr_id: str,
    datasetId: str | None = None,
    deleteAll: bool = False,
) -> Response:
    ctx = await context_of(request)
    attr = ctx.expand(attr_id)
    await service(request).delete_attr(tenant_of(request), entity_id, attr, datasetId, deleteAll)
    return no_content()


@router.patch(
    "/entities/{entity_id}/attrs/{attr_id}/{instance_id}",
    status_code=204,
    openapi_extra=BODY,
    summary="Modify one attribute instance",
)
async def patch_temporal_instance(
    request: Request, entity_id: str, attr_id: str, instance_id: str
) -> Response:
    body = await read_json(request)
    ctx = await context_of(request, body)
    svc = service(request)
    await svc.patch_instance(
        tenant_of(request), entity_id, ctx.expand(attr_id), instance_id, body, ctx
    )
    return no_content()


@router.delete(
    "/entities/{entity_id}/attrs/{attr_id}/{instance_id}",
    status_code=204,
    summary="Delete one attribute instance",
)
async def delete_temporal_instance(
    request: Request, entity_id: str, attr_id: str, instance_id: str
) -> Response:
    ctx = await context_of(request)
    await service(request).delete_instance(
        tenant_of(request), entity_id, ctx.expand(attr_id), instance_id
    )
    return no_content()


@router.post(
    "/entityOperations/query",
    openapi_extra=BODY,
    summary="Query history with a Query body (temporalQ)",
)
async def query_temporal_post(
    request: Request,
    limit: str | None = None,
    offset: str | None = None,
    count: bool = False,
    options: Opt = None,
) -> Response:
    body, ctx, params = await read_query(request, limit, offset, count)
    tq = body.get("temporalQ")
    tq = {} if tq is None else tq
    if not isinstance(tq, dict):
        raise BadRequestData("temporalQ must be an object (timerel, timeAt, endTimeAt, ...)")
    last_n = tq.get("lastN")
    methods = body.get("aggrMethods")
    if isinstance(methods, list):
        methods = ",".join(_text(m, "aggrMethods") or "" for m in methods)
    temporal = TemporalParams(
        _text(tq.get("timerel"), "timerel"),
        _text(tq.get("timeAt"), "timeAt"),
        _text(tq.get("endTimeAt"), "endTimeAt"),
        _text(tq.get("timeproperty"), "timeproperty"),
        None if last_n is None else str(last_n),
        _text(methods, "aggrMethods"),
        _text(body.get("aggrPeriodDuration"), "aggrPeriodDuration"),
    )
    return await _query_page(request, ctx, params, temporal, options)


def _text(value: object, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise BadRequestData(f"{name} must be a string, not {value!r}")
