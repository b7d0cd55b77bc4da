"""The `store` fixture of the engine-neutral store tests: one per engine (see --store)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
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


def reopen(store: AnyStore) -> AnyStore:
    """A new, unopened store on the same database as `store`."""
    if isinstance(store, SqliteStore):
        return SqliteStore(store.path)
    return PostgresStore(store.url)


@pytest.fixture
async def store(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[AnyStore]:
    s = make_store(engine, tmp_path, request)
    await s.open()
    yield s
    await s.close()


def raw_rows(store: AnyStore, sql: str) -> list[tuple[object, ...]]:
    """Rows of a plain SQL query (valid in both dialects) on the store's own database."""
    if isinstance(store, SqliteStore):
        with sqlite3.connect(store.path) as conn:
            return [tuple(row) for row in conn.execute(sql).fetchall()]
    with psycopg.connect(store.url) as conn:
        return [tuple(row) for row in conn.execute(sql.encode()).fetchall()]
