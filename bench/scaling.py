"""How throughput grows with API processes, on SQLite and on PostgreSQL, over HTTP.

    PYTHONPATH=.:src .venv/bin/python bench/scaling.py [--processes 1,2,4] [--runs 3]

For each engine (the SQLite file; PostgreSQL 15 + PostGIS in a throwaway cluster started
by `tests/postgres.py`, fsync on) and each process count (`cityfabric run --workers N`), a
fresh server on a free 127.0.0.1 port with a fresh database, then the measures of the
broker (#2) and history (#3) figures of docs/benchmarks.md, smaller:

* creates: bench/run.py's Streetlights by batch upsert, bodies of 500, 4 connections;
  one slice of `--slice` new entities per run (entities/s);
* PATCH .../attrs of a random entity, wrk, 50 connections (req/s, p50/p99);
* GET type+q (`powerState=="on";illuminanceLevel>0.5`, limit 100), wrk, 10 connections;
* GET near;maxDistance==500 from a random point, limit 100, wrk, 10 connections;
* temporal ingestion: POST /temporal/entities, 1,000 instances a body, 3 client threads,
  for `--seconds` (instances/s acknowledged);
* hourly avg,min,max over 30 days of 1-minute data of one meter, wrk, 1 connection.

Every measure runs `--runs` times; the medians are reported, with the CPU the API
processes, PostgreSQL and wrk used (2 cores in all). wrk: `apt-get install wrk`.
Results: bench/results/scaling-<time>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import history
import run as base
from tests.postgres import Cluster, fresh_database, running_cluster

ENTITY_BODY = 500
INGEST_THREADS = 3
AGG_DAYS = 30
QUERY = (
    "/ngsi-ld/v1/entities?type=Streetlight&q=powerState==%22on%22;illuminanceLevel%3E0.5&limit=100"
)
HEADERS = {"Content-Type": "application/json", "Link": base.LINK}


@contextlib.contextmanager
def server(tmp: Path, name: str, workers: int, database: str | None) -> Iterator[base.Server]:
    """`cityfabric run --workers N [--database URL]` on a free port; stopped on exit."""
    data_dir = tmp / name
    data_dir.mkdir(parents=True)
    port = base.free_port()
    log = tmp / f"{name}.log"
    cmd = [sys.executable, "-m", "cityfabric", "run", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--data-dir", str(data_dir), "--context-cache", str(base.SDM_CONTEXTS)]
    cmd += ["--workers", str(workers)] + (["--database", database] if database else [])
    env = {**os.environ, "CITYFABRIC_LOG_LEVEL": "warning"}
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    srv = base.Server(port, data_dir, process, log)
    try:
        deadline = time.monotonic() + 60
        while not healthy(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"cityfabric did not start:\n{log.read_text()}")
            time.sleep(0.1)
        # every worker answers /health once up; give the last ones time to finish starting
        time.sleep(1.0 + workers)
        yield srv
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def healthy(port: int) -> bool:
    with contextlib.suppress(OSError):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        conn.request("GET", "/health")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    return False


class DbCpu:
    """CPU seconds of the PostgreSQL cluster's processes (postmaster and backends)."""

    def __init__(self, cluster: Cluster | None) -> None:
        self.pid = None
        if cluster is not None:
            text = (cluster.folder / "data" / "postmaster.pid").read_text()
            self.pid = int(text.split()[0])

    def seconds(self) -> float:
        if self.pid is None:
            return 0.0
        root = psutil.Process(self.pid)
        total = 0.0
        for one in (root, *root.children(recursive=True)):
            with contextlib.suppress(psutil.Error):
                t = one.cpu_times()
                total += t.user + t.system
        return total


def with_db_cpu(
    db: DbCpu, fn: Callable[[], dict[str, Any]], database: str | None = None
) -> dict[str, Any]:
    """`fn()`'s result with the database's CPU (cores) over its run, and with a `database`
    what its sessions were waiting on (see `Waits`)."""
    cpu0, t0 = db.seconds(), time.perf_counter()
    with Waits(database) as waits:
        out = fn()
    out["db_cpu_cores"] = round((db.seconds() - cpu0) / (time.perf_counter() - t0), 2)
    if database:
        out["db_waits"] = waits.shares()
    return out


