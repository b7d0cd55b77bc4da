"""The notification outbox on every engine: queued with the write, claimed once, leases."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from cityfabric.ngsild.model import EntityDoc
from cityfabric.ngsild.query import AttrPath, Comparison
from cityfabric.store.base import (
    Change,
    ChangeProbe,
    EntityQuery,
    OutboxItem,
    OutboxRow,
    Push,
    Settlement,
)
from cityfabric.store.sqlite import SqliteStore
from cityfabric.store.sqlite.outbox import now_ms
from tests.store.conftest import AnyStore

SUB = "urn:ngsi-ld:Subscription:1"


def doc(eid: str, n: int) -> EntityDoc:
    return {"id": eid, "type": ["urn:t"], "attrs": {"urn:a": [{"type": "Property", "value": n}]}}


def one_row_per_change(probe: ChangeProbe, changes: Sequence[Change]) -> list[OutboxRow]:
    return [(tenant, SUB, entity_id.encode()) for tenant, entity_id, _, _ in changes]


async def test_rows_are_queued_with_the_write_and_wake_the_worker(store: AnyStore) -> None:
    woken = threading.Event()  # set from any thread, maybe just after apply returns
    store.set_change_hook(one_row_per_change, woken.set)
    await store.apply("t", [(f"urn:{i}", lambda _, i=i: doc(f"urn:{i}", i)) for i in range(5)])
    assert await store.pending_notifications() == 5
    assert await asyncio.to_thread(woken.wait, 5)
    items = await store.due_notifications(2**60, 100, 60_000)
    assert [i.payload for i in items] == [f"urn:{i}".encode() for i in range(5)]
    assert {i.tenant for i in items} == {"t"} and {i.subscription_id for i in items} == {SUB}


async def test_pushed_rows_come_claimed_with_their_ids(store: AnyStore) -> None:
    await store.apply("t", [("urn:old", lambda _: doc("urn:old", 0))])  # ids start past 1
    pushed: list[OutboxItem] = []
    woken = threading.Event()
    store.set_change_hook(
        one_row_per_change, woken.set, Push(lambda: now_ms() + 60_000, pushed.extend)
    )
    await store.apply("t", [(f"urn:{i}", lambda _, i=i: doc(f"urn:{i}", i)) for i in range(5)])
    await store.apply("u", [("urn:9", lambda _: doc("urn:9", 9))])
    assert [(i.tenant, i.payload) for i in pushed] == [
        *(("t", f"urn:{i}".encode()) for i in range(5)),
        ("u", b"urn:9"),
    ]
    assert not woken.is_set()  # the push took them
    assert await store.due_notifications(now_ms(), 100, 60_000) == []  # already claimed
    later = await store.due_notifications(now_ms() + 61_000, 100, 60_000)
    assert [(i.oid, i.tenant, i.payload) for i in later] == [
        (i.oid, i.tenant, i.payload) for i in pushed
    ]
    await store.settle_notifications(Settlement(delivered=[i.oid for i in pushed]))
    assert await store.pending_notifications() == 0


async def test_a_failing_hook_keeps_the_write(store: AnyStore) -> None:
    def broken(probe: ChangeProbe, changes: Sequence[Change]) -> list[OutboxRow]:
        probe.entity_matches("", "urn:1", object())  # type: ignore[arg-type]
        raise AssertionError("unreachable")

    store.set_change_hook(broken)
    [r] = await store.apply("", [("urn:1", lambda _: doc("urn:1", 1))])
    assert r.ok and await store.get("", "urn:1") == doc("urn:1", 1)
    assert await store.pending_notifications() == 0


async def test_a_filter_the_engine_cannot_run_matches_nothing_and_spoils_nothing(
    store: AnyStore,
) -> None:
    """A named group is Python's `re` but not PostgreSQL's ARE: that filter alone fails."""
    patterns = {"sub:bad": "(?P<n>o)n", "sub:good": "^o", "sub:other": "(?:o)"}

    def filtered(probe: ChangeProbe, changes: Sequence[Change]) -> list[OutboxRow]:
        rows: list[OutboxRow] = []
        for tenant, entity_id, _, _ in changes:
            for sub, pattern in patterns.items():
                q = Comparison(AttrPath("urn:s"), "~=", pattern)
                if probe.entity_matches(tenant, entity_id, EntityQuery(q=q)):
                    rows.append((tenant, sub, entity_id.encode()))
        return rows

    store.set_change_hook(filtered)
    item = {
        "id": "urn:1",
        "type": ["urn:t"],
        "attrs": {"urn:s": [{"type": "Property", "value": "on"}]},
    }
    await store.apply("", [("urn:1", lambda _: item)])
    queued = await store.due_notifications(2**60, 100, 60_000)
    expected = {"sub:good", "sub:other"} | (
        {"sub:bad"} if isinstance(store, SqliteStore) else set()
    )
    assert {i.subscription_id for i in queued} == expected


async def test_concurrent_claims_never_share_a_row_and_leases_end(store: AnyStore) -> None:
    store.set_change_hook(one_row_per_change)
    await store.apply("", [(f"urn:{i}", lambda _, i=i: doc(f"urn:{i}", i)) for i in range(60)])
    now = 2**50
    claims = await asyncio.gather(*(store.due_notifications(now, 10, 1000) for _ in range(8)))
    oids = [item.oid for claim in claims for item in claim]
    assert len(oids) == len(set(oids)) == 60
    assert await store.due_notifications(now + 999, 100, 1000) == []  # all leased
    again = await store.due_notifications(now + 1000, 100, 1000)  # leases over: due again
    assert sorted(i.oid for i in again) == sorted(oids)
    await store.settle_notifications(Settlement(delivered=oids[:30], dropped=oids[30:40]))
    await store.settle_notifications(Settlement(retry=[(o, now + 5000) for o in oids[40:]]))
    assert await store.pending_notifications() == 20
    retried = await store.due_notifications(now + 5000, 100, 1000)
    assert {i.attempts for i in retried} == {1} and len(retried) == 20
