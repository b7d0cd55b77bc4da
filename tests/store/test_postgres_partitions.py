"""PostgreSQL only: history in monthly partitions, created ahead and on demand, dropped once
retention has emptied them (roll-ups stay)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from cityfabric.ngsild.temporal import parse_time
from cityfabric.store.postgres import PostgresStore
from cityfabric.store.postgres.partitions import month_of
from tests.postgres import Cluster, fresh_database
from tests.store.conftest import raw_rows

T, ATTR = "urn:t:Meter", "urn:a:power"
PARTITIONS = (
    "SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid"
    " WHERE i.inhparent = 'hist'::regclass ORDER BY 1"
)


@pytest.fixture
async def store(pg_cluster: Cluster) -> AsyncIterator[PostgresStore]:
    s = PostgresStore(fresh_database(pg_cluster))
    await s.open()
    yield s
    await s.close()


def partitions(store: PostgresStore) -> list[str]:
    return [str(row[0]) for row in raw_rows(store, PARTITIONS)]


def name(ms: int) -> str:
    return time.strftime("hist_%Y%m", time.gmtime(ms / 1000))


async def test_months_ahead_exist_from_the_start(store: PostgresStore) -> None:
    now = int(time.time() * 1000)
    first = month_of(now)
    assert [
        month_of(parse_time(f"{p[5:9]}-{p[9:11]}-01T00:00:00Z")) for p in partitions(store)
    ] == [
        first,
        first + 1,
        first + 2,
    ]
    assert name(now) in partitions(store)


async def test_old_readings_get_their_month_and_leave_it_empty_for_retention(
    store: PostgresStore,
) -> None:
    old = [
        (ATTR, {"type": "Property", "value": v, "observedAt": f"2020-01-{d:02d}T10:00:00Z"})
        for d, v in ((3, 1.5), (4, 2))
    ]
    recent_ms = int(time.time() * 1000) - 3600_000
    recent = [(ATTR, {"type": "Property", "value": 7, "observedAt": _iso(recent_ms)})]
    await store.add_history("", "urn:m:1", [T], old + recent, "2020-01-05T00:00:00Z")
    assert "hist_202001" in partitions(store)
    assert raw_rows(store, "SELECT num FROM hist_202001 ORDER BY ts") == [
        (pytest.approx(1.5),),
        (2,),
    ]
    await store.set_retention("", {T: 30 * 86_400_000})
    assert await store.expire_history(int(time.time() * 1000)) == 2
    assert "hist_202001" not in partitions(store)  # emptied, so dropped
    assert raw_rows(store, "SELECT count(*) FROM hist") == [(1,)]  # the recent one stays
    daily = raw_rows(store, "SELECT cnt FROM hist_daily ORDER BY bucket")
    assert daily[:2] == [(1,), (1,)]  # the roll-ups of the expired days stay


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))