class Waits:
    """Samples pg_stat_activity every 20 ms: how many CityFabric sessions were, on average,
    running, waiting on each wait event (the feed's advisory lock shows as Lock:advisory,
    a COMMIT's WAL flush as IO:WALSync or LWLock:WALWrite), idle in a transaction (waiting
    for the API process) or idle."""

    SQL = (
        "SELECT coalesce(wait_event_type || ':' || wait_event, 'running'), state"
        " FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        " AND backend_type = 'client backend'"
    )

    def __init__(self, database: str | None) -> None:
        self.database = database
        self.counts: dict[str, int] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Waits:
        if self.database:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(self.database or "", autocommit=True) as conn:
            while not self._stop.wait(0.02):
                self.samples += 1
                for event, state in conn.execute(self.SQL):
                    # active: running or its wait event; else idle / idle in transaction
                    key = str(event) if state == "active" else str(state)
                    self.counts[key] = self.counts.get(key, 0) + 1

    def shares(self) -> dict[str, float]:
        """Sessions in each state, on average over the samples (top 6)."""
        top = sorted(self.counts.items(), key=lambda kv: -kv[1])[:6]
        return {k: round(v / max(1, self.samples), 2) for k, v in top}


def timed_cpu(
    srv: base.Server, db: DbCpu, fn: Callable[[], float], database: str | None = None
) -> dict[str, Any]:
    """Run `fn` (it returns a rate) and report the rate with the CPU of server and database
    (and with a `database`, its sessions' waits)."""
    cpu0, db0, t0 = srv.cpu_seconds(), db.seconds(), time.perf_counter()
    with Waits(database) as waits:
        rate = fn()
    wall = time.perf_counter() - t0
    out = {
        "rate": rate,
        "server_cpu_cores": round((srv.cpu_seconds() - cpu0) / wall, 2),
        "db_cpu_cores": round((db.seconds() - db0) / wall, 2),
    }
    return out | ({"db_waits": waits.shares()} if database else {})


# ---------------------------------------------------------------- creates


def create_slice(srv: base.Server, start: int, count: int) -> float:
    """Entities/s of upserting entities start..start+count in bodies of ENTITY_BODY."""
    bodies = [
        orjson.dumps(batch)
        for batch in base.batches(start, start + count, seed=start)
        for batch in [batch[k : k + ENTITY_BODY] for k in range(0, len(batch), ENTITY_BODY)]
    ]
    elapsed = base.post_upserts(srv, lambda k: bodies[k], len(bodies), connections=4)
    return count / elapsed


