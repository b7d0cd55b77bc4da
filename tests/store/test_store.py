"""Every engine: writes through apply, no lost updates, paging, tenants, summaries, durability.

SQLite-only behaviour (group commit, reader threads) is in test_sqlite_store.py."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from cityfabric.ngsild.errors import AlreadyExists, InternalError, ResourceNotFound
from cityfabric.ngsild.model import EntityDoc
from cityfabric.ngsild.query import TypeName
from cityfabric.store.base import EntityQuery, Mutation
from cityfabric.store.postgres import PostgresStore
from cityfabric.store.sqlite import SqliteStore
from tests.store.conftest import AnyStore, make_store

T = "https://example.org/T"
U = "https://example.org/U"
A = "https://example.org/a"
B = "https://example.org/b#c"


def doc(eid: str, types: tuple[str, ...] = (T,), **attrs: Any) -> EntityDoc:
    body = {
        "https://example.org/" + k: [{"type": "Property", "value": v}] for k, v in attrs.items()
    }
    return {"id": eid, "type": list(types), "attrs": body}


def create(new: EntityDoc) -> Mutation:
    def mutate(current: EntityDoc | None) -> EntityDoc | None:
        if current is not None:
            raise AlreadyExists(f"{new['id']} exists")
        return new

    return mutate


def put(new: EntityDoc | None) -> Mutation:
    return lambda current: new


def delete(current: EntityDoc | None) -> EntityDoc | None:
    if current is None:
        raise ResourceNotFound("no such entity")
    return None


def bump(current: EntityDoc | None) -> EntityDoc | None:
    assert current is not None
    n = current["attrs"][A][0]["value"]
    return {**current, "attrs": {A: [{"type": "Property", "value": n + 1}]}}


async def test_create_get_update_delete(store: AnyStore) -> None:
    [r] = await store.apply("", [("urn:1", create(doc("urn:1", a=1)))])
    assert r.ok and r.before is None and r.after == doc("urn:1", a=1)
    assert await store.get("", "urn:1") == doc("urn:1", a=1)
    [r] = await store.apply("", [("urn:1", create(doc("urn:1", a=2)))])
    assert isinstance(r.error, AlreadyExists) and r.before == doc("urn:1", a=1)
    [r] = await store.apply("", [("urn:1", put(doc("urn:1", a=3)))])
    assert r.ok and r.before == doc("urn:1", a=1) and r.after == doc("urn:1", a=3)
    [r] = await store.apply("", [("urn:1", delete)])
    assert r.ok and r.after is None
    assert await store.get("", "urn:1") is None
    [r] = await store.apply("", [("urn:1", delete)])
    assert isinstance(r.error, ResourceNotFound)


async def test_ops_on_one_id_see_each_other(store: AnyStore) -> None:
    calls: list[str] = []

    def counted(m: Mutation) -> Mutation:
        def run(current: EntityDoc | None) -> EntityDoc | None:
            calls.append("x")
            return m(current)

        return run

    ops = [
        ("urn:1", counted(create(doc("urn:1", a=1)))),
        ("urn:1", counted(bump)),
        ("urn:1", counted(create(doc("urn:1", a=9)))),
        ("urn:1", counted(bump)),
        ("urn:2", counted(create(doc("urn:2", a=1)))),
        ("urn:2", counted(delete)),
    ]
    results = await store.apply("", ops)
    assert [r.ok for r in results] == [True, True, False, True, True, True]
    assert results[3].before == doc("urn:1", a=2) and results[3].after == doc("urn:1", a=3)
    assert len(calls) == len(ops)  # each mutation exactly once
    assert await store.get("", "urn:1") == doc("urn:1", a=3)
    assert await store.get("", "urn:2") is None


async def test_unexpected_mutation_error_is_internal_error_for_that_op(
    store: AnyStore,
) -> None:
    def broken(current: EntityDoc | None) -> EntityDoc | None:
        raise KeyError("oops")

    results = await store.apply(
        "", [("urn:1", broken), ("urn:2", create(doc("urn:2"))), ("urn:3", put({"x": {1, 2}}))]
    )
    assert isinstance(results[0].error, InternalError)
    assert results[1].ok
    assert isinstance(results[2].error, InternalError)  # not serializable
    assert await store.get("", "urn:1") is None and await store.get("", "urn:3") is None


async def test_delete_and_recreate_in_one_apply_moves_to_the_end(store: AnyStore) -> None:
    await store.apply("", [(f"urn:{i}", create(doc(f"urn:{i}"))) for i in range(3)])
    await store.apply("", [("urn:0", delete), ("urn:0", create(doc("urn:0", (U,))))])
    page = await store.query("", EntityQuery())
    assert [d["id"] for d in page.docs] == ["urn:1", "urn:2", "urn:0"]
    assert [d["id"] for d in (await store.query("", EntityQuery(types=TypeName(U)))).docs] == [
        "urn:0"
    ]
    assert (await store.query("", EntityQuery(types=TypeName(T)))).docs[-1]["id"] == "urn:2"


async def test_update_keeps_creation_order_and_types_follow(store: AnyStore) -> None:
    await store.apply("", [(f"urn:{i}", create(doc(f"urn:{i}"))) for i in range(5)])
    await store.apply("", [("urn:1", put(doc("urn:1", (U,), a=5)))])
    page = await store.query("", EntityQuery(limit=10, count=True))
    assert [d["id"] for d in page.docs] == [f"urn:{i}" for i in range(5)]
    assert page.count == 5
    only_u = await store.query("", EntityQuery(types=TypeName(U)))
    assert [d["id"] for d in only_u.docs] == ["urn:1"]
    only_t = await store.query("", EntityQuery(types=TypeName(T), count=True))
    assert only_t.count == 4


async def test_paging_and_count(store: AnyStore) -> None:
    await store.apply("", [(f"urn:{i:03}", create(doc(f"urn:{i:03}", a=i))) for i in range(25)])
    seen: list[str] = []
    for offset in range(0, 30, 7):
        page = await store.query("", EntityQuery(limit=7, offset=offset, count=True))
        assert page.count == 25
        seen += [d["id"] for d in page.docs]
    assert seen == [f"urn:{i:03}" for i in range(25)]
    assert (await store.query("", EntityQuery())).count is None


async def test_tenants_are_isolated(store: AnyStore) -> None:
    assert await store.tenant_exists("")
    assert not await store.tenant_exists("acme")
    await store.apply("acme", [("urn:1", create(doc("urn:1", a=1)))])
    await store.apply("", [("urn:1", create(doc("urn:1", a=2)))])
    [r] = await store.apply("other", [("urn:1", delete)])  # fails: does not create "other"
    assert not r.ok and not await store.tenant_exists("other")
    assert await store.tenant_exists("acme")
    assert await store.tenants() == ["", "acme"]
    assert (await store.get("acme", "urn:1")) == doc("urn:1", a=1)
    assert (await store.get("", "urn:1")) == doc("urn:1", a=2)
    assert await store.get("nobody", "urn:1") is None
    assert (await store.query("acme", EntityQuery(count=True))).count == 1
    assert (await store.query("nobody", EntityQuery(count=True))).count == 0
    assert (await store.query("acme", EntityQuery(types=TypeName(T)))).docs == [doc("urn:1", a=1)]


async def test_summaries(store: AnyStore) -> None:
    rel = {"type": "Relationship", "object": "urn:x"}
    d1 = doc("urn:1", (T,), a=1)
    d2 = {**doc("urn:2", (T, U), a=2), "attrs": {A: [{"type": "Property", "value": 1}], B: [rel]}}
    d3 = {
        **doc("urn:3", (U,)),
        "attrs": {A: [{"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1, 2]}}]},
    }
    await store.apply("", [(d["id"], create(d)) for d in (d1, d2, d3)])
    await store.apply("other", [("urn:9", create(doc("urn:9", ("https://example.org/V",))))])
    types = {t.type: t for t in await store.type_summaries("")}
    assert set(types) == {T, U}
    assert types[T].count == 2 and types[T].attrs == {A: {"Property"}, B: {"Relationship"}}
    assert types[U].count == 2
    assert types[U].attrs == {A: {"Property", "GeoProperty"}, B: {"Relationship"}}
    attrs = {a.name: a for a in await store.attribute_summaries("")}
    assert attrs[A].count == 3 and attrs[A].types == {T, U}
    assert attrs[A].kinds == {"Property", "GeoProperty"}
    assert attrs[B].count == 1 and attrs[B].types == {T, U} and attrs[B].kinds == {"Relationship"}
    assert await store.type_summaries("nobody") == []


async def test_concurrent_bumps_of_one_entity_lose_nothing(store: AnyStore) -> None:
    await store.apply("", [("urn:n", create(doc("urn:n", a=0)))])
    results = await asyncio.gather(*(store.apply("", [("urn:n", bump)]) for _ in range(40)))
    assert all(r.ok for [r] in results)
    assert await store.get("", "urn:n") == doc("urn:n", a=40)
    befores = sorted(r.before["attrs"][A][0]["value"] for [r] in results if r.before)
    assert befores == list(range(40))  # each bump saw the one before it


async def test_concurrent_creates_of_one_id_make_one(store: AnyStore) -> None:
    results = await asyncio.gather(
        *(store.apply("", [("urn:c", create(doc("urn:c", a=i)))]) for i in range(10))
    )
    assert sum(r.ok for [r] in results) == 1
    assert all(isinstance(r.error, AlreadyExists) for [r] in results if not r.ok)


async def test_durable_across_reopen(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    first = make_store(engine, tmp_path, request)
    await first.open()
    await first.apply("t1", [(f"urn:{i}", create(doc(f"urn:{i}", a=i))) for i in range(10)])
    await first.close()
    second = (
        SqliteStore(first.path, synchronous="FULL")
        if isinstance(first, SqliteStore)
        else PostgresStore(first.url)
    )
    await second.open()  # migrations already applied: a no-op
    try:
        assert await second.tenants() == ["t1"]
        assert await second.get("t1", "urn:7") == doc("urn:7", a=7)
        page = await second.query("t1", EntityQuery(types=TypeName(T), count=True))
        assert page.count == 10
        await second.apply("t1", [("urn:10", create(doc("urn:10")))])
        assert (await second.query("t1", EntityQuery(limit=100))).docs[-1]["id"] == "urn:10"
    finally:
        await second.close()


async def test_close_leaves_no_threads_and_rejects_use(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    before = set(threading.enumerate())
    store = make_store(engine, tmp_path, request)
    await store.open()
    await asyncio.gather(*(store.get("", f"urn:{i}") for i in range(20)))
    await store.apply("", [("urn:1", create(doc("urn:1")))])
    await store.close()
    assert set(threading.enumerate()) - before == set()
    with pytest.raises(InternalError):
        await store.get("", "urn:1")
    with pytest.raises(InternalError):
        await store.apply("", [("urn:1", delete)])
