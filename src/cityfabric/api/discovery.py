"""/ngsi-ld/v1/types and /attributes: what the store holds (clause 5.7.5-5.7.10)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from cityfabric.api.entities import service
from cityfabric.api.request import Mode, answer, context_of, response_mode, tenant_of
from cityfabric.ngsild.context import ActiveContext
from cityfabric.ngsild.errors import ResourceNotFound
from cityfabric.store.base import AttributeSummary, TypeSummary

router = APIRouter(prefix="/ngsi-ld/v1", tags=["discovery"])


async def _negotiate(request: Request) -> tuple[ActiveContext, Mode]:
    return await context_of(request), response_mode(request)


async def _types(request: Request) -> list[TypeSummary]:
    svc, tenant = service(request), tenant_of(request)
    await svc.check_tenant(tenant)
    return await svc.store.type_summaries(tenant)


async def _attributes(request: Request) -> list[AttributeSummary]:
    svc, tenant = service(request), tenant_of(request)
    await svc.check_tenant(tenant)
    return await svc.store.attribute_summaries(tenant)


@router.get("/types", summary="Available entity types")
async def list_types(request: Request, details: bool = False) -> Response:
    ctx, mode = await _negotiate(request)
    summaries = await _types(request)
    if details:
        body: object = [
            {
                "id": s.type,
                "type": "EntityType",
                "typeName": ctx.compact(s.type),
                "attributeNames": sorted(ctx.compact(a) for a in s.attrs),
            }
            for s in summaries
        ]
    else:
        body = {
            "id": f"urn:ngsi-ld:EntityTypeList:{uuid.uuid4()}",
            "type": "EntityTypeList",
            "typeList": sorted(ctx.compact(s.type) for s in summaries),
        }
    return answer(request, body, ctx, mode)


@router.get("/types/{type_name}", summary="Details of one entity type")
async def type_info(request: Request, type_name: str) -> Response:
    ctx, mode = await _negotiate(request)
    iri = ctx.expand(type_name)
    for s in await _types(request):
        if s.type == iri:
            body = {
                "id": iri,
                "type": "EntityTypeInfo",
                "typeName": ctx.compact(iri),
                "entityCount": s.count,
                "attributeDetails": [
                    {
                        "id": a,
                        "type": "Attribute",
                        "attributeName": ctx.compact(a),
                        "attributeTypes": sorted(kinds),
                    }
                    for a, kinds in sorted(s.attrs.items())
                ],
            }
            return answer(request, body, ctx, mode)
    raise ResourceNotFound(f"no entity of type {type_name} exists")


@router.get("/attributes", summary="Available attributes")
async def list_attributes(request: Request, details: bool = False) -> Response:
    ctx, mode = await _negotiate(request)
    summaries = await _attributes(request)
    if details:
        body: object = [
            {
                "id": s.name,
                "type": "Attribute",
                "attributeName": ctx.compact(s.name),
                "typeNames": sorted(ctx.compact(t) for t in s.types),
            }
            for s in summaries
        ]
    else:
        body = {
            "id": f"urn:ngsi-ld:AttributeList:{uuid.uuid4()}",
            "type": "AttributeList",
            "attributeList": sorted(ctx.compact(s.name) for s in summaries),
        }
    return answer(request, body, ctx, mode)


@router.get("/attributes/{attr_name}", summary="Details of one attribute")
async def attribute_info(request: Request, attr_name: str) -> Response:
    ctx, mode = await _negotiate(request)
    iri = ctx.expand(attr_name)
    for s in await _attributes(request):
        if s.name == iri:
            body = {
                "id": iri,
                "type": "Attribute",
                "attributeName": ctx.compact(iri),
                "attributeCount": s.count,
                "attributeTypes": sorted(s.kinds),
                "typeNames": sorted(ctx.compact(t) for t in s.types),
            }
            return answer(request, body, ctx, mode)
    raise ResourceNotFound(f"no entity has an attribute {attr_name}")