def check_query(srv: base.Server) -> None:
    """The type+q query of bench/lua/query.lua (with the Streetlighting @context) finds
    entities: a page of 100, not an empty list."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    conn.request("GET", QUERY, headers={"Link": base.LINK})
    found = orjson.loads(conn.getresponse().read())
    conn.close()
    if len(found) != 100:
        raise RuntimeError(f"the type+q query found {len(found)} entities, not a page of 100")


# ---------------------------------------------------------------- history


class Windows:
    """Distinct (meter, start) windows of 1,000 one-minute instances, never reused."""

    def __init__(self, meters: int = 200) -> None:
        self.meters = meters
        self.next = 0

    def bodies(self, count: int) -> list[bytes]:
        out = []
        for n in range(self.next, self.next + count):
            meter, window = n % self.meters, n // self.meters
            start = history.T0 + window * history.PER_REQUEST * 60_000
            out.append(
                history.temporal_body(f"urn:ngsi-ld:Meter:i{meter}", "Meter", meter, start, 60_000)
            )
        self.next += count
        return out


def ingest(srv: base.Server, bodies: list[bytes], seconds: float) -> float:
    """Instances/s acknowledged, sending the bodies from INGEST_THREADS threads until they
    run out or `seconds` pass."""
    it = iter(bodies)
    lock = threading.Lock()
    done = [0]
    errors: list[str] = []
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=120)
        try:
            while time.perf_counter() < deadline and not errors:
                with lock:
                    body = next(it, None)
                if body is None:
                    return
                conn.request("POST", "/ngsi-ld/v1/temporal/entities", body, HEADERS)
                resp = conn.getresponse()
                text = resp.read()
                if resp.status not in (201, 204):
                    errors.append(f"{resp.status} {text[:300]!r}")
                    return
                with lock:
                    done[0] += history.PER_REQUEST
        finally:
            conn.close()

    t0 = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(INGEST_THREADS)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise RuntimeError(f"temporal ingestion failed: {errors[0]}")
    return done[0] / (time.perf_counter() - t0)


HIST_TABLES = ("hist", "hist_hourly", "hist_daily")


def bytes_per_instance(srv: base.Server, database: str | None) -> float:
    """Bytes of the raw history rows and their roll-ups (with indexes) per stored instance."""
    if database is None:
        with sqlite3.connect(srv.data_dir / "cityfabric.db") as conn:
            names = [
                r[0]
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE tbl_name IN (?, ?, ?)", HIST_TABLES
                )
            ]
            marks = ",".join("?" * len(names))
            size = conn.execute(f"SELECT sum(pgsize) FROM dbstat WHERE name IN ({marks})", names)
            total = int(size.fetchone()[0])
            count = int(conn.execute("SELECT count(*) FROM hist").fetchone()[0])
        return round(total / max(1, count), 1)
    import psycopg

    with psycopg.connect(database) as conn:
        parts = conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits"
            " WHERE inhparent = 'hist'::regclass"
        ).fetchone()
        rollups = conn.execute(
            "SELECT pg_total_relation_size('hist_hourly') + pg_total_relation_size('hist_daily')"
        ).fetchone()
        count = conn.execute("SELECT count(*) FROM hist").fetchone()
        assert parts is not None and rollups is not None and count is not None
        return round((int(parts[0]) + int(rollups[0])) / max(1, int(count[0])), 1)


def load_agg_meter(srv: base.Server) -> str:
    """30 days of 1-minute data of one meter; the hourly avg,min,max query's path."""
    per_day = 1440
    bodies = [
        history.temporal_body(
            "urn:ngsi-ld:Meter:agg",
            "Meter",
            7,
            history.T0 + k * history.PER_REQUEST * 60_000,
            60_000,
        )
        for k in range(AGG_DAYS * per_day // history.PER_REQUEST)
    ]
    ingest(srv, bodies, seconds=600)
    span_end = history.T0 + AGG_DAYS * history.DAY_MS
    params = {
        "attrs": "power",
        "options": "aggregatedValues",
        "aggrMethods": "avg,min,max",
        "aggrPeriodDuration": "PT1H",
        "timerel": "between",
        "timeAt": history.iso(history.T0),
        "endTimeAt": history.iso(span_end),
    }
    path = "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Meter:agg?" + urlencode(params)
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    conn.request("GET", path)
    body = orjson.loads(conn.getresponse().read())
    conn.close()
    hours = len(body["power"]["avg"])
    # 43,200 instances sent in whole bodies of 1,000: 43 bodies, the last hours are short
    assert hours >= AGG_DAYS * 24 - 24, body
    return path


# ---------------------------------------------------------------- one configuration


def measure(
    tmp: Path, engine: str, workers: int, cluster: Cluster | None, args: argparse.Namespace
) -> dict[str, Any]:
    database = fresh_database(cluster) if cluster is not None else None
    db = DbCpu(cluster)
    runs, secs = args.runs, args.seconds
    out: dict[str, Any] = {"engine": engine, "workers": workers}
    with server(tmp, f"{engine}-{workers}", workers, database) as srv:
        creates = [
            timed_cpu(srv, db, lambda k=k: create_slice(srv, k * args.slice, args.slice), database)
            for k in range(runs)
        ]
        out["creates"] = summary(creates)
        entities = runs * args.slice
        check_query(srv)
        patch_args = [str(entities)]
        base.wrk(srv, "patch.lua", 50, 1, args=patch_args)  # warm-up
        out["patch"] = base.median_runs(
            [
                with_db_cpu(
                    db, lambda: base.wrk(srv, "patch.lua", 50, secs, args=patch_args), database
                )
                for _ in range(runs)
            ]
        )
        out["query"] = base.median_runs(
            [with_db_cpu(db, lambda: base.wrk(srv, "query.lua", 10, secs)) for _ in range(runs)]
        )
        out["geo"] = base.median_runs(
            [with_db_cpu(db, lambda: base.wrk(srv, "geo.lua", 10, secs)) for _ in range(runs)]
        )
        windows = Windows()
        ingests: list[dict[str, Any]] = []
        guess = 60  # bodies for the first run; later runs get 1.5x what the last one used
        for _ in range(runs):
            bodies = windows.bodies(guess)
            result = timed_cpu(srv, db, lambda b=bodies: ingest(srv, b, secs), database)
            ingests.append(result)
            guess = max(20, min(400, int(result["rate"] * secs * 1.5 / history.PER_REQUEST) + 1))
        out["ingest"] = summary(ingests)
        out["ingest"]["bytes_per_instance"] = bytes_per_instance(srv, database)
        path = load_agg_meter(srv)
        base.wrk(srv, "get.lua", 1, 1, path=path)  # warm-up
        out["hourly"] = base.median_runs(
            [
                with_db_cpu(db, lambda: base.wrk(srv, "get.lua", 1, secs, path=path))
                for _ in range(runs)
            ]
        )
        for key in ("patch", "query", "geo", "hourly"):
            out[key]["db_cpu_cores"] = statistics.median(
                r["db_cpu_cores"] for r in out[key]["runs"]
            )
            if "db_waits" in out[key]["runs"][0]:
                out[key]["db_waits"] = out[key]["runs"][len(out[key]["runs"]) // 2]["db_waits"]
            if out[key]["non_2xx"] or out[key]["socket_errors"]:
                raise RuntimeError(f"{engine} x{workers} {key}: errors {out[key]}")
    return out


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("rate", "server_cpu_cores", "db_cpu_cores")
    return {**{k: statistics.median(r[k] for r in results) for k in keys}, "runs": results}


# ---------------------------------------------------------------- report


def table(results: list[dict[str, Any]]) -> str:
    head = (
        "| engine | processes | creates/s | PATCH req/s (p99 ms) | type+q req/s (p95 ms)"
        " | near req/s (p95 ms) | ingest instances/s | bytes/instance | hourly p50 / p95 ms"
        " | CPU api+db (PATCH) |"
    )
    lines = [head, "|" + "---|" * 10]
    for r in results:
        p, q, g, h = r["patch"], r["query"], r["geo"], r["hourly"]
        lines.append(
            f"| {r['engine']} | {r['workers']} | {r['creates']['rate']:,.0f}"
            f" | {p['rate']:,.0f} ({p['p99_ms']:.0f}) | {q['rate']:,.0f} ({q['p95_ms']:.0f})"
            f" | {g['rate']:,.0f} ({g['p95_ms']:.0f}) | {r['ingest']['rate']:,.0f}"
            f" | {r['ingest']['bytes_per_instance']}"
            f" | {h['p50_ms']:.1f} / {h['p95_ms']:.1f}"
            f" | {p['server_cpu_cores']:.2f}+{p['db_cpu_cores']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", default="1,2,4", help="comma-separated worker counts")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each timed run")
    parser.add_argument("--slice", type=int, default=2000, help="entities created per run")
    args = parser.parse_args()
    # stopped with SIGTERM, still stop the servers and the cluster (the finally blocks)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    counts = [int(n) for n in args.processes.split(",")]
    engines = args.engines.split(",")
    started = datetime.now(UTC)
    results: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="cf-scaling-") as folder,
        contextlib.ExitStack() as stack,
    ):
        tmp = Path(folder)
        cluster = stack.enter_context(running_cluster()) if "postgresql" in engines else None
        for engine in engines:
            for workers in counts:
                t0 = time.perf_counter()
                one = measure(
                    tmp, engine, workers, cluster if engine == "postgresql" else None, args
                )
                one["seconds"] = round(time.perf_counter() - t0, 1)
                results.append(one)
                print(table([one]).splitlines()[-1], flush=True)
    doc = {
        "started": started.isoformat(timespec="seconds"),
        "seconds": round((datetime.now(UTC) - started).total_seconds(), 1),
        "machine": base.machine(),
        "python": platform.python_version(),
        "args": vars(args),
        "results": results,
    }
    out = base.RESULTS / f"scaling-{started:%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(doc, indent=1))
    print(table(results))
    for r in results:
        if "db_waits" in r["patch"]:
            name = f"{r['engine']} x{r['workers']}"
            print(f"{name} PATCH sessions: {r['patch']['db_waits']}")
            print(f"{name} ingest sessions: {r['ingest']['runs'][0]['db_waits']}")
    print(f"results: {out}")


if __name__ == "__main__":
    main()
