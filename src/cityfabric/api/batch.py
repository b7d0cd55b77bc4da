"""/ngsi-ld/v1/entityOperations: batch create, upsert, update, merge, delete and query."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from cityfabric.api.entities import BODY, page_headers, render_docs, service
from cityfabric.api.request import (
    answer,
    context_of,
    item_context,
    media_of,
    options_of,
    read_json,
    response_mode,
    tenant_of,
    view_of,
)
from cityfabric.api.responses import JSON_LD, json_response, no_content
from cityfabric.ngsild.context import ActiveContext
from cityfabric.ngsild.errors import BadRequestData
from cityfabric.ngsild.model import LOCATION
from cityfabric.ngsild.querybuild import QueryParams, build_query
from cityfabric.ngsild.service import BatchResult, Names, check_batch

router = APIRouter(prefix="/ngsi-ld/v1/entityOperations", tags=["batch"])
Opt = Annotated[str | None, Query(description="upsert: replace|update; update: noOverwrite")]
Kind = Literal["create", "upsert", "update", "merge", "delete"]


async def _run(request: Request, kind: Kind, options: str | None) -> BatchResult:
    body = await read_json(request)
    items = check_batch(body)
    opts = options_of(options)
    mode: Literal["replace", "update"] = "update" if "update" in opts.flags else "replace"
    default = await context_of(request)
    ld = media_of(request) == JSON_LD
    pairs: list[tuple[object, Names]] = []
    for item in items:
        ctx = default if kind == "delete" else await item_context(request, item, default, ld=ld)
        pairs.append((item, ctx))
    return await service(request).batch(
        tenant_of(request), kind, pairs, upsert_mode=mode, no_overwrite="noOverwrite" in opts.flags
    )


def _result(result: BatchResult) -> dict[str, Any]:
    """Clause 5.2.16 BatchOperationResult."""
    return {
        "success": result.success,
        "errors": [{"entityId": i, "error": e.to_problem()} for i, e in result.errors],
    }


@router.post("/create", openapi_extra=BODY, summary="Batch create")
async def batch_create(request: Request) -> Response:
    result = await _run(request, "create", None)
    if result.errors:
        return json_response(_result(result), status=207)
    return json_response(result.success, status=201)


@router.post("/upsert", openapi_extra=BODY, summary="Batch upsert")
async def batch_upsert(request: Request, options: Opt = None) -> Response:
    result = await _run(request, "upsert", options)
    if result.errors:
        return json_response(_result(result), status=207)
    if result.created:
        return json_response(result.created, status=201)
    return no_content()


async def _simple(request: Request, kind: Kind, options: str | None) -> Response:
    result = await _run(request, kind, options)
    if result.errors:
        return json_response(_result(result), status=207)
    return no_content()


@router.post("/update", openapi_extra=BODY, summary="Batch update")
async def batch_update(request: Request, options: Opt = None) -> Response:
    return await _simple(request, "update", options)


@router.post("/merge", openapi_extra=BODY, summary="Batch merge")
async def batch_merge(request: Request) -> Response:
    return await _simple(request, "merge", None)


@router.post("/delete", openapi_extra=BODY, summary="Batch delete")
async def batch_delete(request: Request) -> Response:
    return await _simple(request, "delete", None)


@router.post("/query", openapi_extra=BODY, summary="Query entities with a Query body")
async def query_post(
    request: Request,
    limit: str | None = None,
    offset: str | None = None,
    count: bool = False,
    options: Annotated[str | None, Query()] = None,
    format: str | None = None,
) -> Response:
    body, ctx, params = await read_query(request, limit, offset, count)
    query = build_query(params, ctx)
    opts = options_of(options, format)
    mode = response_mode(request, geo_allowed=True, fmt=format)
    attrs = _names(body.get("attrs"), "attrs")
    view = view_of(
        ctx,
        opts,
        attrs=attrs,
        pick=_names(body.get("pick"), "pick"),
        omit=_names(body.get("omit"), "omit"),
        lang=body.get("lang"),
    )
    page = await service(request).query(tenant_of(request), query)
    geo = None
    if mode == "geo":
        geo = ctx.expand(params.geoproperty) if params.geoproperty else LOCATION
    headers = page_headers(request, len(page.docs), page.count, query.limit, query.offset)
    return answer(request, render_docs(page.docs, ctx, view, geo), ctx, mode, headers=headers)


async def read_query(
    request: Request, limit: str | None, offset: str | None, count: bool
) -> tuple[dict[str, Any], ActiveContext, QueryParams]:
    """A Query body (clause 5.2.23), its @context and its filters."""
    body = await read_json(request)
    ctx = await context_of(request, body)
    if not isinstance(body, dict) or body.get("type") != "Query":
        raise BadRequestData('the body must be a Query object with "type": "Query"')
    return body, ctx, query_params_of(body, limit, offset, count)


def _names(value: object, what: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    raise BadRequestData(f"{what} must be an array of attribute names")


def query_params_of(
    body: dict[str, Any], limit: str | None, offset: str | None, count: bool
) -> QueryParams:
    """Clause 5.2.23 Query: entities (id, idPattern, type), attrs, q, geoQ, scopeQ."""
    selectors = body.get("entities") or []
    if not isinstance(selectors, list) or not all(isinstance(s, dict) for s in selectors):
        raise BadRequestData("entities must be an array of EntitySelector objects")
    members = [(s, k) for s in selectors for k in ("id", "type", "idPattern")]
    for where, key in [*members, (body, "q"), (body, "scopeQ")]:
        if where.get(key) is not None and not isinstance(where[key], str):
            raise BadRequestData(f"{key} must be a string")
    if len(selectors) > 1:
        types = {s.get("type") for s in selectors}
        if len(types) == 1 and not any("idPattern" in s for s in selectors):
            ids = [s["id"] for s in selectors if "id" in s]
            selectors = [{"type": types.pop(), **({"id": ",".join(ids)} if ids else {})}]
        else:
            raise BadRequestData(
                "several entity selectors are supported when they share one "
                "type and use id only; send several queries instead"
            )
    sel = selectors[0] if selectors else {}
    geo = body.get("geoQ")
    if geo is not None and not isinstance(geo, dict):
        raise BadRequestData("geoQ must be an object with geometry, coordinates and georel")
    geo = geo or {}
    return QueryParams(
        type=sel.get("type"),
        id=sel.get("id"),
        id_pattern=sel.get("idPattern"),
        attrs=_names(body.get("attrs"), "attrs"),
        q=body.get("q"),
        scope_q=body.get("scopeQ"),
        georel=geo.get("georel"),
        geometry=geo.get("geometry"),
        coordinates=geo.get("coordinates"),
        geoproperty=geo.get("geoproperty"),
        limit=limit,
        offset=offset,
        count=count,
    )
