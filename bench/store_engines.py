"""Compare the store engines in one run: SQLite and PostgreSQL + PostGIS, in-process.

    PYTHONPATH=.:src .venv/bin/python bench/store_engines.py [--n 20000] [--database URL]

Without --database a throwaway PostgreSQL cluster is started (tests/postgres.py, fsync
on). For each engine: entities/s of batched creates (batches of 500), of one-op updates
with 64 in flight (each reads and rewrites a doc, with its history), and the median time
of a type+q query and of a near;maxDistance==500 query (count=true, limit 20).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cityfabric.ngsild.geo import GeoQuery
from cityfabric.ngsild.model import LOCATION, EntityDoc
from cityfabric.ngsild.query import And, AttrPath, Comparison, TypeName
from cityfabric.store.base import EntityQuery
from cityfabric.store.postgres import PostgresStore
from cityfabric.store.sqlite import SqliteStore

SDM = "https://smartdatamodels.org/dataModel.Streetlighting/"
LAMP = SDM + "Streetlight"
CENTRE = (117.20, 39.13)


def lamp(n: int, rng: random.Random) -> EntityDoc:
    lon, lat = CENTRE[0] + rng.uniform(-0.1, 0.1), CENTRE[1] + rng.uniform(-0.1, 0.1)
    return {
        "id": f"urn:ngsi-ld:Streetlight:{n}",
        "type": [LAMP],
        "attrs": {
            SDM + "powerState": [{"type": "Property", "value": rng.choice(["on", "off"])}],
            SDM + "illuminanceLevel": [{"type": "Property", "value": rng.random()}],
            LOCATION: [
                {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}
            ],
        },
    }


def bump(current: EntityDoc | None) -> EntityDoc | None:
    assert current is not None
    level = current["attrs"][SDM + "illuminanceLevel"][0]["value"]
    attrs = {
        **current["attrs"],
        SDM + "illuminanceLevel": [{"type": "Property", "value": level + 1}],
    }
    return {**current, "attrs": attrs}


async def measure(store: SqliteStore | PostgresStore, n: int) -> dict[str, float]:
    rng = random.Random(7)
    docs = [lamp(i, rng) for i in range(n)]
    await store.open()
    try:
        t = time.perf_counter()
        for start in range(0, n, 500):
            await store.apply("", [(d["id"], lambda _, d=d: d) for d in docs[start : start + 500]])
        creates = n / (time.perf_counter() - t)
        ids = [d["id"] for d in docs[: n // 4]]
        sem = asyncio.Semaphore(64)

        async def one(entity_id: str) -> None:
            async with sem:
                await store.apply("", [(entity_id, bump)])

        t = time.perf_counter()
        await asyncio.gather(*(one(i) for i in ids))
        updates = len(ids) / (time.perf_counter() - t)
        q = And(
            (
                Comparison(AttrPath(SDM + "powerState"), "==", "on"),
                Comparison(AttrPath(SDM + "illuminanceLevel"), ">", 0.5),
            )
        )
        centre = {"type": "Point", "coordinates": list(CENTRE)}
        near = GeoQuery("near", centre, LOCATION, max_distance=500.0)
        return {
            "creates/s": creates,
            "updates/s (64 in flight)": updates,
            "type+q query ms": await _median(
                store, EntityQuery(types=TypeName(LAMP), q=q, count=True)
            ),
            "near 500 m query ms": await _median(store, EntityQuery(geo=near, count=True)),
        }
    finally:
        await store.close()


async def _median(store: SqliteStore | PostgresStore, query: EntityQuery) -> float:
    times = []
    for _ in range(15):
        t = time.perf_counter()
        await store.query("", query)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


@contextlib.contextmanager
def database(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    from tests.postgres import fresh_database, running_cluster

    with running_cluster() as cluster:
        yield fresh_database(cluster)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--database", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, database(args.database) as url:
        results: dict[str, dict[str, Any]] = {
            "sqlite": asyncio.run(measure(SqliteStore(Path(tmp) / "db.sqlite"), args.n)),
            "postgresql": asyncio.run(measure(PostgresStore(url), args.n)),
        }
    print(f"{'measure':28} {'sqlite':>12} {'postgresql':>12}")
    for key in results["sqlite"]:
        print(f"{key:28} {results['sqlite'][key]:12.1f} {results['postgresql'][key]:12.1f}")


if __name__ == "__main__":
    main()
