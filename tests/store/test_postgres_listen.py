"""PostgreSQL only: rows queued by one process wake the delivery of another (LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio
import threading

from cityfabric.store.postgres import PostgresStore
from tests.postgres import Cluster, fresh_database
from tests.store.test_outbox import doc, one_row_per_change


async def test_a_write_in_one_store_wakes_another(pg_cluster: Cluster) -> None:
    url = fresh_database(pg_cluster)
    woken = threading.Event()
    sleeper, writer = PostgresStore(url), PostgresStore(url)
    sleeper.set_change_hook(one_row_per_change, woken.set)
    writer.set_change_hook(one_row_per_change)  # no local wake-up: only NOTIFY can wake
    await sleeper.open()
    await writer.open()
    try:
        await asyncio.sleep(0.3)  # the listener is connected
        assert not woken.is_set()
        await writer.apply("", [("urn:1", lambda _: doc("urn:1", 1))])
        assert await asyncio.to_thread(woken.wait, 5)
        assert len(await sleeper.due_notifications(2**60, 10, 1000)) == 1
    finally:
        await writer.close()
        await sleeper.close()
