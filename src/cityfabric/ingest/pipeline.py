"""Write a batch of ingested messages through `EntityService.batch`, dead-lettering the bad.

Transport-free: the MQTT bridge hands over (topic, payload) pairs and acks them
once `Ingestor.ingest` returns, i.e. once every write holding them, dead letters
included, is committed. A message is either written or dead-lettered; an
exception out of `ingest` (the store failed) means nothing may be acked.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from cityfabric.ingest.deadletter import DeadLetter, dead_letter_entity
from cityfabric.ingest.profiles import DeviceProfiles
from cityfabric.ingest.topics import Topic, parse_topic, tenant_of_topic
from cityfabric.ngsild.context import core_context
from cityfabric.ngsild.contexts_store import ContextRegistry
from cityfabric.ngsild.errors import BadRequestData, NgsiLdError, NonexistentTenant
from cityfabric.ngsild.nul import refuse_json_nul
from cityfabric.ngsild.service import EntityService, Names
from cityfabric.store.base import DEFAULT_TENANT

log = logging.getLogger("cityfabric.ingest")
WriteKind = Literal["update", "upsert"]
_SYSTEM_MEMBERS = frozenset({"@context", "id", "type", "createdAt", "modifiedAt"})


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes


@dataclass
class Outcome:
    written: int = 0
    dead: int = 0


@dataclass(slots=True)
class _Planned:
    index: int  # position in the batch of messages
    entity_id: str
    item: dict[str, Any]
    ctx: Names


def reason_of(err: NgsiLdError) -> str:
    return f"{err.title}: {err.detail}"


class Ingestor:
    """Turns messages into entity writes, grouped per tenant, in arrival order per entity."""

    def __init__(
        self, service: EntityService, contexts: ContextRegistry, profiles: DeviceProfiles
    ) -> None:
        self.service = service
        self.contexts = contexts
        self.profiles = profiles

    async def ingest(self, messages: Sequence[Message]) -> Outcome:
        """Write the messages, and a dead letter for each one that cannot be written."""
        plans: dict[tuple[str, WriteKind], list[_Planned]] = defaultdict(list)
        letters: list[DeadLetter] = []
        for index, message in enumerate(messages):
            try:
                topic = parse_topic(message.topic)
                kind, item, ctx = await self._plan(topic, message.payload)
            except NgsiLdError as err:
                tenant = tenant_of_topic(message.topic)
                letters.append(DeadLetter(tenant, message.topic, message.payload, reason_of(err)))
                continue
            plans[(topic.tenant, kind)].append(_Planned(index, item["id"], item, ctx))
        for (tenant, kind), planned in plans.items():
            for index, error in await self._write(tenant, kind, planned):
                failed = messages[index]
                letters.append(DeadLetter(tenant, failed.topic, failed.payload, reason_of(error)))
        if letters:
            await self.write_dead_letters(letters)
        return Outcome(written=len(messages) - len(letters), dead=len(letters))

    async def _plan(self, topic: Topic, payload: bytes) -> tuple[WriteKind, dict[str, Any], Names]:
        try:
            body = orjson.loads(payload)
        except orjson.JSONDecodeError as err:
            raise BadRequestData(f"the payload is not valid JSON: {err}") from None
        refuse_json_nul(payload, body, "the payload")
        if type(body) is not dict:
            raise BadRequestData(f"the payload must be a JSON object, not {type(body).__name__}")
        if topic.kind == "device":
            resolved = self.profiles.cached(topic.tenant, topic.target)
            if resolved is None:
                resolved = await self.profiles.get(topic.tenant, topic.target)
            if resolved is None:
                raise BadRequestData(
                    f"unknown device {topic.target!r}: provision its profile with "
                    "POST /cityfabric/v1/devices"
                )
            return "upsert", resolved.profile.entity(body), resolved.context
        return "update", *await self._fragment(topic.target, body)

    async def _fragment(self, entity_id: str, body: dict[str, Any]) -> tuple[dict[str, Any], Names]:
        """An attribute fragment: update semantics, attributes created when missing."""
        context = body.get("@context")
        ctx: Names = core_context() if context is None else await self.contexts.resolve(context)
        if "id" in body and body["id"] != entity_id:
            raise BadRequestData(f"payload id {body['id']!r} differs from the topic's {entity_id}")
        item = {k: v for k, v in body.items() if k not in _SYSTEM_MEMBERS}
        if not item:
            raise BadRequestData("the payload has no attributes")
        item["id"] = entity_id
        return item, ctx

    async def _write(
        self, tenant: str, kind: WriteKind, planned: list[_Planned]
    ) -> list[tuple[int, NgsiLdError]]:
        """Batch writes where each entity occurs once, so each error names one message."""
        failed: list[tuple[int, NgsiLdError]] = []
        for round_ in _rounds(planned):
            items: list[tuple[object, Names]] = [(p.item, p.ctx) for p in round_]
            result = await self.service.batch(tenant, kind, items, upsert_mode="update")
            if result.errors:
                by_id = {p.entity_id: p.index for p in round_}
                failed.extend((by_id[i], err) for i, err in result.errors if i in by_id)
        return failed

    async def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Store dead letters; one whose tenant does not exist goes to the default tenant."""
        by_tenant: dict[str, list[tuple[object, Names]]] = defaultdict(list)
        ctx = core_context()
        for letter in letters:
            tenant = await self._existing(letter.tenant)
            if tenant != letter.tenant:
                letter = DeadLetter(
                    tenant,
                    letter.topic,
                    letter.payload,
                    f"{letter.reason} (tenant {letter.tenant!r} does not exist)",
                )
            by_tenant[tenant].append((dead_letter_entity(letter), ctx))
        for tenant, items in by_tenant.items():
            result = await self.service.batch(tenant, "create", items)
            for entity_id, err in result.errors:
                log.error("dead letter %s not stored: %s", entity_id, reason_of(err))
            log.warning("%d MQTT message(s) dead-lettered in tenant %r", len(items), tenant)

    async def _existing(self, tenant: str) -> str:
        """The tenant if it exists, else the default one (messages never create tenants)."""
        try:
            await self.service.check_tenant(tenant)
        except NonexistentTenant:
            return DEFAULT_TENANT
        return tenant


def _rounds(planned: list[_Planned]) -> list[list[_Planned]]:
    """Split into rounds in which each entity id occurs at most once, keeping order per id."""
    rounds: list[list[_Planned]] = []
    seen: dict[str, int] = {}
    for p in planned:
        n = seen.get(p.entity_id, 0)
        seen[p.entity_id] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(p)
    return rounds
