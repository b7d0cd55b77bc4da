"""Benchmark the SQLite store: bulk apply vs raw executemany, and two typical queries.

    PYTHONPATH=src .venv/bin/python bench/bench_store.py [--n 100000] [--batch 1000]

Prints entities/s of `SqliteStore.apply` (batches of --batch ops, awaited one
after the other) beside a baseline: raw `executemany` inserts of the same JSON
rows into a bare table, one transaction per batch, same pragmas, same run; then
the same for updates of every entity (a mutation that changes modifiedAt, so
each op reads and rewrites a stored doc), and for one-op applies with 200 in
flight (group commit). Then the median time of a type+q query and of a
near;maxDistance==500 query.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from cityfabric.ngsild.geo import GeoQuery
from cityfabric.ngsild.model import LOCATION, EntityDoc
from cityfabric.ngsild.query import And, AttrPath, Comparison, TypeName
from cityfabric.store.base import EntityQuery
from cityfabric.store.sqlite import SqliteStore

SDM = "https://smartdatamodels.org/dataModel.Streetlighting/"
STREETLIGHT = SDM + "Streetlight"
CENTRE = (117.20, 39.13)  # Tianjin


def prop(value: Any, **extra: Any) -> list[dict[str, Any]]:
    return [{"type": "Property", "value": value, **extra}]


def streetlight(i: int, rng: random.Random) -> EntityDoc:
    """A Streetlight-like doc: 8 attributes and a Point location."""
    lon = CENTRE[0] + rng.uniform(-0.06, 0.06)
    lat = CENTRE[1] + rng.uniform(-0.045, 0.045)
    now = "2026-11-23T16:00:00.000000Z"
    return {
        "id": f"urn:ngsi-ld:Streetlight:{i:06}",
        "type": [STREETLIGHT],
        "createdAt": now,
        "modifiedAt": now,
        "attrs": {
            LOCATION: [
                {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}
            ],
            SDM + "powerState": prop(rng.choice(["on", "off", "low"]), observedAt=now),
            SDM + "illuminanceLevel": prop(round(rng.random(), 3), observedAt=now),
            SDM + "status": prop(rng.choice(["ok", "defectiveLamp", "columnIssue"])),
            SDM + "lanternHeight": prop(rng.choice([6, 8, 10, 12]), unitCode="MTR"),
            SDM + "dateLastLampChange": prop(
                {"@type": "DateTime", "@value": "2024-05-01T00:00:00Z"}
            ),
            SDM + "address": prop(
                {"addressLocality": "Tianjin", "streetAddress": f"Road {i % 500}"}
            ),
            SDM + "refStreetlightGroup": [
                {"type": "Relationship", "object": f"urn:ngsi-ld:StreetlightGroup:{i % 200}"}
            ],
        },
    }


def baseline(path: Path, docs: list[EntityDoc], batch: int) -> float:
    """Rows/s of raw executemany of the same JSON into a bare table."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE raw (rid INTEGER PRIMARY KEY, id TEXT UNIQUE, doc TEXT)")
    start = time.perf_counter()
    for k in range(0, len(docs), batch):
        rows = [(d["id"], orjson.dumps(d).decode()) for d in docs[k : k + batch]]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO raw (id, doc) VALUES (?, ?)", rows)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return len(docs) / elapsed


async def load(store: SqliteStore, docs: list[EntityDoc], batch: int) -> float:
    """Entities/s of create mutations through apply, one batch awaited after another."""

    def create(doc: EntityDoc) -> Any:
        return lambda current: doc if current is None else current

    start = time.perf_counter()
    for k in range(0, len(docs), batch):
        results = await store.apply("", [(d["id"], create(d)) for d in docs[k : k + batch]])
        assert all(r.ok for r in results)
    return len(docs) / (time.perf_counter() - start)


