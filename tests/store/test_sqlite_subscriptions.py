"""SqliteStore subscriptions: opaque docs, index keys, counters, paging, the version counter."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cityfabric.ngsild.errors import AlreadyExists, ResourceNotFound
from cityfabric.store.base import SubscriptionCounters
from cityfabric.store.sqlite import SqliteStore, schema

T = frozenset({"https://example.org/T"})
A = frozenset({"https://example.org/b", "https://example.org/a"})
ZERO = SubscriptionCounters()


def sid(n: int) -> str:
    return f"urn:ngsi-ld:Subscription:{n}"


def doc(n: int, rev: int = 0) -> bytes:
    return b'{"n": %d, "rev": %d}' % (n, rev)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "db.sqlite")
    await s.open()
    yield s
    await s.close()


def keys_row(path: Path, subscription_id: str) -> tuple[str | None, str | None]:
    with sqlite3.connect(path) as conn:
        row = conn.execute(
            "SELECT types, attrs FROM subscriptions WHERE id = ?", (subscription_id,)
        ).fetchone()
    conn.close()
    return row[0], row[1]


async def test_create_get_replace_delete(store: SqliteStore) -> None:
    assert await store.get_subscription("", sid(1)) is None
    await store.create_subscription("", sid(1), doc(1), T, A)
    assert await store.get_subscription("", sid(1)) == (doc(1), ZERO)
    assert keys_row(store.path, sid(1)) == (
        '["https://example.org/T"]',
        '["https://example.org/a","https://example.org/b"]',
    )
    assert await store.replace_subscription("", sid(1), doc(1, 1), None, None)
    assert await store.get_subscription("", sid(1)) == (doc(1, 1), ZERO)
    assert keys_row(store.path, sid(1)) == (None, None)
    await store.delete_subscription("", sid(1))
    assert await store.get_subscription("", sid(1)) is None


async def test_errors(store: SqliteStore) -> None:
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


async def test_compare_and_set(store: SqliteStore) -> None:
    await store.create_subscription("", sid(1), doc(1), T, None)
    assert not await store.replace_subscription("", sid(1), doc(1, 2), T, None, expected=doc(9))
    assert await store.get_subscription("", sid(1)) == (doc(1), ZERO)
    assert await store.replace_subscription("", sid(1), doc(1, 2), T, None, expected=doc(1))
    assert await store.get_subscription("", sid(1)) == (doc(1, 2), ZERO)


async def test_tenants_are_separate_and_created_by_first_write(store: SqliteStore) -> None:
    await store.create_subscription("a", sid(1), doc(1), T, None)
    await store.create_subscription("b", sid(1), doc(2), T, None)
    assert await store.tenant_exists("a") and await store.tenant_exists("b")
    assert await store.get_subscription("a", sid(1)) == (doc(1), ZERO)
    assert await store.get_subscription("b", sid(1)) == (doc(2), ZERO)
    assert await store.get_subscription("", sid(1)) is None
    await store.delete_subscription("a", sid(1))
    assert await store.get_subscription("b", sid(1)) == (doc(2), ZERO)


async def test_list_pages_in_creation_order(store: SqliteStore) -> None:
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


async def test_counters_are_read_and_dropped_with_the_subscription(store: SqliteStore) -> None:
    await store.create_subscription("", sid(1), doc(1), T, None)
    with sqlite3.connect(store.path) as conn:
        conn.execute(
            "UPDATE subscription_status SET times_sent = 3, times_failed = 1,"
            " last_notification = 'n', last_success = 's', last_failure = 'f',"
            " failure_reason = 'timeout' WHERE id = ?",
            (sid(1),),
        )
    conn.close()
    counters = SubscriptionCounters(3, 1, "n", "s", "f", "timeout")
    assert await store.get_subscription("", sid(1)) == (doc(1), counters)
    await store.replace_subscription("", sid(1), doc(1, 1), T, None)  # counters stay
    assert await store.list_subscriptions("", 5, 0, False) == ([(doc(1, 1), counters)], None)
    await store.delete_subscription("", sid(1))
    await store.create_subscription("", sid(1), doc(1), T, None)  # starts from zero
    assert await store.get_subscription("", sid(1)) == (doc(1), ZERO)


async def test_version_grows_with_every_change(store: SqliteStore) -> None:
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


async def test_concurrent_creates_and_group_commit(store: SqliteStore) -> None:
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


async def test_durable_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    first = SqliteStore(path)
    await first.open()
    await first.create_subscription("t", sid(1), doc(1), T, A)
    version = await first.subscriptions_version()
    await first.close()
    second = SqliteStore(path)
    await second.open()
    try:
        assert await second.get_subscription("t", sid(1)) == (doc(1), ZERO)
        assert await second.subscriptions_version() == version
    finally:
        await second.close()


async def test_migration_onto_a_database_without_subscriptions(tmp_path: Path) -> None:
    """A store written before 0003 gains the tables and keeps its entities."""
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(
        "CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT '')"
    )
    for name, script in schema.MIGRATIONS[:2]:
        conn.executescript(script)
        conn.execute("INSERT INTO migrations (name) VALUES (?)", (name,))
    conn.close()
    store = SqliteStore(path)
    await store.open()
    try:
        assert await store.subscriptions_version() == 0
        await store.create_subscription("", sid(1), doc(1), None, A)
        assert await store.subscriptions_version() == 1
    finally:
        await store.close()
