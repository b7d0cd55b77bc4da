"""The PostgreSQL q compiler's scalar fast path against its general path, in one run.

    PYTHONPATH=.:src .venv/bin/python bench/pg_q_paths.py [--n 20000] [--rounds 6]

A throwaway cluster (tests/postgres.py), bench/store_engines.py's Streetlights, and the
type+q query `powerState=="on";illuminanceLevel>0.5` run in-process through
`PostgresStore.query`, compiled with the fast path and without it (the general JSONB
path for every term), alternating round by round (10 queries a path a round); medians in
ms, for count=true and for one page of 100.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import store_engines as se
from tests.postgres import fresh_database, running_cluster

from cityfabric.ngsild.query import And, AttrPath, Comparison, TypeName
from cityfabric.store.base import EntityQuery
from cityfabric.store.postgres import PostgresStore, pgq


async def measure(url: str, n: int, rounds: int) -> None:
    store = PostgresStore(url)
    await store.open()
    try:
        rng = random.Random(7)
        docs = [se.lamp(i, rng) for i in range(n)]
        for start in range(0, n, 500):
            await store.apply("", [(d["id"], lambda _, d=d: d) for d in docs[start : start + 500]])
        q = And(
            (
                Comparison(AttrPath(se.SDM + "powerState"), "==", "on"),
                Comparison(AttrPath(se.SDM + "illuminanceLevel"), ">", 0.5),
            )
        )
        fast = pgq._scalar_condition
        paths = {"general": lambda term, params: None, "fast": fast}
        for query in (
            EntityQuery(types=TypeName(se.LAMP), q=q, count=True),
            EntityQuery(types=TypeName(se.LAMP), q=q, limit=100),
        ):
            times: dict[str, list[float]] = {name: [] for name in paths}
            answers = {}
            for _ in range(rounds):
                for name, condition in paths.items():
                    pgq._scalar_condition = condition  # type: ignore[assignment]
                    answers[name] = await store.query("", query)
                    for _ in range(10):
                        t = time.perf_counter()
                        await store.query("", query)
                        times[name].append((time.perf_counter() - t) * 1000)
            pgq._scalar_condition = fast
            assert answers["fast"] == answers["general"], "the two paths disagree"
            label = "count=true" if query.count else "limit=100"
            medians = {name: round(statistics.median(v), 1) for name, v in times.items()}
            print(
                f"{label:10} general {medians['general']:7.1f} ms  fast {medians['fast']:7.1f} ms"
            )
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    with running_cluster() as cluster:
        asyncio.run(measure(fresh_database(cluster), args.n, args.rounds))


if __name__ == "__main__":
    main()
