"""/ngsi-ld/v1/entities: create, retrieve, query, replace, merge, attributes (clause 6.4-6.7)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from cityfabric.api.request import (
    answer,
    context_of,
    options_of,
    read_json,
    response_mode,
    tenant_of,
    view_of,
)
from cityfabric.api.responses import json_response, no_content
from cityfabric.ngsild.context import ActiveContext
from cityfabric.ngsild.model import LOCATION, EntityDoc
from cityfabric.ngsild.ops import AttrOutcome
from cityfabric.ngsild.querybuild import QueryParams, build_query
from cityfabric.ngsild.render import View, render_entity, render_feature
from cityfabric.ngsild.service import EntityService

router = APIRouter(prefix="/ngsi-ld/v1", tags=["entities"])
BODY = {
    "requestBody": {
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/ld+json": {"schema": {"type": "object"}},
        },
        "required": True,
    }
}

Opt = Annotated[
    str | None, Query(description="comma list: keyValues, concise, normalized, sysAttrs, ...")
]
Fmt = Annotated[
    str | None, Query(description="normalized, concise, keyValues (simplified) or geojson")
]
Names = Annotated[str | None, Query(description="comma-separated attribute names")]


def service(request: Request) -> EntityService:
    svc: EntityService = request.app.state.entities
    return svc


def _geoproperty(ctx: ActiveContext, name: str | None) -> str:
    return ctx.expand(name) if name else LOCATION


def render_docs(docs: list[EntityDoc], ctx: ActiveContext, view: View, geo: str | None) -> Any:
    if geo is not None:
        return {
            "type": "FeatureCollection",
            "features": [render_feature(d, ctx.compact, view, geo) for d in docs],
        }
    return [render_entity(d, ctx.compact, view) for d in docs]


def outcome_response(outcome: AttrOutcome, ctx: ActiveContext) -> Response:
    """204 when every attribute was written, else 207 with an UpdateResult (clause 5.2.18)."""
    if not outcome.not_updated:
        return no_content()
    body = {
        "updated": [ctx.compact(i) for i in outcome.updated],
        "notUpdated": [
            {"attributeName": ctx.compact(i), "reason": r} for i, r in outcome.not_updated
        ],
    }
    return json_response(body, status=207)


@router.post("/entities", status_code=201, openapi_extra=BODY, summary="Create an entity")
async def create_entity(request: Request) -> Response:
    body = await read_json(request)
    ctx = await context_of(request, body)
    entity_id = await service(request).create(tenant_of(request), body, ctx)
    return Response(status_code=201, headers={"Location": f"/ngsi-ld/v1/entities/{entity_id}"})


@router.get("/entities", summary="Query entities")
async def query_entities(
    request: Request,
    type: Annotated[str | None, Query(description="type name or type expression")] = None,
    id: Annotated[str | None, Query(description="comma-separated entity ids")] = None,
    idPattern: Annotated[str | None, Query(description="regular expression over ids")] = None,
    attrs: Names = None,
    pick: Names = None,
    omit: Names = None,
    q: Annotated[str | None, Query(description="NGSI-LD query language")] = None,
    scopeQ: str | None = None,
    georel: str | None = None,
    geometry: str | None = None,
    coordinates: str | None = None,
    geoproperty: str | None = None,
    limit: str | None = None,
    offset: str | None = None,
    count: bool = False,
    options: Opt = None,
    format: Fmt = None,
    lang: str | None = None,
) -> Response:
    ctx = await context_of(request)
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
    query = build_query(params, ctx)
    opts = options_of(options, format)
    mode = response_mode(request, geo_allowed=True, fmt=format)
    view = view_of(ctx, opts, pick=pick, omit=omit, attrs=attrs, lang=lang)
    page = await service(request).query(tenant_of(request), query)
    geo = _geoproperty(ctx, geoproperty) if mode == "geo" else None
    headers = page_headers(request, len(page.docs), page.count, query.limit, query.offset)
    return answer(request, render_docs(page.docs, ctx, view, geo), ctx, mode, headers=headers)


def page_headers(
    request: Request, returned: int, count: int | None, limit: int, offset: int
) -> dict[str, str]:
    """NGSILD-Results-Count and next/prev Link headers (clause 5.5.9, 6.3.10)."""
    headers: dict[str, str] = {}
    if count is not None:
        headers["NGSILD-Results-Count"] = str(count)
    params = dict(request.query_params)
    links = []
    if limit and returned == limit and (count is None or offset + limit < count):
        params["offset"] = str(offset + limit)
        links.append(f'<{request.url.path}?{urlencode(params)}>; rel="next"')
    if offset > 0 and limit:
        params["offset"] = str(max(0, offset - limit))
        links.append(f'<{request.url.path}?{urlencode(params)}>; rel="prev"')
    if links:
        headers["Link"] = ", ".join(links)
    return headers


@router.get("/entities/{entity_id}", summary="Retrieve an entity")
async def retrieve_entity(
    request: Request,
    entity_id: str,
    attrs: Names = None,
    pick: Names = None,
    omit: Names = None,
    options: Opt = None,
    format: Fmt = None,
    lang: str | None = None,
    geoproperty: str | None = None,
) -> Response:
    ctx = await context_of(request)
    opts = options_of(options, format)
    mode = response_mode(request, geo_allowed=True, fmt=format)
    view = view_of(ctx, opts, pick=pick, omit=omit, attrs=attrs, lang=lang)
    doc = await service(request).get(tenant_of(request), entity_id)
    if mode == "geo":
        body = render_feature(doc, ctx.compact, view, _geoproperty(ctx, geoproperty))
    else:
        body = render_entity(doc, ctx.compact, view)
    return answer(request, body, ctx, mode)


@router.put(
    "/entities/{entity_id}", status_code=204, openapi_extra=BODY, summary="Replace an entity"
)
async def replace_entity(request: Request, entity_id: str) -> Response:
    body = await read_json(request)
    ctx = await context_of(request, body)
    await service(request).replace(tenant_of(request), entity_id, body, ctx)
    return no_content()


@router.patch(
    "/entities/{entity_id}",
    status_code=204,
    openapi_extra=BODY,
    summary="Merge an entity (merge-patch)",
)
async def merge_entity(request: Request, entity_id: str) -> Response:
    body = await read_json(request)
    ctx = await context_of(request, body)
    await service(request).merge(tenant_of(request), entity_id, body, ctx)
    return no_content()


@router.delete("/entities/{entity_id}", status_code=204, summary="Delete an entity")
async def delete_entity(request: Request, entity_id: str) -> Response:
    await service(request).delete(tenant_of(request), entity_id)
    return no_content()


@router.post(
    "/entities/{entity_id}/attrs", status_code=204, openapi_extra=BODY, summary="Append attributes"
)
async def append_attrs(request: Request, entity_id: str, options: Opt = None) -> Response:
    body = await read_json(request)
    ctx = await context_of(request, body)
    opts = options_of(options)
    outcome = await service(request).append(
        tenant_of(request), entity_id, body, ctx, no_overwrite="noOverwrite" in opts.flags
    )
    return outcome_response(outcome, ctx)


@router.patch(
    "/entities/{entity_id}/attrs", status_code=204, openapi_extra=BODY, summary="Update attributes"
)
async def update_attrs(request: Request, entity_id: str) -> Response:
    body = await read_json(request)
    ctx = await context_of(request, body)
    outcome = await service(request).update_attrs(tenant_of(request), entity_id, body, ctx)
    return outcome_response(outcome, ctx)


@router.patch(
    "/entities/{entity_id}/attrs/{attr_id}",
    status_code=204,
    openapi_extra=BODY,
    summary="Partial attribute update",
)
async def patch_attr(request: Request, entity_id: str, attr_id: str) -> Response:
    body = await read_json(request)
    ctx = await context_of(request, body)
    await service(request).patch_attribute(tenant_of(request), entity_id, attr_id, body, ctx)
    return no_content()


@router.put(
    "/entities/{entity_id}/attrs/{attr_id}",
    status_code=204,
    openapi_extra=BODY,
    summary="Replace an attribute",
)
async def replace_attr(request: Request, entity_id: str, attr_id: str) -> Response:
    body = await read_json(request)
    ctx = await context_of(request, body)
    await service(request).replace_attribute(tenant_of(request), entity_id, attr_id, body, ctx)
    return no_content()


@router.delete(
    "/entities/{entity_id}/attrs/{attr_id}", status_code=204, summary="Delete an attribute"
)
async def delete_attr(
    request: Request,
    entity_id: str,
    attr_id: str,
    datasetId: str | None = None,
    deleteAll: bool = False,
) -> Response:
    ctx = await context_of(request)
    await service(request).delete_attribute(
        tenant_of(request), entity_id, attr_id, ctx, dataset_id=datasetId, delete_all=deleteAll
    )
    return no_content()
