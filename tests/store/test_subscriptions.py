"""Subscriptions on every engine: opaque docs, index keys, counters, paging, the version counter."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from cityfabric.ngsild.errors import AlreadyExists, ResourceNotFound
from cityfabric.store.base import DeliveryStatus, Settlement, SubscriptionCounters
from tests.store.conftest import AnyStore, make_store, raw_rows, reopen

T = frozenset({"https://example.org/T"})
A = frozenset({"https://example.org/b", "https://example.org/a"})
ZERO = SubscriptionCounters()


def sid(n: int) -> str:
    return f"urn:ngsi-ld:Subscription:{n}"


def doc(n: int, rev: int = 0) -> bytes:
    return b'{"n": %d, "rev": %d}' % (n, rev)


def keys_row(store: AnyStore, subscription_id: str) -> tuple[object, object]:
    """The stored index keys as lists (SQLite keeps JSON text, PostgreSQL text arrays)."""
    [(types, attrs)] = raw_rows(
        store, f"SELECT types, attrs FROM subscriptions WHERE id = '{subscription_id}'"
    )
    return tuple(json.loads(v) if isinstance(v, str) else v for v in (types, attrs))  # type: ignore[return-value]


async def test_create_get_replace_delete(store: AnyStore) -> None:
    assert await store.get_subscription("", sid(1)) is None
    await store.create_subscription("", sid(1), doc(1), T, A)
    assert await store.get_subscription("", sid(1)) == (doc(1), ZERO)
    assert keys_row(store, sid(1)) == (
        ["https://example.org/T"],
        ["https://example.org/a", "https://example.org/b"],
    )
    assert await store.replace_subscription("", sid(1), doc(1, 1), None, None)
    assert await store.get_subscription("", sid(1)) == (doc(1, 1), ZERO)
    assert keys_row(store, sid(1)) == (None, None)
    await store.delete_subscription("", sid(1))
    assert await store.get_subscription("", sid(1)) is None


async def test_errors(store: AnyStore) -> None:
    await store.create_subscription("", sid(1), doc(1), T, None)
    with pytest.raises(AlreadyExists, match="already exists"):
        await store.create_subscription("", sid(1), doc(2), T, None)
    assert await store.get_subscription("", sid(1)) == (doc(1), ZERO)
    for tenant, missing in (("", sid(2)), ("nobody", sid(1))):
        with pytest.raises(ResourceNotFound):
            await store.replace_subscription(tenant, missing, doc(2), T, None)
        with pytest.raises(ResourceNotFound):
            await store.delete_subscription(tenant, missing)
    assert not await store.tenant_exists("nobody")


async def test_compare_and_set(store: AnyStore) -> None:
    await store.create_subscription("", sid(1), doc(1), T, None)
    assert not await store.replace_subscription("", sid(1), doc(1, 2), T, None, expected=doc(9))
    assert await store.get_subscription("", sid(1)) == (doc(1), ZERO)
    assert await store.replace_subscription("", sid(1), doc(1, 2), T, None, expected=doc(1))
    assert await store.get_subscription("", sid(1)) == (doc(1, 2), ZERO)


async def test_tenants_are_separate_and_created_by_first_write(store: AnyStore) -> None:
    await store.create_subscription("a", sid(1), doc(1), T, None)
    await store.create_subscription("b", sid(1), doc(2), T, None)
    assert await store.tenant_exists("a") and await store.tenant_exists("b")
    assert await store.get_subscription("a", sid(1)) == (doc(1), ZERO)
    assert await store.get_subscription("b", sid(1)) == (doc(2), ZERO)
    assert await store.get_subscription("", sid(1)) is None
    await store.delete_subscription("a", sid(1))
    assert await store.get_subscription("b", sid(1)) == (doc(2), ZERO)


async def test_list_pages_in_creation_order(store: AnyStore) -> None:
    order = [5, 3, 9, 1, 7]
    for n in order:
        await store.create_subscription("", sid(n), doc(n), T, None)
    await store.replace_subscription("", sid(3), doc(3, 1), T, None)  # keeps its place
    rows, total = await store.list_subscriptions("", 10, 0, True)
    assert [r[0] for r in rows] == [doc(5), doc(3, 1), doc(9), doc(1), doc(7)]
    assert total == 5
    rows, total = await store.list_subscriptions("", 2, 2, False)
    assert [r[0] for r in rows] == [doc(9), doc(1)] and total is None
    await store.delete_subscription("", sid(7))
    await store.create_subscription("", sid(7), doc(7, 1), T, None)
    rows, _ = await store.list_subscriptions("", 10, 3, False)
    assert [r[0] for r in rows] == [doc(1), doc(7, 1)]
    assert await store.list_subscriptions("", 0, 0, True) == ([], 5)
    assert await store.list_subscriptions("unknown", 10, 0, True) == ([], 0)
    assert await store.list_subscriptions("unknown", 10, 0, False) == ([], None)


async def test_counters_are_read_and_dropped_with_the_subscription(store: AnyStore) -> None:
    await store.create_subscription("", sid(1), doc(1), T, None)
    status = DeliveryStatus("", sid(1), 3, 1, "n", "s", "f", "timeout")
    await store.settle_notifications(Settlement(statuses=[status]))
    counters = SubscriptionCounters(3, 1, "n", "s", "f", "timeout")
    assert await store.get_subscription("", sid(1)) == (doc(1), counters)
    await store.replace_subscription("", sid(1), doc(1, 1), T, None)  # counters stay
    assert await store.list_subscriptions("", 5, 0, False) == ([(doc(1, 1), counters)], None)
    await store.delete_subscription("", sid(1))
    await store.create_subscription("", sid(1), doc(1), T, None)  # starts from zero
    assert await store.get_subscription("", sid(1)) == (doc(1), ZERO)


async def test_version_grows_with_every_change(store: AnyStore) -> None:
    start = await store.subscriptions_version()
    await store.create_subscription("", sid(1), doc(1), T, None)
    assert await store.subscriptions_version() == start + 1
    await store.replace_subscription("", sid(1), doc(1, 1), T, None)
    assert await store.subscriptions_version() == start + 2
    await store.create_subscription("other", sid(1), doc(1), T, None)
    assert await store.subscriptions_version() == start + 3
    await store.delete_subscription("", sid(1))
    assert await store.subscriptions_version() == start + 4
    # failures and reads change nothing
    with pytest.raises(AlreadyExists):
        await store.create_subscription("other", sid(1), doc(1), T, None)
    with pytest.raises(ResourceNotFound):
        await store.delete_subscription("", sid(1))
    assert not await store.replace_subscription("other", sid(1), doc(2), T, None, expected=b"x")
    await store.get_subscription("other", sid(1))
    await store.list_subscriptions("other", 5, 0, True)
    assert await store.subscriptions_version() == start + 4


async def test_concurrent_creates_and_group_commit(store: AnyStore) -> None:
    """Many writes queued at once share transactions; a failing one is undone alone."""
    ids = [*range(50), 7]  # 7 twice: exactly one of them fails
    results = await asyncio.gather(
        *(store.create_subscription("", sid(n), doc(n), T, None) for n in ids),
        return_exceptions=True,
    )
    assert sum(isinstance(r, AlreadyExists) for r in results) == 1
    rows, total = await store.list_subscriptions("", 100, 0, True)
    assert total == 50 and len(rows) == 50
    assert await store.subscriptions_version() == 50


async def test_durable_across_reopen(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    first = make_store(engine, tmp_path, request)
    await first.open()
    await first.create_subscription("t", sid(1), doc(1), T, A)
    version = await first.subscriptions_version()
    await first.close()
    second = reopen(first)
    await second.open()
    try:
        assert await second.get_subscription("t", sid(1)) == (doc(1), ZERO)
        assert await second.subscriptions_version() == version
    finally:
        await second.close()
