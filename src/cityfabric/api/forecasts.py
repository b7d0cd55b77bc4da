"""/cityfabric/v1/forecasts: run a forecast of an attribute, list the stored ones.

NGSI-LD has no operation for running a model, hence our own path; the results are
`Forecast` entities, so `GET /ngsi-ld/v1/entities?type=Forecast` shows them as well.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from cityfabric.analytics.forecast import ForecastRun, ForecastService
from cityfabric.analytics.forecast_entity import summary
from cityfabric.analytics.forecast_spec import parse_request
from cityfabric.api.entities import BODY
from cityfabric.api.request import context_of, read_json, tenant_of
from cityfabric.api.responses import json_response
from cityfabric.ngsild.entity import check_entity_id, check_name

router = APIRouter(prefix="/cityfabric/v1", tags=["forecasts"])


def service(request: Request) -> ForecastService:
    svc: ForecastService = request.app.state.forecasts
    return svc


def _body(run: ForecastRun, compact: Any) -> dict[str, Any]:
    return {
        "forecasts": [summary(doc, compact) for doc in run.docs],
        "skipped": [{"entity": e, "reason": r} for e, r in sorted(run.skipped.items())],
    }


@router.post(
    "/forecasts",
    status_code=201,
    openapi_extra=BODY,
    summary="Forecast an attribute of an entity, or of every entity of a type, and store it",
)
async def post_forecast(request: Request) -> Response:
    body = await read_json(request)
    ctx = await context_of(request, body)
    tenant = tenant_of(request)
    run = await service(request).run(tenant, parse_request(body), ctx)
    return json_response(_body(run, ctx.compact), status=201)


@router.get("/forecasts", summary="The stored forecasts (of an entity, of an attribute)")
async def list_forecasts(
    request: Request,
    entity: Annotated[str | None, Query(description="only the forecasts of this entity id")] = None,
    attribute: Annotated[str | None, Query(description="only those of this attribute")] = None,
) -> Response:
    ctx = await context_of(request)
    if entity is not None:
        check_entity_id(entity, where="entity")
    attr = None if attribute is None else ctx.expand(check_name(attribute, where="attribute"))
    docs = await service(request).stored(tenant_of(request), entity, attr)
    return json_response([summary(doc, ctx.compact) for doc in docs])
