"""HTTP benchmark of a live CityFabric server, each measure beside a same-run baseline.

    .venv/bin/python bench/run.py              # full: 100k entities, 3 runs of 15 s, 1M RSS
    .venv/bin/python bench/run.py --quick      # smoke: 10k entities, 2 runs of 3 s, no 1M
    .venv/bin/python bench/run.py --skip-million --profile /tmp/cf-prof

Starts `cityfabric run` on a free 127.0.0.1 port with a temporary data dir and measures:

* batch upsert of Streetlight-like entities (8 attributes + location) in batches of
  1,000 over HTTP from 2 connections; baseline: raw SQLite `executemany` of the same
  JSON rows into a bare table, same pragmas (one fresh server per run);
* PATCH .../entities/{id}/attrs, 50 connections over 10,000 entities (wrk);
  baseline: GET /health with the same wrk and concurrency;
* GET type+q and GET georel=near;maxDistance==500 (random point), 10 connections (wrk);
  baseline: GET /health at 10 connections;
* server RSS after loading, and (unless --skip-million) with 1,000,000 entities.

Request-rate figures are medians over --runs runs. Results go to bench/results/latest.json.
The load generator (wrk, `apt-get install wrk`) shares the machine's cores with the server.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import queue
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psutil
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
LUA = BENCH / "lua"
RESULTS = BENCH / "results"
SHARED = Path(os.environ.get("CITYFABRIC_SHARED_DATA", ROOT.parent / "shared" / "data"))
SDM_CONTEXTS = SHARED / "smart-data-models" / "contexts"
STREETLIGHT_CTX = "https://smart-data-models.github.io/dataModel.Streetlighting/context.jsonld"
LINK = (
    f'<{STREETLIGHT_CTX}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
)
CENTRE = (117.20, 39.13)  # Tianjin; keep in step with bench/lua/common.lua
SPAN = (0.06, 0.045)  # about 10 km x 10 km
BATCH = 1000
PATCH_ENTITIES = 10_000

console = Console(width=None if sys.stdout.isatty() else 150)

TARGETS: dict[str, dict[str, Any]] = {
    "upsert": {"rate": 30_000, "unit": "entities/s"},
    "patch": {"rate": 3_000, "p99_ms": 50.0},
    "query": {"rate": 1_000, "p95_ms": 20.0},
    "geo": {"p95_ms": 20.0},
    "rss_million": {"mb": 500.0},
}


# ---------------------------------------------------------------- data


def streetlight(i: int, rng: random.Random) -> dict[str, Any]:
    """A Streetlight-like entity (compacted with the Streetlighting context): 8 attributes
    and a Point location."""
    lon = CENTRE[0] + rng.uniform(-SPAN[0], SPAN[0])
    lat = CENTRE[1] + rng.uniform(-SPAN[1], SPAN[1])
    now = "2026-11-23T16:00:00Z"
    return {
        "id": f"urn:ngsi-ld:Streetlight:{i:07}",
        "type": "Streetlight",
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}},
        "powerState": {
            "type": "Property",
            "value": rng.choice(["on", "off", "low"]),
            "observedAt": now,
        },
        "illuminanceLevel": {
            "type": "Property",
            "value": round(rng.random(), 3),
            "observedAt": now,
        },
        "status": {"type": "Property", "value": rng.choice(["ok", "defectiveLamp", "columnIssue"])},
        "lanternHeight": {
            "type": "Property",
            "value": rng.choice([6, 8, 10, 12]),
            "unitCode": "MTR",
        },
        "lampTechnology": {"type": "Property", "value": rng.choice(["LED", "HPS", "LPS"])},
        "dateLastLampChange": {
            "type": "Property",
            "value": {"@type": "DateTime", "@value": "2024-05-01T00:00:00Z"},
        },
        "address": {
            "type": "Property",
            "value": {"addressLocality": "Tianjin", "streetAddress": f"Road {i % 500}"},
        },
        "refStreetlightGroup": {
            "type": "Relationship",
            "object": f"urn:ngsi-ld:StreetlightGroup:{i % 200}",
        },
    }


def batches(start: int, stop: int, seed: int) -> list[list[dict[str, Any]]]:
    rng = random.Random(seed)
    ents = [streetlight(i, rng) for i in range(start, stop)]
    return [ents[k : k + BATCH] for k in range(0, len(ents), BATCH)]


# ---------------------------------------------------------------- machine


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "wrk": (wrk.stdout or wrk.stderr).splitlines()[0].strip()
        if wrk.stdout or wrk.stderr
        else "",
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


# ---------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_mb(self) -> float:
        proc = psutil.Process(self.pid)
        rss: int = proc.memory_info().rss
        for child in proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                rss += child.memory_info().rss
        return rss / 2**20

    def cpu_seconds(self, children: bool = True) -> float:
        """CPU time of the server and (unless not `children`) its live child processes
        (workers, delivery)."""
        proc = psutil.Process(self.pid)
        total = 0.0
        for one in (proc, *(proc.children(recursive=True) if children else ())):
            with contextlib.suppress(psutil.Error):
                t = one.cpu_times()
                total += t.user + t.system
        return total

    def db_mb(self) -> float:
        size = sum(p.stat().st_size for p in self.data_dir.rglob("*") if p.is_file())
        return float(size) / 2**20


@contextlib.contextmanager
def running_server(tmp: Path, name: str) -> Iterator[Server]:
    """`cityfabric run` on a free loopback port with a fresh data dir; stopped on exit."""
    data_dir = tmp / name
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = tmp / f"{name}.log"
    cmd = [sys.executable, "-m", "cityfabric", "run", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--data-dir", str(data_dir), "--context-cache", str(SDM_CONTEXTS)]
    env = {**os.environ, "CITYFABRIC_LOG_LEVEL": "warning"}
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    server = Server(port, data_dir, process, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"cityfabric exited early:\n{log.read_text()}")
            with contextlib.suppress(OSError):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    conn.close()
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"cityfabric did not become healthy:\n{log.read_text()}")
            time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


# ---------------------------------------------------------------- batch upsert


def post_upserts(
    server: Server,
    bodies: Callable[[int], bytes],
    count: int,
    connections: int,
    on_batch: Callable[[], None] | None = None,
) -> float:
    """Send `count` upsert bodies (bodies(k) gives the k-th) over `connections` keep-alive
    connections; returns the wall time in seconds."""
    todo: queue.Queue[int] = queue.Queue()
    for k in range(count):
        todo.put(k)
    errors: list[str] = []
    headers = {"Content-Type": "application/json", "Link": LINK}

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
        try:
            while not errors:
                try:
                    k = todo.get_nowait()
                except queue.Empty:
                    return
                conn.request("POST", "/ngsi-ld/v1/entityOperations/upsert", bodies(k), headers)
                resp = conn.getresponse()
                payload = resp.read()
                if resp.status not in (200, 201, 204):
                    errors.append(f"upsert batch {k}: {resp.status} {payload[:300]!r}")
                if on_batch:
                    on_batch()
        except Exception as exc:  # report it in the main thread
            errors.append(repr(exc))
        finally:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise RuntimeError(errors[0])
    return elapsed


def raw_sqlite_rate(path: Path, bodies: list[list[dict[str, Any]]]) -> float:
    """Rows/s of raw executemany of the same entities' JSON text into a bare table,
    one transaction per batch, the server's pragmas."""
    rows = [[(e["id"], orjson.dumps(e).decode()) for e in batch] for batch in bodies]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("PRAGMA cache_size = -65536")
    conn.execute("CREATE TABLE raw (rid INTEGER PRIMARY KEY, id TEXT UNIQUE, doc TEXT)")
    start = time.perf_counter()
    for batch in rows:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO raw (id, doc) VALUES (?, ?)", batch)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return sum(len(b) for b in rows) / elapsed