async def update(store: SqliteStore, docs: list[EntityDoc], batch: int) -> float:
    """Entities/s of update mutations of stored entities through apply (geo unchanged)."""

    def touch(current: EntityDoc | None) -> EntityDoc | None:
        assert current is not None
        return {**current, "modifiedAt": "2026-11-23T17:00:00.000000Z"}

    start = time.perf_counter()
    for k in range(0, len(docs), batch):
        results = await store.apply("", [(d["id"], touch) for d in docs[k : k + batch]])
        assert all(r.ok for r in results)
    return len(docs) / (time.perf_counter() - start)


async def median_ms(store: SqliteStore, query: EntityQuery, runs: int) -> tuple[float, int]:
    times, found = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        page = await store.query("", query)
        times.append((time.perf_counter() - start) * 1000)
        found = len(page.docs)
    return statistics.median(times), found


async def concurrent(store: SqliteStore, n: int, in_flight: int) -> float:
    """Entities/s of one-op applies, `in_flight` at a time (group commit at work)."""
    sem = asyncio.Semaphore(in_flight)

    async def one(i: int) -> None:
        doc = {"id": f"urn:ngsi-ld:Extra:{i}", "type": [STREETLIGHT], "attrs": {}}
        async with sem:
            [result] = await store.apply("", [(doc["id"], lambda _: doc)])
            assert result.ok

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return n / (time.perf_counter() - start)


def queries() -> list[tuple[str, EntityQuery]]:
    """The timed queries: type + q, and near;maxDistance==500 (a page, and a count)."""
    type_q = EntityQuery(
        types=TypeName(STREETLIGHT),
        q=And(
            (
                Comparison(AttrPath(SDM + "powerState"), "==", "on"),
                Comparison(AttrPath(SDM + "illuminanceLevel"), ">", 0.5),
            )
        ),
        limit=100,
    )
    near = GeoQuery("near", {"type": "Point", "coordinates": list(CENTRE)}, max_distance=500)
    return [
        ('type=Streetlight&q=powerState=="on";illuminanceLevel>0.5 limit 100', type_q),
        ("georel=near;maxDistance==500 limit 100", EntityQuery(geo=near, limit=100)),
        ("georel=near;maxDistance==500 count", EntityQuery(geo=near, limit=0, count=True)),
    ]


async def time_queries(store: SqliteStore, runs: int, when: str) -> None:
    for label, query in queries():
        ms, found = await median_ms(store, query, runs)
        count = "" if not query.count else f", count={(await store.query('', query)).count}"
        print(f"query   {label:<64} {when:<13}: median {ms:7.2f} ms ({found} docs{count})")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    rng = random.Random(42)
    docs = [streetlight(i, rng) for i in range(args.n)]
    with tempfile.TemporaryDirectory() as tmp:
        raw_rate = baseline(Path(tmp) / "raw.sqlite", docs, args.batch)
        print(
            f"insert  raw executemany baseline, batches of {args.batch}: {raw_rate:10,.0f} rows/s"
        )
        store = SqliteStore(Path(tmp) / "store.sqlite")
        await store.open()
        try:
            rate = await load(store, docs, args.batch)
            print(
                f"insert  SqliteStore.apply, batches of {args.batch}     : {rate:10,.0f} entities/s"
                f"  ({rate / raw_rate:.2f} x baseline, {store.commits} commits)"
            )
            commits = store.commits
            rate = await update(store, docs, args.batch)
            print(
                f"update  SqliteStore.apply, batches of {args.batch}     : {rate:10,.0f} entities/s"
                f"  ({rate / raw_rate:.2f} x baseline, {store.commits - commits} commits)"
            )
            commits = store.commits
            rate = await concurrent(store, 10_000, 200)
            print(
                f"insert  SqliteStore.apply, 1 op, 200 in flight: {rate:10,.0f} entities/s"
                f"  ({store.commits - commits} commits for 10,000 applies)"
            )
            await time_queries(store, args.runs, "after load")
        finally:
            await store.close()
        store = SqliteStore(Path(tmp) / "store.sqlite")
        await store.open()
        try:
            await time_queries(store, args.runs, "after reopen")
        finally:
            await store.close()


if __name__ == "__main__":
    asyncio.run(main())
