"""WAL checkpoints run on their own thread, off the writer's commits, and bound the WAL."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from cityfabric.store.base import EntityQuery
from cityfabric.store.sqlite import SqliteStore
from cityfabric.store.sqlite.checkpoint import Checkpointer


def wal_size(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def big(i: int) -> dict[str, object]:
    return {"id": f"urn:{i}", "type": ["https://example.org/T"], "pad": "x" * 2000}


async def wait_for(condition: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        await asyncio.sleep(0.02)
    return False


async def test_writer_does_not_autocheckpoint_and_idle_wal_is_truncated(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    store = SqliteStore(path)
    await store.open()
    try:
        for k in range(5):
            ops = [(f"urn:{i}", lambda _, i=i: big(i)) for i in range(k * 500, (k + 1) * 500)]
            assert all(r.ok for r in await store.apply("", ops))
        writer = store._writer
        assert writer is not None
        assert writer._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        # the writer idles: the checkpointer copies the WAL into the database and truncates it
        assert await wait_for(lambda: wal_size(path) == 0)
        page = await store.query("", EntityQuery(count=True, limit=1))
        assert page.count == 2500 and page.docs[0]["id"] == "urn:0"
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:  # everything reached the database file
        assert conn.execute("SELECT count(*) FROM entities").fetchone()[0] == 2500


async def test_sustained_load_rewinds_the_wal(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    await store.open()
    try:
        writer = store._writer
        assert writer is not None
        writer._checkpointer._max_frames = 50  # fewer than one apply below writes
        deadline = time.monotonic() + 30
        k = 0
        while writer.rewinds == 0 and time.monotonic() < deadline:
            ops = [(f"urn:{i}", lambda _, i=i: big(i)) for i in range(k * 200, (k + 1) * 200)]
            assert all(r.ok for r in await store.apply("", ops))
            k += 1
        assert writer.rewinds >= 1
        page = await store.query("", EntityQuery(count=True, limit=0))
        assert page.count == k * 200
    finally:
        await store.close()


def test_checkpointer_stop_with_nothing_to_do(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
    checkpointer = Checkpointer(sqlite3.connect(path, check_same_thread=False))
    checkpointer.start()
    checkpointer.stop()
