"""Writer-side cost of the history change feed: `HistoryWriter` transactions with and
without `feed.record`, in-process, on a file database (median of 5 alternating runs).

    .venv/bin/python bench/history_feed.py 200 500 1    # 200 transactions x 500 entities x
                                                       # 3 attributes x 1 instance
    .venv/bin/python bench/history_feed.py 2000 1 1    # one small reading per transaction
    .venv/bin/python bench/history_feed.py 40 10 1000  # bulk temporal appends
"""

from __future__ import annotations

import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from cityfabric.store.history_rows import prepare
from cityfabric.store.sqlite import feed, funcs, schema
from cityfabric.store.sqlite.history import HistoryWriter

REAL = feed.record


def _observed(group: int, i: int) -> str:
    day, hour, minute = 1 + (group // 1440) % 28, (group // 60) % 24, group % 60
    return f"2026-01-{day:02d}T{hour:02d}:{minute:02d}:{i % 60:02d}Z"


def run(with_feed: bool, groups: int, entities: int, per: int) -> float:
    """Instances written per second."""
    feed.record = REAL if with_feed else (lambda conn: None)
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "db", isolation_level=None)
        schema.configure(conn, synchronous="NORMAL")
        funcs.install(conn)
        schema.migrate(conn)
        conn.execute("INSERT INTO tenants (tid, name) VALUES (1, '')")
        writer = HistoryWriter(conn)
        start = time.perf_counter()
        for g in range(groups):
            conn.execute("BEGIN IMMEDIATE")
            writer.begin()
            for e in range(entities):
                instances = [
                    (
                        f"urn:a{a}",
                        {"type": "Property", "value": float(g + i), "observedAt": _observed(g, i)},
                    )
                    for a in range(3)
                    for i in range(per)
                ]
                rows = prepare(instances, 1_800_000_000_000)
                writer.add(1, f"urn:e:{e}", ["T"], rows, "2026-01-01T00:00:00Z")
            writer.flush()
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - start
        conn.close()
    return groups * entities * 3 * per / elapsed


def main() -> None:
    groups, entities, per = (int(a) for a in sys.argv[1:4])
    results: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(5):
        for with_feed in (False, True):
            results[with_feed].append(run(with_feed, groups, entities, per))
    off, on = statistics.median(results[False]), statistics.median(results[True])
    print(
        f"{groups} transactions x {entities} entities x 3 attrs x {per}: without the feed "
        f"{off:,.0f} instances/s, with it {on:,.0f}/s, ratio {on / off:.3f}"
    )
    print({k: [round(v) for v in vs] for k, vs in results.items()})


if __name__ == "__main__":
    main()
