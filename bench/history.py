"""History benchmarks (issue 3), beside InfluxDB 1.6 in the same run.

    .venv/bin/python bench/history.py [--quick]

1. ingestion over HTTP: POST /temporal/entities with 1,000 instances per request
   from 3 client threads for 60 s, against line-protocol writes of the same points
   into InfluxDB; every acknowledged instance is counted back afterwards;
2. a store of ~10.8 million instances (1,000 meters every 5 minutes and 50 sensors
   every minute, 30 days), loaded in-process into CityFabric and over HTTP into
   InfluxDB; bytes per stored instance on both;
3. hourly avg/min/max over 30 days of one-minute data of one sensor (wrk, one
   connection: latency without queueing), and the daily average of 1,000 meters
   over 30 days (1 connection), on both.
Results go to bench/results/history-<time>.json and the console.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import influx
import run as base

from cityfabric.ngsild.temporal import DAY_MS, format_time, parse_time
from cityfabric.store.sqlite import SqliteStore

T0 = parse_time("2026-10-01T00:00:00Z")
DAYS = 30
PER_REQUEST = 1000
NS = "https://uri.etsi.org/ngsi-ld/default-context/"


def value(series: int, t: int) -> float:
    """A smooth daily cycle with a per-series offset and deterministic jitter."""
    hour = (t // 60_000 % 1440) / 60
    jitter = ((series * 7919 + t // 60_000) * 2654435761 % 1000) / 1000
    return round(50 + 20 * math.sin(2 * math.pi * hour / 24) + series % 10 + jitter, 2)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def temporal_body(entity: str, kind: str, series: int, start: int, step: int) -> bytes:
    points = [start + i * step for i in range(PER_REQUEST)]
    return orjson.dumps(
        {
            "id": entity,
            "type": kind,
            "power": [
                {"type": "Property", "value": value(series, t), "observedAt": iso(t)}
                for t in points
            ],
        }
    )


def line_body(entity: str, kind: str, series: int, start: int, step: int) -> bytes:
    lines = (
        f"power,entity={entity},type={kind} value={value(series, t)} {t}"
        for t in (start + i * step for i in range(PER_REQUEST))
    )
    return "\n".join(lines).encode()


# ---------------------------------------------------------------- 1. ingestion


def sustained(
    bodies: list[bytes], post: Callable[[httpx.Client, bytes], None], threads: int = 3
) -> float:
    """Instances per second acknowledged by `post`, sending each prepared body once.

    The bodies are made before the clock starts, so the client's own JSON work
    (on the same two cores) does not count against the server.
    """
    it = iter(bodies)
    lock = threading.Lock()
    done = [0]

    def worker() -> None:
        with httpx.Client(timeout=60) as client:
            while True:
                with lock:
                    body = next(it, None)
                if body is None:
                    return
                post(client, body)
                with lock:
                    done[0] += PER_REQUEST

    t0 = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return done[0] / (time.perf_counter() - t0)


def windows(count: int, entities: int = 200) -> list[tuple[str, int, int]]:
    return [
        (
            f"urn:ngsi-ld:Meter:i{n % entities}",
            n % entities,
            T0 + (n // entities) * PER_REQUEST * 60_000,
        )
        for n in range(count)
    ]


def ingest_cityfabric(tmp: Path, requests: int) -> dict[str, Any]:
    bodies = [temporal_body(e, "Meter", s, t, 60_000) for e, s, t in windows(requests)]
    with base.running_server(tmp, "ingest") as server:

        def post(client: httpx.Client, body: bytes) -> None:
            r = client.post(
                f"{server.url}/ngsi-ld/v1/temporal/entities",
                content=body,
                headers={"Content-Type": "application/json"},
            )
            if r.status_code not in (201, 204):
                raise RuntimeError(r.text)

        cpu0 = server.cpu_seconds()
        t0 = time.perf_counter()
        rate = sustained(bodies, post)
        seconds = time.perf_counter() - t0
        cpu = (server.cpu_seconds() - cpu0) / seconds
        db = server.data_dir / "cityfabric.db"
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT count(*) FROM hist").fetchone()[0]
    return {
        "rate": rate,
        "seconds": seconds,
        "server_cpu_cores": round(cpu, 2),
        "stored": stored,
        "sent": requests * PER_REQUEST,
    }


def ingest_influx(tmp: Path, requests: int) -> dict[str, Any]:
    bodies = [line_body(e, "Meter", s, t, 60_000) for e, s, t in windows(requests)]
    with influx.running_influx(tmp, base.free_port(), base.free_port()) as db:

        def post(client: httpx.Client, body: bytes) -> None:
            r = client.post(
                f"{db.url}/write", params={"db": "bench", "precision": "ms"}, content=body
            )
            r.raise_for_status()

        t0 = time.perf_counter()
        rate = sustained(bodies, post)
        seconds = time.perf_counter() - t0
        with httpx.Client(timeout=120) as client:
            res = db.query(client, "SELECT count(value) FROM power")
    stored = res["results"][0]["series"][0]["values"][0][1]  # type: ignore[index]
    return {"rate": rate, "seconds": seconds, "stored": stored, "sent": requests * PER_REQUEST}


# ---------------------------------------------------------------- 2. the 10M store


def dataset(meters: int, sensors: int) -> Iterator[tuple[str, str, int, int, int]]:
    """(entity, type, series number, start, step) chunks of PER_REQUEST instances."""
    for kind, count, step in (("Sensor", sensors, 60_000), ("Meter", meters, 300_000)):
        points = DAYS * DAY_MS // step
        for e in range(count):
            for chunk in range(points // PER_REQUEST + 1):
                start = T0 + chunk * PER_REQUEST * step
                if start < T0 + DAYS * DAY_MS:
                    yield (
                        f"urn:ngsi-ld:{kind}:{e}",
                        kind,
                        e + (1000 if kind == "Sensor" else 0),
                        start,
                        step,
                    )


def load_cityfabric(path: Path, chunks: list[tuple[str, str, int, int, int]]) -> dict[str, Any]:
    async def go() -> int:
        store = SqliteStore(path)
        await store.open()
        total = 0
        try:
            pending: list[Any] = []
            for entity, kind, series, start, step in chunks:
                end = T0 + DAYS * DAY_MS
                instances = [
                    (
                        NS + "power",
                        {"type": "Property", "value": value(series, t), "observedAt": iso(t)},
                    )
                    for t in range(start, min(start + PER_REQUEST * step, end), step)
                ]
                total += len(instances)
                pending.append(
                    store.add_history("", entity, [NS + kind], instances, format_time(T0))
                )
                if len(pending) >= 20:
                    await asyncio.gather(*pending)
                    pending = []
            await asyncio.gather(*pending)
        finally:
            await store.close()
        return total

    t0 = time.perf_counter()
    total = asyncio.run(go())
    seconds = time.perf_counter() - t0
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        sizes = dict(
            conn.execute(
                "SELECT name, sum(pgsize) FROM dbstat WHERE name IN"
                " ('hist', 'hist_hourly', 'hist_daily', 'hist_series') GROUP BY name"
            ).fetchall()
        )
        file_size = path.stat().st_size
    return {
        "instances": total,
        "load_rate": total / seconds,
        "hist_bytes_per_instance": sizes.get("hist", 0) / total,
        "rollup_bytes_per_instance": (sizes.get("hist_hourly", 0) + sizes.get("hist_daily", 0))
        / total,
        "file_bytes_per_instance": file_size / total,
    }


def load_influx(db: influx.Influx, chunks: list[tuple[str, str, int, int, int]]) -> dict[str, Any]:
    it = iter(chunks)
    lock = threading.Lock()
    total = [0]

    def worker() -> None:
        with httpx.Client(timeout=120) as client:
            while True:
                with lock:
                    chunk = next(it, None)
                if chunk is None:
                    return
                entity, kind, series, start, step = chunk
                end = T0 + DAYS * DAY_MS
                times = range(start, min(start + PER_REQUEST * step, end), step)
                lines = "\n".join(
                    f"power,entity={entity},type={kind} value={value(series, t)} {t}" for t in times
                )
                client.post(
                    f"{db.url}/write", params={"db": "bench", "precision": "ms"}, content=lines
                ).raise_for_status()
                with lock:
                    total[0] += len(times)

    t0 = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(3)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    seconds = time.perf_counter() - t0
    # let influxd snapshot its cache and compact the cold shards before measuring
    previous, stable_since = -1, time.monotonic()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        size = db.bytes_on_disk()
        if size != previous:
            previous, stable_since = size, time.monotonic()
        elif time.monotonic() - stable_since > 20:
            break
        time.sleep(2)
    return {
        "instances": total[0],
        "load_rate": total[0] / seconds,
        "file_bytes_per_instance": db.bytes_on_disk() / total[0],
    }


# ---------------------------------------------------------------- 3. queries


def temporal_path(entity: str | None, params: dict[str, str]) -> str:
    base_path = "/ngsi-ld/v1/temporal/entities" + (f"/{entity}" if entity else "")
    return base_path + "?" + urlencode(params)


def influx_server(db: influx.Influx) -> base.Server:
    """A `base.Server` shape for `base.wrk` (the CPU figures then describe influxd)."""
    port = int(db.url.rsplit(":", 1)[1])
    return base.Server(port, db.root, db.process, db.root / "influxd.log")


def timed(fn: Callable[[], Any], runs: int) -> dict[str, float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {"p50_ms": statistics.median(times), "p95_ms": times[max(0, math.ceil(0.95 * runs) - 1)]}


def queries_cityfabric(server: base.Server, meters: int, seconds: float) -> dict[str, Any]:
    span = {"timerel": "between", "timeAt": iso(T0), "endTimeAt": iso(T0 + DAYS * DAY_MS)}
    hourly = temporal_path(
        "urn:ngsi-ld:Sensor:0",
        {
            "attrs": "power",
            "options": "aggregatedValues",
            "aggrMethods": "avg,min,max",
            "aggrPeriodDuration": "PT1H",
            **span,
        },
    )
    raw_hourly = temporal_path(
        "urn:ngsi-ld:Sensor:0",
        {
            "attrs": "power",
            "options": "aggregatedValues",
            "aggrMethods": "avg,min,max",
            "aggrPeriodDuration": "PT1H",
            **span,
            "timeAt": iso(T0 + 1000),
        },
    )
    daily = temporal_path(
        None,
        {
            "type": "Meter",
            "attrs": "power",
            "options": "aggregatedValues",
            "aggrMethods": "avg",
            "aggrPeriodDuration": "P1D",
            "limit": str(min(meters, 1000)),
            **span,
        },
    )
    with httpx.Client(base_url=server.url, timeout=60) as client:
        body = client.get(daily).json()
        assert len(body) == min(meters, 1000) and len(body[0]["power"]["avg"]) == DAYS, body[:1]
        hourly_body = client.get(hourly).json()
        assert len(hourly_body["power"]["avg"]) == DAYS * 24
        daily_t = timed(lambda: client.get(daily).raise_for_status(), 15)
    return {
        "hourly_rollup": base.median_runs(
            [base.wrk(server, "get.lua", 1, seconds, path=hourly) for _ in range(3)]
        ),
        "hourly_raw": base.median_runs(
            [base.wrk(server, "get.lua", 1, seconds, path=raw_hourly) for _ in range(3)]
        ),
        "daily_1000": daily_t,
    }


def queries_influx(db: influx.Influx, meters: int, seconds: float) -> dict[str, Any]:
    lo, hi = iso(T0), iso(T0 + DAYS * DAY_MS)
    hourly = (
        "SELECT mean(value), min(value), max(value) FROM power WHERE entity='urn:ngsi-ld:Sensor:0'"
        f" AND time >= '{lo}' AND time < '{hi}' GROUP BY time(1h)"
    )
    daily = (
        f"SELECT mean(value) FROM power WHERE type='Meter' AND time >= '{lo}' AND time < '{hi}'"
        " GROUP BY time(1d), entity"
    )
    with httpx.Client(timeout=120) as client:
        res = db.query(client, daily)
        assert len(res["results"][0]["series"]) == meters  # type: ignore[index]
        daily_t = timed(lambda: db.query(client, daily), 15)
    path = "/query?" + urlencode({"db": "bench", "q": hourly, "epoch": "ms"})
    server = influx_server(db)
    return {
        "hourly": base.median_runs(
            [base.wrk(server, "get.lua", 1, seconds, path=path) for _ in range(3)]
        ),
        "daily_1000": daily_t,
    }


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 s runs, 1/10 of the store")
    args = parser.parse_args()
    # requests of 1,000 instances: ~60 s at the 100,000 instances/s target
    requests, query_s = (1000, 5.0) if args.quick else (6000, 15.0)
    meters, sensors = (100, 5) if args.quick else (1000, 50)
    results: dict[str, Any] = {"machine": base.machine(), "quick": args.quick}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        results["ingest"] = {
            "cityfabric": ingest_cityfabric(tmp, requests),
            "influxdb": ingest_influx(tmp, requests),
        }
        print(json.dumps(results["ingest"], indent=1), flush=True)
        chunks = list(dataset(meters, sensors))
        data_dir = tmp / "store"
        results["store"] = {"cityfabric": load_cityfabric(data_dir / "cityfabric.db", chunks)}
        print(json.dumps(results["store"], indent=1), flush=True)
        with base.running_server(tmp, "store") as server:
            results["queries"] = {"cityfabric": queries_cityfabric(server, meters, query_s)}
        with influx.running_influx(tmp, base.free_port(), base.free_port()) as db:
            results["store"]["influxdb"] = load_influx(db, chunks)
            results["queries"]["influxdb"] = queries_influx(db, meters, query_s)
    ci, ii = results["ingest"]["cityfabric"], results["ingest"]["influxdb"]
    cs, is_ = results["store"]["cityfabric"], results["store"]["influxdb"]
    cq, iq = results["queries"]["cityfabric"], results["queries"]["influxdb"]
    results["ratios"] = {
        "ingest_rate_vs_influx": ci["rate"] / ii["rate"],
        "bytes_per_instance_vs_influx": cs["file_bytes_per_instance"]
        / is_["file_bytes_per_instance"],
        "hourly_p95_vs_influx": cq["hourly_rollup"]["p95_ms"] / iq["hourly"]["p95_ms"],
        "daily_p95_vs_influx": cq["daily_1000"]["p95_ms"] / iq["daily_1000"]["p95_ms"],
    }
    base.RESULTS.mkdir(exist_ok=True)
    out = base.RESULTS / f"history-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=1, default=str))
    summary = {k: results[k] for k in ("store", "ratios")}
    summary["queries"] = {
        "cityfabric hourly p95 ms": cq["hourly_rollup"]["p95_ms"],
        "cityfabric hourly (raw) p95 ms": cq["hourly_raw"]["p95_ms"],
        "influx hourly p95 ms": iq["hourly"]["p95_ms"],
        "cityfabric daily x1000 p95 ms": cq["daily_1000"]["p95_ms"],
        "influx daily x1000 p95 ms": iq["daily_1000"]["p95_ms"],
    }
    print(json.dumps(summary, indent=1, default=str))
    print(f"results: {out}")


if __name__ == "__main__":
    main()
