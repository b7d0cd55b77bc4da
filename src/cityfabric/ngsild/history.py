"""The temporal API's services (GS CIM 009 clause 5.6.11-5.6.19, 5.7.3-5.7.4).

Every entity write records its history in the store; these services add
instances directly (temporal create and append), change or delete recorded
ones, query history, and keep raw history within its retention.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Final, Protocol

from cityfabric.ngsild.entity import (
    check_entity_id,
    check_name,
    now_iso,
    parse_instance,
    parse_types,
)
from cityfabric.ngsild.errors import BadRequestData, ResourceNotFound
from cityfabric.ngsild.model import INSTANCE_KEYS, Instance
from cityfabric.ngsild.temporal import DAY_MS, parse_duration
from cityfabric.ngsild.tenants import KnownTenants
from cityfabric.store.base import (
    ChangePage,
    ChangeQuery,
    EntityHistory,
    HistoryPage,
    HistoryQuery,
    Store,
)

log = logging.getLogger(__name__)

_NOT_ATTRS: Final = frozenset({"@context", "id", "type", "scope", "createdAt", "modifiedAt"})
_DROPPED: Final = ("instanceId", "createdAt", "modifiedAt")
MAX_RETENTION_MS: Final = 366_000 * DAY_MS  # about 1000 years; beyond that, set no rule


class Names(Protocol):
    def expand(self, term: str) -> str: ...


def parse_temporal_entity(
    body: object, expand: Callable[[str], str], *, entity_id: str | None = None
) -> tuple[str, list[str], list[tuple[str, Instance]]]:
    """(id, type IRIs, [(attribute IRI, instance)]) of a temporal representation."""
    if not isinstance(body, dict):
        raise BadRequestData("the payload must be a JSON object (a temporal entity)")
    if entity_id is None:
        entity_id = check_entity_id(body.get("id"))
    elif "id" in body and body["id"] != entity_id:
        raise BadRequestData("the id in the payload differs from the id in the path")
    types = parse_types(body["type"], expand) if "type" in body else []
    instances: list[tuple[str, Instance]] = []
    for name, raw in body.items():
        if name in _NOT_ATTRS:
            continue
        iri = expand(check_name(name))
        items = raw if isinstance(raw, list) else [raw]
        if not items:
            raise BadRequestData(f"attribute {name!r} has no instances")
        for item in items:
            instances.append((iri, _instance(name, iri, item, expand)))
    return entity_id, types, instances


def _instance(name: str, iri: str, raw: object, expand: Callable[[str], str]) -> Instance:
    # the common telemetry shape (a scalar, its observedAt and maybe its unitCode), checked
    # here and parsed in the writer
    if type(raw) is dict and raw.get("type") == "Property" and _telemetry_size(raw):
        value, observed = raw.get("value"), raw.get("observedAt")
        if type(value) in (int, float, str, bool) and type(observed) is str:
            return raw
    if isinstance(raw, dict):
        raw = {k: v for k, v in raw.items() if k not in _DROPPED}
    return parse_instance(name, iri, raw, expand)


def _telemetry_size(raw: dict[str, Any]) -> bool:
    """3 members (type, value, observedAt), or 4 with a non-empty unitCode string."""
    if len(raw) == 3:
        return True
    unit = raw.get("unitCode")
    return len(raw) == 4 and type(unit) is str and unit != ""


class HistoryService:
    """History over the store; `clock` (seconds) is injectable for retention tests."""

    def __init__(
        self,
        store: Store,
        *,
        default_retention_ms: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.default_retention_ms = default_retention_ms
        self.clock = clock
        self._tenants = KnownTenants(store)

    async def check_tenant(self, tenant: str) -> None:
        await self._tenants.check(tenant)

    async def create(self, tenant: str, body: object, ctx: Names) -> tuple[str, bool]:
        """Temporal create or append (5.6.11): (id, True when the entity had no history)."""
        entity_id, types, instances = parse_temporal_entity(body, ctx.expand)
        if not types:
            raise BadRequestData("a temporal entity needs a type")
        created = await self.store.add_history(tenant, entity_id, types, instances, now_iso())
        return entity_id, created

    async def add_attrs(self, tenant: str, entity_id: str, body: object, ctx: Names) -> None:
        """Add attribute instances to an entity that has history (5.6.12)."""
        check_entity_id(entity_id)
        _, types, instances = parse_temporal_entity(body, ctx.expand, entity_id=entity_id)
        if not instances:
            raise BadRequestData("the payload has no attributes")
        only_entity = HistoryQuery(ids=(entity_id,), with_series=False)
        page = await self.store.history(tenant, only_entity)
        if not page.entities:
            await self.check_tenant(tenant)
            raise ResourceNotFound(f"entity {entity_id!r} has no history")
        known = page.entities[0].types
        await self.store.add_history(tenant, entity_id, types or known, instances, now_iso())

    async def changes(self, tenant: str, query: ChangeQuery) -> ChangePage:
        """The instances recorded after a change-feed cursor (in-process consumers only)."""
        return await self.store.history_changes(tenant, query)

    async def query(self, tenant: str, query: HistoryQuery) -> HistoryPage:
        page = await self.store.history(tenant, query)
        if not page.entities:
            await self.check_tenant(tenant)
        return page

    async def get(self, tenant: str, entity_id: str, query: HistoryQuery) -> EntityHistory:
        check_entity_id(entity_id)
        page = await self.store.history(tenant, query)
        if not page.entities:
            await self.check_tenant(tenant)
            raise ResourceNotFound(f"entity {entity_id!r} has no history")
        return page.entities[0]

    async def delete(self, tenant: str, entity_id: str) -> None:
        check_entity_id(entity_id)
        await self.check_tenant(tenant)
        await self.store.delete_history(tenant, entity_id)

    async def delete_attr(
        self, tenant: str, entity_id: str, attr: str, dataset_id: str | None, delete_all: bool
    ) -> None:
        """5.6.13: one dataset (the default one unless datasetId) or, with deleteAll, all."""
        check_entity_id(entity_id)
        await self.check_tenant(tenant)
        dataset = None if delete_all else (dataset_id or "")
        await self.store.delete_history(tenant, entity_id, attr, dataset)

    async def patch_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str, body: object, ctx: Names
    ) -> None:
        """5.6.14: replace one instance's value and members; it keeps its instanceId."""
        check_entity_id(entity_id)
        if not isinstance(body, dict) or not body:
            raise BadRequestData("the payload must be a JSON object with the attribute")
        await self.check_tenant(tenant)
        raw: Any = body
        # {"temp": {...}} names the attribute; {"value": {...}, "accuracy": {...}} is an instance
        names = [k for k in body if k not in _NOT_ATTRS]
        if (
            len(names) == 1
            and names[0] not in INSTANCE_KEYS
            and isinstance(body[names[0]], dict | list)
        ):
            name = names[0]
            if ctx.expand(name) != attr:
                raise BadRequestData(f"the payload's attribute {name!r} is not the one in the path")
            raw = body[name]
            raw = raw[0] if isinstance(raw, list) and len(raw) == 1 else raw
        inst = _instance(attr, attr, raw, ctx.expand)
        await self.store.replace_instance(tenant, entity_id, attr, instance_id, inst, now_iso())

    async def delete_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str
    ) -> None:
        check_entity_id(entity_id)
        await self.check_tenant(tenant)
        await self.store.delete_instance(tenant, entity_id, attr, instance_id)

    async def set_retention(self, tenant: str, body: object, ctx: Names) -> dict[str, int]:
        """Rules as {"default": "P30D", "types": {"Streetlight": "P7D"}}; stored in ms."""
        if not isinstance(body, dict) or set(body) - {"default", "types", "@context"}:
            raise BadRequestData('retention rules are {"default": "P30D", "types": {...}}')
        rules: dict[str, int] = {}
        if body.get("default") is not None:
            rules[""] = _retention_ms(body["default"], "default")
        types = {} if body.get("types") is None else body["types"]
        if not isinstance(types, dict):
            raise BadRequestData('"types" must map entity types to durations')
        for name, duration in types.items():
            rules[ctx.expand(check_name(name, where="entity type"))] = _retention_ms(duration, name)
        await self.store.set_retention(tenant, rules)
        return rules

    async def retention(self, tenant: str) -> dict[str, int]:
        return await self.store.retention(tenant)

    async def expire(self, now_ms: int | None = None) -> int:
        """Delete raw history past retention, at `now_ms` or the service clock's now."""
        now = int(self.clock() * 1000) if now_ms is None else now_ms
        return await self.store.expire_history(now, self.default_retention_ms)


def _retention_ms(value: object, what: str) -> int:
    if not isinstance(value, str):
        raise BadRequestData(f"retention of {what!r} must be an ISO 8601 duration such as P30D")
    try:
        duration = parse_duration(value)
    except (BadRequestData, OverflowError):
        raise BadRequestData(
            f"retention of {what!r} must be an ISO 8601 duration such as P30D, not {value!r}"
        ) from None
    if duration.months:
        raise BadRequestData(f"retention of {what!r} must be in days or less (P30D, not P1M)")
    if duration.ms <= 0:
        raise BadRequestData(f"retention of {what!r} must be longer than zero")
    if duration.ms > MAX_RETENTION_MS:
        raise BadRequestData(
            f"retention of {what!r} may be 1000 years at most; omit it to keep all"
        )
    return duration.ms


async def expire_periodically(service: HistoryService, interval: float) -> None:
    """Apply retention now and then every `interval` seconds, until cancelled."""
    while True:
        try:
            await service.expire()
        except Exception:  # a failed pass is retried at the next interval
            log.exception("history retention pass failed")
        await asyncio.sleep(interval)
