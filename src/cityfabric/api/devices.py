"""/cityfabric/v1/devices: provision the device profiles that MQTT ingestion maps through.

A profile is stored as a `DeviceProfile` entity of the tenant (NGSILD-Tenant
header); writing it here also refreshes the bridge's cache in this process.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from cityfabric.api.request import read_json, tenant_of
from cityfabric.api.responses import json_response, no_content
from cityfabric.ingest.devices import DeviceProfile, parse_profile
from cityfabric.ingest.profiles import DeviceProfiles
from cityfabric.ngsild.errors import BadRequestData

router = APIRouter(prefix="/cityfabric/v1/devices", tags=["devices"])
MAX_PROFILES = 1000  # profiles in one POST
BODY = {
    "requestBody": {
        "content": {"application/json": {"schema": {"type": ["object", "array"]}}},
        "required": True,
    }
}
Page = Annotated[str | None, Query(description="page size (default 100, at most 1000)")]
Offset = Annotated[str | None, Query(description="profiles to skip")]


def profiles_of(request: Request) -> DeviceProfiles:
    found: DeviceProfiles = request.app.state.device_profiles
    return found


def _parse_all(body: Any) -> list[DeviceProfile]:
    if isinstance(body, dict):
        return [parse_profile(body)]
    if not isinstance(body, list) or not body:
        raise BadRequestData("the body must be a device profile or a non-empty array of them")
    if len(body) > MAX_PROFILES:
        raise BadRequestData(
            f"at most {MAX_PROFILES} profiles per request, got {len(body)}", status=413
        )
    parsed = [parse_profile(p, where=f"profile #{n + 1}") for n, p in enumerate(body)]
    seen: set[str] = set()
    for p in parsed:
        if p.device_id in seen:
            raise BadRequestData(f"device {p.device_id!r} appears twice in the request")
        seen.add(p.device_id)
    return parsed


def _location(device_id: str) -> str:
    return f"{router.prefix}/{quote(device_id, safe=':')}"


@router.post("", openapi_extra=BODY, summary="Create or replace device profiles", status_code=201)
async def provision(request: Request) -> Response:
    body = await read_json(request)
    profiles = _parse_all(body)
    await profiles_of(request).put(tenant_of(request), profiles)
    if isinstance(body, dict):
        only = profiles[0]
        return json_response(
            only.to_json(), status=201, headers={"Location": _location(only.device_id)}
        )
    return json_response([p.to_json() for p in profiles], status=201)


@router.get("", summary="List device profiles")
async def list_profiles(request: Request, limit: Page = None, offset: Offset = None) -> Response:
    found = await profiles_of(request).list(tenant_of(request), limit=limit, offset=offset)
    return json_response(found)


@router.get("/{device_id}", summary="One device profile")
async def get_profile(request: Request, device_id: str) -> Response:
    profile = await profiles_of(request).read(tenant_of(request), device_id)
    return json_response(profile.to_json())


@router.delete("/{device_id}", summary="Delete a device profile", status_code=204)
async def delete_profile(request: Request, device_id: str) -> Response:
    await profiles_of(request).delete(tenant_of(request), device_id)
    return no_content()
