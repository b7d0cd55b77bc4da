"""The `store` fixture of the engine-neutral store tests: one per engine (see --store)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cityfabric.store.postgres import PostgresStore
from cityfabric.store.sqlite import SqliteStore
from tests.postgres import fresh_database

AnyStore = SqliteStore | PostgresStore


def make_store(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> AnyStore:
    """A new, empty, unopened store of that engine (a fresh database for PostgreSQL)."""
    if engine == "sqlite":
        return SqliteStore(tmp_path / "db.sqlite")
    return PostgresStore(fresh_database(request.getfixturevalue("pg_cluster")))


@pytest.fixture
async def store(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[AnyStore]:
    s = make_store(engine, tmp_path, request)
    await s.open()
    yield s
    await s.close()
