"""SqliteStore only: group commit and its bound, reader threads (see test_store.py for the rest)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cityfabric.store.base import EntityQuery
from cityfabric.store.sqlite import SqliteStore
from tests.store.test_store import create, doc, put


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "db.sqlite")
    await s.open()
    yield s
    await s.close()


async def test_group_commit_groups_concurrent_applies(store: SqliteStore) -> None:
    before = store.commits
    results = await asyncio.gather(
        *(store.apply("", [(f"urn:{i}", create(doc(f"urn:{i}")))]) for i in range(50))
    )
    assert all(r.ok for [r] in results)
    assert store.commits - before < 50
    assert (await store.query("", EntityQuery(count=True, limit=0))).count == 50


async def test_max_group_bounds_a_transaction(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite", max_group=10)
    await store.open()
    try:
        jobs = [
            store.apply("", [(f"urn:{i}:{j}", put(doc("x"))) for j in range(5)]) for i in range(20)
        ]
        await asyncio.gather(*jobs)
        assert store.commits >= 10
    finally:
        await store.close()
