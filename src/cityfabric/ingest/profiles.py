"""Provisioned device profiles: kept as `DeviceProfile` entities, cached in process.

Everything is an entity: profile `meter-1` of a tenant is the entity
`urn:ngsi-ld:DeviceProfile:meter-1` of type `DeviceProfile` in that tenant, with
the profile's JSON form as the value of its `mapping` Property. The bridge
reads profiles through this cache: a miss reads the store (so a profile that
another process provisioned is found), and unknown devices are remembered for
a second so a flood of messages from one does not turn into a flood of reads.
The HTTP endpoints write through here, which keeps this process's cache exact.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

from cityfabric.ingest.devices import (
    MAPPING_ATTR,
    MAPPING_IRI,
    PROFILE_PREFIX,
    PROFILE_TYPE,
    DeviceProfile,
    check_device_id,
    parse_profile,
)
from cityfabric.ingest.topics import tenant_from_name
from cityfabric.ngsild.context import ActiveContext, core_context
from cityfabric.ngsild.contexts_store import ContextRegistry
from cityfabric.ngsild.errors import BadRequestData, NgsiLdError, ResourceNotFound
from cityfabric.ngsild.querybuild import QueryParams, build_query
from cityfabric.ngsild.service import EntityService, Names
from cityfabric.store.base import DEFAULT_TENANT

MISS_TTL_S = 1.0
CACHE_LIMIT = 200_000


@dataclass(frozen=True)
class Resolved:
    """A profile with the @context its entity is written with."""

    profile: DeviceProfile
    context: ActiveContext


class DeviceProfiles:
    """Profiles by (tenant, device id): stored as entities, cached with their @context."""

    def __init__(self, service: EntityService, contexts: ContextRegistry) -> None:
        self.service = service
        self.contexts = contexts
        self._cache: dict[tuple[str, str], Resolved] = {}
        self._misses: dict[tuple[str, str], float] = {}

    def cached(self, tenant: str, device_id: str) -> Resolved | None:
        """The cached profile, without any I/O (the bridge's hot path)."""
        return self._cache.get((tenant, device_id))

    async def get(self, tenant: str, device_id: str) -> Resolved | None:
        """The profile of a device, reading the store on a cache miss."""
        key = (tenant, device_id)
        found = self._cache.get(key)
        if found is not None:
            return found
        missed = self._misses.get(key)
        if missed is not None and time.monotonic() - missed < MISS_TTL_S:
            return None
        doc = await self.service.store.get(tenant, PROFILE_PREFIX + device_id)
        if doc is None:
            if len(self._misses) >= CACHE_LIMIT:
                self._misses.clear()
            self._misses[key] = time.monotonic()
            return None
        return self._remember(tenant, await self.resolve(profile_of_doc(doc)))

    async def resolve(self, profile: DeviceProfile) -> Resolved:
        """The profile with its @context loaded (LdContextNotAvailable when it cannot be)."""
        ctx = (
            core_context()
            if profile.context is None
            else await self.contexts.resolve(profile.context)
        )
        return Resolved(profile, ctx)

    async def put(self, tenant: str, profiles: Sequence[DeviceProfile]) -> None:
        """Create or replace profiles (their @context must load)."""
        resolved = [await self.resolve(p) for p in profiles]
        items: list[tuple[object, Names]] = [(profile_entity(p), core_context()) for p in profiles]
        result = await self.service.batch(tenant, "upsert", items, upsert_mode="replace")
        if result.errors:
            raise result.errors[0][1]
        for r in resolved:
            self._remember(tenant, r)

    async def delete(self, tenant: str, device_id: str) -> None:
        check_device_id(device_id)
        self._forget(tenant, device_id)
        try:
            await self.service.delete(tenant, PROFILE_PREFIX + device_id)
        except ResourceNotFound:
            raise ResourceNotFound(f"no profile for device {device_id!r}") from None

    async def read(self, tenant: str, device_id: str) -> DeviceProfile:
        check_device_id(device_id)
        try:
            doc = await self.service.get(tenant, PROFILE_PREFIX + device_id)
        except ResourceNotFound:
            raise ResourceNotFound(f"no profile for device {device_id!r}") from None
        return profile_of_doc(doc)

    async def list(self, tenant: str, *, limit: str | None, offset: str | None) -> list[Any]:
        """One page of profiles in their JSON form, in provisioning order."""
        query = build_query(
            QueryParams(type=PROFILE_TYPE, limit=limit or "100", offset=offset), core_context()
        )
        page = await self.service.query(tenant, query)
        return [profile_of_doc(doc).to_json() for doc in page.docs]

    def _remember(self, tenant: str, resolved: Resolved) -> Resolved:
        key = (tenant, resolved.profile.device_id)
        if len(self._cache) >= CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = resolved
        self._misses.pop(key, None)
        return resolved

    def _forget(self, tenant: str, device_id: str) -> None:
        self._cache.pop((tenant, device_id), None)
        self._misses.pop((tenant, device_id), None)


def profile_entity(profile: DeviceProfile) -> dict[str, Any]:
    """The `DeviceProfile` entity that stores a profile."""
    return {
        "id": profile.profile_entity_id,
        "type": PROFILE_TYPE,
        MAPPING_ATTR: {"type": "Property", "value": profile.to_json()},
    }


def profile_of_doc(doc: dict[str, Any]) -> DeviceProfile:
    """The profile a stored `DeviceProfile` entity holds (checked again: it may be edited)."""
    try:
        value = doc["attrs"][MAPPING_IRI][0]["value"]
    except (KeyError, IndexError, TypeError):
        raise BadRequestData(f"entity {doc.get('id')} holds no device profile") from None
    return parse_profile(value)


# ---- profiles from a file (`cityfabric run --device-profiles FILE`) ----------------------


def load_profiles_file(path: Path) -> dict[str, list[DeviceProfile]]:
    """Profiles by tenant from a YAML or JSON file; BadRequestData names the faulty entry.

    The file holds a list of profiles, or an object with a "profiles" list. A
    profile in a file may say which tenant it belongs to with "tenant"
    (`default`, the default, is the default tenant).
    """
    try:
        text = path.read_bytes()
    except OSError as err:
        raise BadRequestData(f"cannot read device profiles {path}: {err.strerror}") from None
    try:
        doc = orjson.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (orjson.JSONDecodeError, yaml.YAMLError) as err:
        raise BadRequestData(f"device profiles {path} are not valid JSON or YAML: {err}") from None
    if isinstance(doc, dict) and set(doc) == {"profiles"}:
        doc = doc["profiles"]
    if not isinstance(doc, list):
        raise BadRequestData(f"device profiles {path}: expected a list of profiles")
    out: dict[str, list[DeviceProfile]] = {}
    for n, raw in enumerate(doc):
        where = f"{path.name}: profile #{n + 1}"
        tenant = DEFAULT_TENANT
        if isinstance(raw, dict) and "tenant" in raw:
            raw = dict(raw)
            tenant = _file_tenant(raw.pop("tenant"), where)
        out.setdefault(tenant, []).append(parse_profile(raw, where=where))
    return out


def _file_tenant(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise BadRequestData(f"{where}: tenant must be a tenant name")
    try:
        return tenant_from_name(value)
    except NgsiLdError as err:
        raise BadRequestData(f"{where}: {err.detail}") from None
