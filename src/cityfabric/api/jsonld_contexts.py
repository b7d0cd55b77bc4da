"""JSON-LD @context management endpoints (NGSI-LD clause 5.13, /jsonldContexts)."""

from __future__ import annotations

import fastapi
from starlette.responses import Response

from cityfabric.api.request import read_json
from cityfabric.api.responses import JSON_LD, json_response, no_content
from cityfabric.ngsild.context import HOSTED_PATH
from cityfabric.ngsild.contexts_store import ContextRegistry
from cityfabric.ngsild.errors import BadRequestData

router = fastapi.APIRouter()


def _registry(request: fastapi.Request) -> ContextRegistry:
    registry: ContextRegistry = request.app.state.contexts
    return registry


def _flag(value: str | None, name: str) -> bool:
    """A boolean query parameter ("true"/"false", absent = false)."""
    if value is None or value == "false":
        return False
    if value == "true":
        return True
    raise BadRequestData(f"query parameter {name} must be true or false, not {value!r}")


def _base_url(request: fastapi.Request) -> str:
    return str(request.base_url).rstrip("/")


@router.post("/ngsi-ld/v1/jsonldContexts", status_code=201)
async def add_context(request: fastapi.Request) -> Response:
    """Host a @context document given by the client (5.13.2)."""
    document = await read_json(request)
    local_id = _registry(request).add_hosted(document)
    return Response(status_code=201, headers={"Location": HOSTED_PATH + local_id})


@router.get("/ngsi-ld/v1/jsonldContexts")
async def list_contexts(
    request: fastapi.Request, details: str | None = None, kind: str | None = None
) -> Response:
    """List the stored @contexts: URLs, or detail objects with details=true (5.13.3)."""
    rows = _registry(request).list(
        kind, details=_flag(details, "details"), base_url=_base_url(request)
    )
    return json_response(rows)


@router.get("/ngsi-ld/v1/jsonldContexts/{contextId}")
async def serve_context(
    request: fastapi.Request, contextId: str, details: str | None = None
) -> Response:
    """Serve one stored @context document, or its details with details=true (5.13.4)."""
    want_details = _flag(details, "details")
    body = _registry(request).get(contextId, details=want_details, base_url=_base_url(request))
    return json_response(body) if want_details else json_response(body, media_type=JSON_LD)


@router.delete("/ngsi-ld/v1/jsonldContexts/{contextId}")
async def delete_context(
    request: fastapi.Request, contextId: str, reload: str | None = None
) -> Response:
    """Delete a stored @context, or re-fetch a Cached one with reload=true (5.13.5)."""
    await _registry(request).delete(contextId, reload=_flag(reload, "reload"))
    return no_content()
