"""SqliteStore only: migrating a database made before subscriptions existed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from cityfabric.store.sqlite import SqliteStore, schema
from tests.store.test_subscriptions import A, doc, sid


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
