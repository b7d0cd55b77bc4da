"""The change hook on a real store: what a change queues in the outbox, for whom, why."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cityfabric.ngsild.model import EntityDoc
from cityfabric.notify.index import Index
from cityfabric.notify.matcher import (
    CHANGES,
    Recorder,
    _slim,
    _unslim,
    expand,
    load_subscriptions,
)
from cityfabric.notify.payload import Match, decode
from cityfabric.notify.service import SubscriptionService
from cityfabric.store.base import Change, ChangeProbe, OutboxRow, Settlement
from cityfabric.store.sqlite import SqliteStore
from tests.notify.samples import (
    AQL,
    BUILDING,
    CITY,
    LATER,
    NOW,
    RECEIVER,
    TEMPERATURE,
    TOWER,
    minimal,
)
from tests.store.conftest import make_store

T0 = "2026-11-23T16:00:00.000000Z"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> str:
        return self.now


@pytest.fixture
async def env(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[SqliteStore, SubscriptionService, Clock]]:
    store = make_store(engine, tmp_path, request)  # each engine (--store)
    await store.open()
    clock = Clock()
    store.set_change_hook(Recorder(clock))
    yield store, SubscriptionService(store, clock=clock), clock
    await store.close()


def doc(entity_id: str, types: list[str], **attrs: Any) -> EntityDoc:
    return {
        "id": entity_id,
        "type": types,
        "createdAt": T0,
        "modifiedAt": T0,
        "attrs": {k: [{"type": "Property", "value": v}] for k, v in attrs.items()},
    }


async def put(store: SqliteStore, d: EntityDoc | None, entity_id: str = "") -> None:
    results = await store.apply("", [(entity_id or (d or {})["id"], lambda _old: d)])
    assert all(r.ok for r in results)


async def queued(store: SqliteStore) -> list[tuple[str, Match]]:
    """The matches queued since the last call: recorded changes matched as the delivery
    worker matches them, against the subscriptions as they are now."""
    items = await store.due_notifications(2**60, 1000, 1000)
    if items:
        await store.settle_notifications(Settlement(delivered=[i.oid for i in items]))
    out = []
    for item in items:
        if item.subscription_id != CHANGES:
            out.append((item.subscription_id, decode(item.payload)))
            continue
        rows, _ = await store.list_subscriptions(item.tenant, 1000, 0, False)
        index = Index()
        for sub in load_subscriptions([("", doc) for doc, _ in rows]):
            index.add(sub)
        out += [(sub.id, match) for sub, match in expand(index, item.payload)]
    return out


async def subscribe(svc: SubscriptionService, **members: Any) -> str:
    return await svc.create("", minimal(**members), CITY)


B1 = "urn:ngsi-ld:Building:1"


async def test_default_triggers_create_and_update(env: Any) -> None:
    store, svc, _ = env
    sub = await subscribe(svc)
    await put(store, doc(B1, [BUILDING], **{AQL: "good"}))
    [(sid, match)] = await queued(store)
    assert sid == sub
    assert match.trigger == "attributeCreated"
    assert match.attrs == (AQL,)
    assert match.entity["id"] == B1
    await put(store, doc(B1, [BUILDING], **{AQL: "bad"}))
    [(_, match)] = await queued(store)
    assert (match.trigger, match.attrs) == ("attributeUpdated", (AQL,))
    await put(store, None, B1)  # deletion: not in the default triggers
    assert await queued(store) == []


async def test_entity_triggers(env: Any) -> None:
    store, svc, _ = env
    await subscribe(svc, notificationTrigger=["entityCreated", "entityUpdated", "entityDeleted"])
    await put(store, doc(B1, [BUILDING], **{AQL: "good"}))
    await put(store, doc(B1, [BUILDING], **{TEMPERATURE: 3}))  # AQL deleted, temp created
    await put(store, None, B1)
    got = [(m.trigger, m.attrs) for _, m in await queued(store)]
    assert got == [
        ("entityCreated", (AQL,)),
        ("entityUpdated", tuple(sorted((AQL, TEMPERATURE)))),
        ("entityDeleted", (TEMPERATURE,)),
    ]


async def test_unchanged_attribute_does_not_fire(env: Any) -> None:
    store, svc, _ = env
    await subscribe(svc, watchedAttributes=["airQualityLevel"], entities=None)
    await put(store, doc(B1, [BUILDING], **{AQL: "good", TEMPERATURE: 1}))
    assert len(await queued(store)) == 1
    await put(store, doc(B1, [BUILDING], **{AQL: "good", TEMPERATURE: 2}))
    assert await queued(store) == []  # only an unwatched attribute changed


async def test_attribute_deleted_trigger(env: Any) -> None:
    store, svc, _ = env
    await put(store, doc(B1, [BUILDING], **{AQL: "good", TEMPERATURE: 1}))
    await subscribe(svc, notificationTrigger=["attributeDeleted"])
    await put(store, doc(B1, [BUILDING], **{TEMPERATURE: 1}))
    [(_, m)] = await queued(store)
    assert (m.trigger, m.attrs) == ("attributeDeleted", (AQL,))


async def test_type_id_and_id_pattern_selectors(env: Any) -> None:
    store, svc, _ = env
    by_type = await subscribe(svc, entities=[{"type": "Tower"}])
    by_id = await subscribe(svc, entities=[{"type": "Building", "id": "urn:ngsi-ld:Building:2"}])
    by_pattern = await subscribe(svc, entities=[{"type": "Building", "idPattern": ":3$"}])
    both = await subscribe(svc, entities=[{"type": "Building;Tower"}])
    await put(store, doc(B1, [BUILDING], **{AQL: 1}))
    await put(store, doc("urn:ngsi-ld:Building:2", [BUILDING], **{AQL: 1}))
    await put(store, doc("urn:ngsi-ld:Building:3", [BUILDING, TOWER], **{AQL: 1}))
    got = sorted((sid, m.entity["id"]) for sid, m in await queued(store))
    assert got == sorted(
        [
            (by_id, "urn:ngsi-ld:Building:2"),
            (by_type, "urn:ngsi-ld:Building:3"),
            (by_pattern, "urn:ngsi-ld:Building:3"),
            (both, "urn:ngsi-ld:Building:3"),
        ]
    )


async def test_q_is_evaluated_on_the_written_entity(env: Any) -> None:
    store, svc, _ = env
    await subscribe(svc, q='airQualityLevel=="bad"')
    await put(store, doc(B1, [BUILDING], **{AQL: "good"}))
    assert await queued(store) == []
    await put(store, doc(B1, [BUILDING], **{AQL: "bad"}))
    [(_, m)] = await queued(store)
    assert m.entity["attrs"][AQL][0]["value"] == "bad"


async def test_inactive_expired_and_other_tenants(env: Any) -> None:
    store, svc, clock = env
    await subscribe(svc, isActive=False)
    await subscribe(svc, expiresAt=LATER)
    await svc.create("other", minimal(), CITY)
    await put(store, doc(B1, [BUILDING], **{AQL: 1}))
    assert len(await queued(store)) == 1  # the one that expires later
    clock.now = LATER
    await put(store, doc(B1, [BUILDING], **{AQL: 2}))
    assert await queued(store) == []


async def test_subscription_changes_are_seen(env: Any) -> None:
    store, svc, _ = env
    await put(store, doc(B1, [BUILDING], **{AQL: 1}))
    sub = await subscribe(svc)
    await put(store, doc(B1, [BUILDING], **{AQL: 2}))
    assert len(await queued(store)) == 1
    await svc.delete("", sub)
    await put(store, doc(B1, [BUILDING], **{AQL: 3}))
    assert await queued(store) == []


async def test_a_failing_hook_keeps_the_write(env: Any) -> None:
    store, _, _ = env

    def broken(probe: ChangeProbe, changes: list[Change]) -> list[OutboxRow]:
        raise RuntimeError("boom")

    store.set_change_hook(broken)
    await put(store, doc(B1, [BUILDING], **{AQL: 1}))
    assert (await store.get("", B1))["id"] == B1
    assert await store.pending_notifications() == 0


async def test_show_changes_queues_previous_values(env: Any) -> None:
    store, svc, _ = env
    await subscribe(svc, notification={"endpoint": {"uri": RECEIVER}, "showChanges": True})
    await subscribe(svc)  # without showChanges: no previous values
    await put(store, doc(B1, [BUILDING], **{AQL: "good", TEMPERATURE: 1}))
    assert [m.previous for _, m in await queued(store)] == [None, None]  # a creation
    await put(store, doc(B1, [BUILDING], **{AQL: "bad", TEMPERATURE: 1}))
    got = sorted((m.previous or {}) != {} for _, m in await queued(store))
    assert got == [False, True]
    await put(store, doc(B1, [BUILDING], **{AQL: "worse", TEMPERATURE: 1}))
    [shown] = [m for _, m in await queued(store) if m.previous]
    # only the changed attribute, as it was before this change
    assert shown.previous == {AQL: {"@none": {"type": "Property", "value": "bad"}}}


async def test_dataset_id_selects_the_instances_that_count(env: Any) -> None:
    store, svc, _ = env
    ds = "urn:ngsi-ld:Dataset:a"
    only_a = await subscribe(svc, datasetId=[ds])
    default = await subscribe(svc, datasetId="@none")

    def entity(default_value: str, a_value: str | None) -> EntityDoc:
        d = doc(B1, [BUILDING], **{AQL: default_value})
        if a_value is not None:
            d["attrs"][AQL].append({"type": "Property", "value": a_value, "datasetId": ds})
        return d

    await put(store, entity("good", None))
    assert [sid for sid, _ in await queued(store)] == [default]
    await put(store, entity("good", "ok"))  # the dataset's instance is created
    [(sid, m)] = await queued(store)
    assert (sid, m.trigger, m.attrs) == (only_a, "attributeCreated", (AQL,))
    await put(store, entity("bad", "ok"))  # only the default instance changed
    assert [sid for sid, _ in await queued(store)] == [default]
    await put(store, entity("bad", "poor"))
    assert [sid for sid, _ in await queued(store)] == [only_a]


async def test_one_row_per_write_and_none_for_types_nobody_selects(env: Any) -> None:
    store, svc, _ = env
    await subscribe(svc)
    b2 = "urn:ngsi-ld:Building:2"
    docs = [doc(B1, [BUILDING], **{AQL: 1}), doc(b2, [BUILDING], **{AQL: 2})]
    results = await store.apply("", [(d["id"], lambda _old, d=d: d) for d in docs])
    assert all(r.ok for r in results)
    items = await store.due_notifications(2**60, 1000, 1000)
    assert [i.subscription_id for i in items] == [CHANGES]  # both changes in one row
    await store.settle_notifications(Settlement(delivered=[i.oid for i in items]))
    await put(store, doc("urn:ngsi-ld:Tower:1", [TOWER], **{AQL: 1}))  # no one selects towers
    assert await store.pending_notifications() == 0


async def test_filters_are_judged_on_each_write_though_matching_comes_later(env: Any) -> None:
    store, svc, _ = env
    bad = await subscribe(svc, q='airQualityLevel=="bad"')
    every = await subscribe(svc)
    await put(store, doc(B1, [BUILDING], **{AQL: "bad"}))
    await put(store, doc(B1, [BUILDING], **{AQL: "good"}))  # before anything is matched
    got = [(sid, m.entity["attrs"][AQL][0]["value"]) for sid, m in await queued(store)]
    assert sorted(got) == sorted([(bad, "bad"), (every, "bad"), (every, "good")])


async def test_a_filtered_subscription_made_after_a_change_is_not_notified_of_it(
    env: Any,
) -> None:
    store, svc, _ = env
    every = await subscribe(svc)
    await put(store, doc(B1, [BUILDING], **{AQL: "bad"}))
    await subscribe(svc, q='airQualityLevel=="bad"')  # nothing evaluated it at the write
    assert [sid for sid, _ in await queued(store)] == [every]


_instances = st.lists(
    st.fixed_dictionaries(
        {"type": st.just("Property"), "value": st.integers(0, 2)},
        optional={"datasetId": st.sampled_from(["urn:ngsi-ld:Dataset:a", "urn:ngsi-ld:Dataset:b"])},
    ),
    min_size=1,
    max_size=2,
)
_attrs = st.dictionaries(st.sampled_from([AQL, TEMPERATURE, "urn:x:c"]), _instances, max_size=3)


@given(_attrs, _attrs)
def test_a_recorded_update_keeps_what_matching_reads_of_the_doc_before(
    old: dict[str, Any], new: dict[str, Any]
) -> None:
    before, after = doc(B1, [BUILDING]), doc(B1, [BUILDING])
    before["attrs"], after["attrs"] = old, new
    kept = _unslim(_slim(before, after), after)
    assert kept is not None and kept["attrs"] == old
