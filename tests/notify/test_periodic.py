"""Periodic notifications on a real store: what a period queues, when, and only once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cityfabric.notify.clock import iso_clock
from cityfabric.notify.payload import decode
from cityfabric.notify.periodic import Periodic
from cityfabric.notify.service import SubscriptionService
from cityfabric.store.base import DeliveryStatus, Settlement
from cityfabric.store.sqlite import SqliteStore
from tests.notify.fakeclock import FakeClock
from tests.notify.samples import AQL, BUILDING, CITY, TOWER, minimal
from tests.notify.test_matcher import doc, put


@dataclass
class Env:
    store: SqliteStore
    svc: SubscriptionService
    clock: FakeClock
    periodic: Periodic
    woken: list[bool]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    store = SqliteStore(tmp_path / "db.sqlite")
    await store.open()
    clock = FakeClock()
    woken: list[bool] = []
    periodic = Periodic(store, lambda: woken.append(True), clock)
    yield Env(store, SubscriptionService(store, clock=iso_clock(clock)), clock, periodic, woken)
    await store.close()


async def lamps_and_towers(store: SqliteStore) -> None:
    await put(store, doc("urn:ngsi-ld:Building:1", [BUILDING], **{AQL: "bad"}))
    await put(store, doc("urn:ngsi-ld:Building:2", [BUILDING], **{AQL: "good"}))
    await put(store, doc("urn:ngsi-ld:Building:3", [BUILDING], **{AQL: "bad"}))
    await put(store, doc("urn:ngsi-ld:Tower:1", [TOWER], **{AQL: "bad"}))


async def deliver(env: Env, sub: str) -> list[str]:
    """Claim and settle what is queued as the delivery worker would; the entity ids."""
    items = await env.store.due_notifications(int(env.clock() * 1000), 1000, 10_000)
    status = DeliveryStatus("", sub, sent=1, last_notification=env.clock.iso())
    await env.store.settle_notifications(
        Settlement(delivered=[i.oid for i in items], statuses=[status])
    )
    return sorted(decode(i.payload).entity["id"] for i in items)


async def periodic(env: Env, **members: Any) -> str:
    return await env.svc.create("", minimal(timeInterval=60, **members), CITY)


async def test_each_period_queues_what_matches_now(env: Env) -> None:
    await lamps_and_towers(env.store)
    sub = await periodic(env, q='airQualityLevel=="bad"')
    assert await env.periodic.async_tick() == 1  # the first one at once
    assert env.woken == [True]
    items = await env.store.due_notifications(int(env.clock() * 1000), 1000, 0)
    assert {decode(i.payload).trigger for i in items} == {"periodic"}
    assert await deliver(env, sub) == ["urn:ngsi-ld:Building:1", "urn:ngsi-ld:Building:3"]
    env.clock.advance(30)
    assert await env.periodic.async_tick() == 0  # not yet
    await put(env.store, doc("urn:ngsi-ld:Building:2", [BUILDING], **{AQL: "bad"}))
    env.clock.advance(31)
    assert await env.periodic.async_tick() == 1
    assert await deliver(env, sub) == [f"urn:ngsi-ld:Building:{i}" for i in (1, 2, 3)]


async def test_selectors_id_and_pattern_union(env: Env) -> None:
    await lamps_and_towers(env.store)
    entities = [
        {"type": "Building", "id": "urn:ngsi-ld:Building:2"},
        {"type": "Building;Tower", "idPattern": ":1$"},
        {"type": "Tower"},
    ]
    sub = await periodic(env, entities=entities)
    assert await env.periodic.async_tick() == 1
    assert await deliver(env, sub) == ["urn:ngsi-ld:Building:2", "urn:ngsi-ld:Tower:1"]


async def test_a_period_is_queued_once(env: Env) -> None:
    await lamps_and_towers(env.store)
    sub = await periodic(env)
    other_process = Periodic(env.store, clock=env.clock)
    assert await env.periodic.async_tick() == 1
    env.clock.advance(120)  # due again, but the last period is still queued
    assert await env.periodic.async_tick() == 0
    assert await other_process.async_tick() == 0
    assert len(await deliver(env, sub)) == 3
    env.clock.advance(61)
    assert await other_process.async_tick() == 1  # whichever process comes first
    assert await env.periodic.async_tick() == 0


async def test_paused_expired_and_empty_send_nothing(env: Env) -> None:
    await lamps_and_towers(env.store)
    paused = await periodic(env, isActive=False)
    expiring = await periodic(env, expiresAt=env.clock.iso(90))
    await periodic(env, q='airQualityLevel=="unheard of"')
    assert await env.periodic.async_tick() == 1
    assert len(await deliver(env, expiring)) == 3
    env.clock.advance(100)
    assert await env.periodic.async_tick() == 0
    await env.svc.patch("", expiring, {"expiresAt": env.clock.iso(1000)}, CITY)
    await env.svc.patch("", paused, {"isActive": True}, CITY)
    assert await env.periodic.async_tick() == 2


async def test_queued_periods_survive_a_restart(env: Env, tmp_path: Path) -> None:
    await lamps_and_towers(env.store)
    sub = await periodic(env)
    assert await env.periodic.async_tick() == 1
    await env.store.close()
    env.store = SqliteStore(tmp_path / "db.sqlite")
    await env.store.open()
    try:
        assert len(await deliver(env, sub)) == 3
        restarted = Periodic(env.store, clock=env.clock)
        assert await restarted.async_tick() == 0  # lastNotification says: not yet
        env.clock.advance(60)
        assert await restarted.async_tick() == 1
    finally:
        await env.store.close()