# ---------------------------------------------------------------- wrk


@dataclass
class Profiler:
    """py-spy record on the server pid during the first run of each measure."""

    directory: Path | None
    done: set[str] = field(default_factory=set)

    @contextlib.contextmanager
    def maybe(self, name: str, server: Server, seconds: float) -> Iterator[None]:
        pyspy = shutil.which("py-spy") or shutil.which(
            "py-spy", path=str(Path(sys.executable).parent)
        )
        if self.directory is None or name in self.done or pyspy is None:
            yield
            return
        self.done.add(name)
        self.directory.mkdir(parents=True, exist_ok=True)
        out = self.directory / f"{name}.txt"
        cmd = [pyspy, "record", "--pid", str(server.pid), "--duration", str(int(seconds))]
        cmd += ["--rate", "200", "--format", "raw", "--threads", "--nonblocking", "--subprocesses"]
        cmd += os.environ.get("PYSPY_EXTRA", "").split()
        cmd += ["--output", str(out)]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            yield
        finally:
            try:
                proc.wait(seconds + 30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            if out.exists():
                (self.directory / f"{name}.summary.txt").write_text(summarize_profile(out))


def summarize_profile(path: Path, top: int = 25) -> str:
    """Self time per function and share of samples per thread from py-spy raw output."""
    leaf: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        count = int(n)
        frames = stack.split(";")
        total += count
        threads[frames[0]] += count
        leaf[frames[-1]] += count
        for f in set(frames[1:]):
            inclusive[f] += count
    lines = [f"{total} samples", "", "threads:"]
    lines += [f"  {c / total:6.1%}  {t}" for t, c in threads.most_common(10)]
    lines += ["", "self (leaf frame):"]
    lines += [f"  {c / total:6.1%}  {f}" for f, c in leaf.most_common(top)]
    lines += ["", "inclusive:"]
    lines += [f"  {c / total:6.1%}  {f}" for f, c in inclusive.most_common(top * 2)]
    return "\n".join(lines) + "\n"


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores)."""
    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


def children_seconds() -> float:
    t = os.times()
    return t.children_user + t.children_system


def wrk(
    server: Server,
    script: str,
    connections: int,
    seconds: float,
    args: list[str] | None = None,
    path: str = "/",
) -> dict[str, Any]:
    """One wrk run (1 thread: the server is far slower than wrk); rate and percentiles."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "--latency"]
    cmd += ["-s", str(LUA / script), server.url + path]
    if args:
        cmd += ["--", *args]
    cpu0, busy0, kids0 = server.cpu_seconds(), busy_seconds(), children_seconds()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    wall = time.perf_counter() - t0
    server_cpu = (server.cpu_seconds() - cpu0) / wall
    wrk_cpu = (children_seconds() - kids0) / wall
    machine_cpu = (busy_seconds() - busy0) / wall
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    raw = json.loads(line.removeprefix("WRKJSON "))
    errors = sum(raw[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    return {
        "rate": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50_ms": raw["p50_us"] / 1000,
        "p95_ms": raw["p95_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "requests": raw["requests"],
        "bytes_per_response": round(raw["bytes"] / max(1, raw["requests"])),
        "non_2xx": raw["status_errors"],
        "socket_errors": errors,
        "server_cpu_cores": round(server_cpu, 2),
        "wrk_cpu_cores": round(wrk_cpu, 2),
        # everything else on the machine (other users' jobs): the noise in this run
        "other_cpu_cores": round(max(0.0, machine_cpu - server_cpu - wrk_cpu), 2),
    }


def median_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys: tuple[str, ...] = ("rate", "p50_ms", "p95_ms", "p99_ms", "max_ms", "server_cpu_cores")
    keys += ("wrk_cpu_cores", "other_cpu_cores")
    out: dict[str, Any] = {k: statistics.median(r[k] for r in runs) for k in keys}
    out["bytes_per_response"] = runs[0]["bytes_per_response"]
    out["non_2xx"] = sum(r["non_2xx"] for r in runs)
    out["socket_errors"] = sum(r["socket_errors"] for r in runs)
    out["runs"] = runs
    return out


# ---------------------------------------------------------------- measures


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def measure_upsert(
    tmp: Path, n: int, runs: int, profiler: Profiler
) -> tuple[dict[str, Any], contextlib.ExitStack, Server]:
    """Batch upsert of n entities into a fresh server, `runs` times; the raw SQLite
    baseline after each. Returns the last server still running with n entities."""
    console.rule(f"[bold]batch upsert: {n:,} entities in batches of {BATCH:,}")
    ents = batches(0, n, seed=42)
    bodies = [orjson.dumps(b) for b in ents]
    rates: list[float] = []
    raws: list[float] = []
    cores: list[float] = []  # server CPU, in cores, during each timed run
    others: list[float] = []  # the rest of the machine (client included)
    stack = contextlib.ExitStack()
    server: Server | None = None
    # with --profile, one extra untimed run first, under py-spy (it costs the server CPU)
    for run in range(-1 if profiler.directory else 0, runs):
        stack.close()
        stack = contextlib.ExitStack()
        try:
            server = stack.enter_context(running_server(tmp, f"upsert-{run + 1}"))
            if run < 0:
                with profiler.maybe("upsert", server, seconds=max(2, n / 20_000)):
                    post_upserts(server, bodies.__getitem__, len(bodies), connections=2)
                console.print("  profiled run (py-spy, not counted)")
                continue
            cpu0, busy0 = server.cpu_seconds(), busy_seconds()
            elapsed = post_upserts(server, bodies.__getitem__, len(bodies), connections=2)
            cores.append((server.cpu_seconds() - cpu0) / elapsed)
            others.append((busy_seconds() - busy0) / elapsed - cores[-1])
        except BaseException:
            stack.close()
            raise
        rates.append(n / elapsed)
        raw_path = tmp / f"raw-{run}.sqlite"
        raws.append(raw_sqlite_rate(raw_path, ents))
        raw_path.unlink()
        console.print(
            f"  run {run + 1}: HTTP upsert {fmt_rate(rates[-1])} entities/s "
            f"({elapsed:.1f} s, server {cores[-1]:.2f} cores, client and others "
            f"{others[-1]:.2f}), raw SQLite {fmt_rate(raws[-1])} rows/s"
        )
    assert server is not None
    result = {
        "entities": n,
        "batch": BATCH,
        "connections": 2,
        "rate": statistics.median(rates),
        "baseline_rate": statistics.median(raws),
        "runs": rates,
        "baseline_runs": raws,
        "server_cpu_cores": statistics.median(cores),
        "client_and_other_cpu_cores": statistics.median(others),
        "db_mb_after": round(server.db_mb(), 1),
    }
    return result, stack, server


def measure_requests(
    server: Server, n: int, runs: int, seconds: float, profiler: Profiler
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    patch_n = str(min(PATCH_ENTITIES, n))
    Measure = tuple[str, str, list[str] | None]
    groups: list[tuple[str, int, list[Measure]]] = [
        (
            "patch",
            50,
            [("health_c50", "health.lua", None), ("patch", "patch.lua", [patch_n])],
        ),
        (
            "queries",
            10,
            [
                ("health_c10", "health.lua", None),
                ("query", "query.lua", None),
                ("geo", "geo.lua", None),
            ],
        ),
    ]
    for title, conns, measures in groups:
        console.rule(f"[bold]{title}: wrk, {conns} connections, {runs} x {seconds:g} s")
        for _, script, args in measures:  # warm-up: caches, SQLite pages, uvicorn workers
            wrk(server, script, conns, min(2.0, seconds), args)
        per: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in measures}
        for run in range(runs):  # interleaved, so noise hits measure and baseline alike
            for name, script, args in measures:
                r = wrk(server, script, conns, seconds, args)
                per[name].append(r)
                console.print(
                    f"  run {run + 1} {name:<11} {fmt_rate(r['rate']):>7} req/s  "
                    f"p50 {r['p50_ms']:6.2f}  p95 {r['p95_ms']:6.2f}  p99 {r['p99_ms']:6.2f} ms  "
                    f"cores: server {r['server_cpu_cores']:.2f} wrk {r['wrk_cpu_cores']:.2f} "
                    f"others {r['other_cpu_cores']:.2f}  "
                    f"non-2xx {r['non_2xx']}  socket errors {r['socket_errors']}"
                )
        if profiler.directory:  # one extra untimed run each, under py-spy
            for name, script, args in measures:
                with profiler.maybe(name, server, seconds):
                    r = wrk(server, script, conns, seconds, args)
                console.print(f"  profiled {name}: {fmt_rate(r['rate'])} req/s (not counted)")
        for name, _, _ in measures:
            results[name] = {"connections": conns, "seconds": seconds, **median_runs(per[name])}
    return results


def measure_million(tmp: Path, n: int, seconds: float) -> dict[str, Any]:
    """Load n entities by batch upsert into a fresh server (bodies built on the fly by the
    2 sender threads), then the server's RSS, idle and after a few queries."""
    console.rule(f"[bold]RSS with {n:,} entities")
    with running_server(tmp, "million") as server:
        count = (n + BATCH - 1) // BATCH
        peak = [server.rss_mb()]
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.5):
                with contextlib.suppress(psutil.Error):
                    peak[0] = max(peak[0], server.rss_mb())

        def body(k: int) -> bytes:
            rng = random.Random(1000 + k)
            lo, hi = k * BATCH, min(n, (k + 1) * BATCH)
            return orjson.dumps([streetlight(i, rng) for i in range(lo, hi)])

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.completed:,.0f}/{task.total:,.0f} entities"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
        )
        start = time.perf_counter()
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("upsert", total=n, rate="")
            lock = threading.Lock()

            def advance() -> None:
                with lock:
                    progress.advance(task, BATCH)
                    done = progress.tasks[0].completed
                    rate = done / (time.perf_counter() - start)
                    progress.update(task, rate=f"{rate:,.0f}/s, RSS {peak[0]:,.0f} MB")
                    step = max(BATCH, n // 10)
                    if not console.is_terminal and done % step < BATCH:  # logs: every 10%
                        console.print(
                            f"  {done:,.0f} entities, {rate:,.0f}/s, RSS {peak[0]:,.0f} MB"
                        )

            elapsed = post_upserts(server, body, count, connections=2, on_batch=advance)
        stop.set()
        sampler.join()
        rss_loaded = server.rss_mb()
        rate = n / elapsed
        console.print(f"  loaded {n:,} in {elapsed:.0f} s ({fmt_rate(rate)} entities/s)")
        # a few reads so the RSS includes the query path, not only the write path
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        q_ms = []
        for path in (
            "/ngsi-ld/v1/entities?type=Streetlight&q=powerState==%22on%22;illuminanceLevel%3E0.5&limit=100",
            "/ngsi-ld/v1/entities?type=Streetlight&georel=near;maxDistance==500&geometry=Point"
            f"&coordinates=%5B{CENTRE[0]},{CENTRE[1]}%5D&limit=100",
        ):
            for _ in range(5):
                t0 = time.perf_counter()
                conn.request("GET", path, headers={"Link": LINK})
                resp = conn.getresponse()
                resp.read()
                q_ms.append((time.perf_counter() - t0) * 1000)
                if resp.status != 200:
                    raise RuntimeError(f"GET {path}: {resp.status}")
        conn.close()
        rss_after = server.rss_mb()
        # then sustained load, so every reader connection's page cache fills up
        under_load: dict[str, Any] = {}
        peak_load = [rss_after]
        stop = threading.Event()

        def sample_load() -> None:
            while not stop.wait(0.5):
                with contextlib.suppress(psutil.Error):
                    peak_load[0] = max(peak_load[0], server.rss_mb())

        sampler = threading.Thread(target=sample_load, daemon=True)
        sampler.start()
        for name, script, conns, args in (
            ("patch", "patch.lua", 50, [str(n)]),
            ("query", "query.lua", 10, None),
            ("geo", "geo.lua", 10, None),
        ):
            r = wrk(server, script, conns, seconds, args)
            under_load[name] = r
            console.print(
                f"  at {n:,}: {name:<6} {fmt_rate(r['rate']):>6} req/s  p95 {r['p95_ms']:7.1f} ms"
                f"  p99 {r['p99_ms']:7.1f} ms  RSS {server.rss_mb():,.0f} MB"
            )
        stop.set()
        sampler.join()
        rss_load = server.rss_mb()
        console.print(
            f"  RSS loaded {rss_loaded:,.0f} MB, after 10 queries {rss_after:,.0f} MB, "
            f"after {seconds:g} s each of PATCH/q/geo load {rss_load:,.0f} MB "
            f"(peak {max(peak_load[0], rss_load):,.0f}), peak while loading {peak[0]:,.0f} MB, "
            f"database {server.db_mb():,.0f} MB"
        )
        return {
            "entities": n,
            "load_rate": rate,
            "load_seconds": elapsed,
            "rss_mb_loaded": rss_loaded,
            "rss_mb_after_queries": rss_after,
            "rss_mb_peak_loading": peak[0],
            "rss_mb_after_load": rss_load,
            "rss_mb_peak_under_load": max(peak_load[0], rss_load),
            "under_load": under_load,
            "db_mb": server.db_mb(),
            "query_ms_median_at_million": statistics.median(q_ms[:5]),
            "geo_ms_median_at_million": statistics.median(q_ms[5:]),
        }


# ---------------------------------------------------------------- report


def report(results: dict[str, Any]) -> Table:
    table = Table(title="CityFabric HTTP benchmark (medians)")
    for col in ("measure", "target", "measured", "baseline", "ratio", "ok"):
        table.add_column(col, justify="left" if col == "measure" else "right")

    def ok(flag: bool) -> str:
        return "[green]yes[/]" if flag else "[red]no[/]"

    up = results["upsert"]
    table.add_row(
        f"batch upsert {up['entities']:,} (x{BATCH:,}, 2 conns)",
        "30,000 ent/s",
        f"{fmt_rate(up['rate'])} ent/s",
        f"{fmt_rate(up['baseline_rate'])} rows/s raw SQLite",
        f"{up['rate'] / up['baseline_rate']:.3f}",
        ok(up["rate"] >= TARGETS["upsert"]["rate"]),
    )
    req = results["requests"]
    p, h50 = req["patch"], req["health_c50"]
    table.add_row(
        "PATCH attrs, 50 conns, rate",
        "3,000 req/s",
        f"{fmt_rate(p['rate'])} req/s",
        f"{fmt_rate(h50['rate'])} req/s /health",
        f"{p['rate'] / h50['rate']:.3f}",
        ok(p["rate"] >= 3000),
    )
    table.add_row(
        "PATCH attrs, 50 conns, p99",
        "< 50 ms",
        f"{p['p99_ms']:.1f} ms",
        f"{h50['p99_ms']:.1f} ms /health",
        f"{p['p99_ms'] / h50['p99_ms']:.1f}",
        ok(p["p99_ms"] < 50),
    )
    q, h10, g = req["query"], req["health_c10"], req["geo"]
    table.add_row(
        "GET type+q limit 100, 10 conns, rate",
        "1,000 req/s",
        f"{fmt_rate(q['rate'])} req/s",
        f"{fmt_rate(h10['rate'])} req/s /health",
        f"{q['rate'] / h10['rate']:.3f}",
        ok(q["rate"] >= 1000),
    )
    table.add_row(
        "GET type+q limit 100, 10 conns, p95",
        "< 20 ms",
        f"{q['p95_ms']:.1f} ms",
        f"{h10['p95_ms']:.1f} ms /health",
        f"{q['p95_ms'] / h10['p95_ms']:.1f}",
        ok(q["p95_ms"] < 20),
    )
    table.add_row(
        "GET near;maxDistance==500, 10 conns, p95",
        "< 20 ms",
        f"{g['p95_ms']:.1f} ms ({fmt_rate(g['rate'])} req/s)",
        f"{h10['p95_ms']:.1f} ms /health",
        f"{g['p95_ms'] / h10['p95_ms']:.1f}",
        ok(g["p95_ms"] < 20),
    )
    table.add_row(
        f"server RSS, {up['entities']:,} entities after the load",
        "",
        f"{results['rss_mb_after_requests']:,.0f} MB",
        "",
        "",
        "",
    )
    if "million" in results:
        m = results["million"]
        table.add_row(
            f"server RSS, {m['entities']:,} entities",
            "< 500 MB",
            f"{m['rss_mb_peak_under_load']:,.0f} MB peak under load",
            f"load {fmt_rate(m['load_rate'])} ent/s",
            "",
            ok(m["rss_mb_peak_under_load"] < 500),
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 10k entities, 3 s runs")
    parser.add_argument("--entities", type=int, help="entities loaded (default 100,000)")
    parser.add_argument("--runs", type=int, help="runs per measure (default 3; quick 2)")
    parser.add_argument("--seconds", type=float, help="seconds per wrk run (default 15; quick 3)")
    parser.add_argument("--million", type=int, default=1_000_000, help="entities for the RSS run")
    parser.add_argument("--skip-million", action="store_true", help="skip the 1M-entity RSS run")
    parser.add_argument("--profile", type=Path, help="py-spy record each measure's first run here")
    parser.add_argument(
        "--output", type=Path, help="results JSON (default bench/results/latest.json)"
    )
    args = parser.parse_args()
    n = args.entities or (10_000 if args.quick else 100_000)
    runs = args.runs or (2 if args.quick else 3)
    seconds = args.seconds or (3.0 if args.quick else 15.0)
    skip_million = args.skip_million or args.quick
    output = args.output or (RESULTS / ("quick.json" if args.quick else "latest.json"))
    if not shutil.which("wrk"):
        sys.exit("wrk not found: apt-get install -y wrk")

    facts = machine()
    console.print(facts)
    profiler = Profiler(args.profile)
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "mode": "quick" if args.quick else "full",
        "machine": facts,
        "targets": TARGETS,
    }
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cityfabric-bench-") as tmpdir:
        tmp = Path(tmpdir)
        with running_server(tmp, "idle") as idle:
            results["rss_mb_idle"] = idle.rss_mb()
        upsert, stack, server = measure_upsert(tmp, n, runs, profiler)
        with stack:
            results["upsert"] = upsert
            results["rss_mb_after_upsert"] = server.rss_mb()
            results["requests"] = measure_requests(server, n, runs, seconds, profiler)
            results["rss_mb_after_requests"] = server.rss_mb()
            results["server_pid"] = server.pid
        if not skip_million:
            results["million"] = measure_million(tmp, args.million, seconds)
    results["elapsed_s"] = round(time.perf_counter() - t0, 1)
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
    console.print(report(results))
    console.print(f"results: {output}  ({results['elapsed_s']:.0f} s)")


if __name__ == "__main__":
    main()
