"""The ingest pipeline on a real store: writes, ordering, and each dead-letter reason."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from cityfabric.ingest.devices import parse_profile
from cityfabric.ingest.pipeline import Ingestor, Message
from cityfabric.ingest.profiles import DeviceProfiles
from cityfabric.ngsild.context import core_context
from cityfabric.ngsild.contexts_store import ContextRegistry
from cityfabric.ngsild.errors import NgsiLdError
from cityfabric.ngsild.service import EntityService
from cityfabric.store.base import EntityQuery
from cityfabric.store.sqlite import SqliteStore
from tests.conftest import SDM_CONTEXTS, STREETLIGHT_CTX

LAMP = "urn:ngsi-ld:Streetlight:1"
FRAGMENT = f"cityfabric/default/entities/{LAMP}/attrs"


def prop(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


def msg(topic: str, payload: object) -> Message:
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return Message(topic, raw)


@pytest.fixture
async def ingestor(tmp_path: Path) -> AsyncIterator[Ingestor]:
    store = SqliteStore(tmp_path / "db.sqlite", readers=1)
    await store.open()
    service = EntityService(store)
    contexts = ContextRegistry(SDM_CONTEXTS, tmp_path / "contexts")
    profiles = DeviceProfiles(service, contexts)
    await service.create(
        "", {"id": LAMP, "type": "Streetlight", "status": prop("off")}, core_context()
    )
    await profiles.put(
        "",
        [parse_profile({"deviceId": "m1", "entityType": "Meter", "measurements": {"p": "power"}})],
    )
    try:
        yield Ingestor(service, contexts, profiles)
    finally:
        await store.close()


async def attrs(ing: Ingestor, entity_id: str, tenant: str = "") -> dict[str, Any]:
    doc = await ing.service.get(tenant, entity_id)
    return {core_context().compact(k): v[0]["value"] for k, v in doc["attrs"].items()}


async def letters(ing: Ingestor, tenant: str = "") -> list[dict[str, Any]]:
    page = await ing.service.store.query(tenant, EntityQuery(types=None, limit=1000))
    out = []
    for doc in page.docs:
        if doc["id"].startswith("urn:ngsi-ld:DeadLetter:"):
            out.append({core_context().compact(k): v[0]["value"] for k, v in doc["attrs"].items()})
    return out


async def test_fragments_update_and_create_attributes(ingestor: Ingestor) -> None:
    out = await ingestor.ingest(
        [msg(FRAGMENT, {"status": prop("on")}), msg(FRAGMENT, {"dim": prop(40), "id": LAMP})]
    )
    assert (out.written, out.dead) == (2, 0)
    assert await attrs(ingestor, LAMP) == {"status": "on", "dim": 40}


async def test_fragment_with_its_own_context(ingestor: Ingestor) -> None:
    body = {"@context": STREETLIGHT_CTX, "powerState": prop("on")}
    await ingestor.ingest([msg(FRAGMENT, body)])
    doc = await ingestor.service.get("", LAMP)
    assert any(
        k.endswith("powerState") and k.startswith("https://smartdatamodels.org")
        for k in doc["attrs"]
    )


async def test_device_messages_upsert_in_order(ingestor: Ingestor) -> None:
    batch = [msg("cityfabric/default/devices/m1", {"p": n, "seq": n}) for n in range(50)]
    out = await ingestor.ingest(batch)
    assert (out.written, out.dead) == (50, 0)
    assert await attrs(ingestor, "urn:ngsi-ld:Meter:m1") == {"power": 49, "seq": 49}


async def test_one_bad_message_does_not_spoil_the_others(ingestor: Ingestor) -> None:
    batch = [
        msg(FRAGMENT, {"level": prop(1)}),
        msg(FRAGMENT, {"level": {"type": "Property"}}),  # no value
        msg(FRAGMENT, {"level": prop(3)}),
    ]
    out = await ingestor.ingest(batch)
    assert (out.written, out.dead) == (2, 1)
    assert (await attrs(ingestor, LAMP))["level"] == 3
    [letter] = await letters(ingestor)
    assert letter["reason"].startswith("BadRequestData: ") and "'level'" in letter["reason"]


@pytest.mark.parametrize(
    ("topic", "payload", "says"),
    [
        (FRAGMENT, b"{oops", "BadRequestData: the payload is not valid JSON"),
        (FRAGMENT, b"[1, 2]", "the payload must be a JSON object, not list"),
        (FRAGMENT, {"@context": None}, "the payload has no attributes"),
        (FRAGMENT, {"id": "urn:x:2", "a": prop(1)}, "differs from the topic's"),
        (FRAGMENT, {"a": None}, "attribute 'a' has no value"),
        (FRAGMENT, {"a": prop("o\x00n")}, "the payload contains the character U+0000"),
        ("cityfabric/default/devices/m1", {"p": "\x00"}, "U+0000 (NUL)"),
        (FRAGMENT.replace(LAMP, "urn:ngsi-ld:Nope:1"), {"a": prop(1)}, "ResourceNotFound: entity"),
        (FRAGMENT.replace(LAMP, "not-a-uri"), {"a": prop(1)}, "id must be a URI"),
        ("cityfabric/default/devices/m2", {"p": 1}, "unknown device 'm2'"),
        ("cityfabric/default/devices/m1", {"p": 1, "ts": "soon"}, "ts 'soon' must be"),
        ("cityfabric/default/devices/m1", {"ts": 5}, "has no measurements"),
        ("cityfabric/default/nothing/x", {}, "is not cityfabric/<tenant>"),
        ("cityfabric/bad!/devices/m1", {}, "not a valid tenant name"),
        (FRAGMENT, {"@context": "http://127.0.0.1:9/nowhere.jsonld", "a": prop(1)}, "LdContext"),
    ],
)
async def test_dead_letter_reasons(
    ingestor: Ingestor, topic: str, payload: object, says: str
) -> None:
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    out = await ingestor.ingest([Message(topic, raw)])
    assert (out.written, out.dead) == (0, 1)
    [letter] = await letters(ingestor)
    assert says in letter["reason"]
    assert letter["topic"] == topic and letter["payload"] == raw.decode()


async def test_unknown_tenant_letters_go_to_the_default_tenant(ingestor: Ingestor) -> None:
    await ingestor.ingest([msg("cityfabric/nowhere/devices/m1", {"p": 1})])
    assert not await ingestor.service.store.tenant_exists("nowhere")
    [letter] = await letters(ingestor)
    assert "tenant 'nowhere' does not exist" in letter["reason"]


async def test_tenants_are_kept_apart(ingestor: Ingestor) -> None:
    profile = parse_profile({"deviceId": "m1", "entityType": "Meter", "measurements": {"p": "x"}})
    await ingestor.profiles.put("minsk", [profile])
    await ingestor.ingest(
        [
            msg("cityfabric/minsk/devices/m1", {"p": 7}),
            msg("cityfabric/default/devices/m1", {"p": 8}),
        ]
    )
    assert await attrs(ingestor, "urn:ngsi-ld:Meter:m1", "minsk") == {"x": 7}
    assert await attrs(ingestor, "urn:ngsi-ld:Meter:m1") == {"power": 8}
    await ingestor.ingest([msg("cityfabric/minsk/devices/m9", {"p": 7})])
    assert len(await letters(ingestor, "minsk")) == 1 and not await letters(ingestor)


async def test_a_failing_store_raises_so_nothing_is_acked(ingestor: Ingestor) -> None:
    await ingestor.service.store.close()
    with pytest.raises(NgsiLdError):
        await ingestor.ingest([msg("cityfabric/default/devices/m1", {"p": 1})])
