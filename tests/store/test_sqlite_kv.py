"""SqliteStore only: a key/value put is one writer transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cityfabric.store.sqlite.store import SqliteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "db.sqlite")
    await s.open()
    yield s
    await s.close()


async def test_a_put_is_one_transaction(store: SqliteStore) -> None:
    before = store.commits
    await store.kv_put_many("", "ns", [(f"k{n}", b"v") for n in range(100)])
    assert store.commits == before + 1
