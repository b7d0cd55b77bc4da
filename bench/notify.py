"""Notification benchmark (issue 4): 1,000 subscriptions under a 5,000 updates/s batch upsert.

    .venv/bin/python bench/notify.py                  # full: 3 runs + variant, ~7 min
    .venv/bin/python bench/notify.py --quick          # smoke: 1 run, short phases, ~1 min
    PATH=/path/to/py-spy/dir:$PATH .venv/bin/python bench/notify.py --profile /tmp/notify-prof

Targets:
* with 1,000 active subscriptions and 5,000 entity updates/s by batch upsert,
  notifications reach a local receiver at >= 5,000/s, p99 (write ack -> receipt) < 100 ms,
  none lost;
* write throughput with those 1,000 subscriptions >= 80% of that with none (same run).

Three processes on 127.0.0.1 (free ports), besides this driver:
* the server: `cityfabric run` (bench/run.py `running_server`: temp data dir, the Smart
  Data Models contexts as --context-cache), a fresh one per measure, with its delivery
  process (CITYFABRIC_NOTIFICATION_PROCESS, on by default; the server's CPU figures
  include it);
* the receiver (bench/notify_receiver.py): raw asyncio.Protocol on uvloop, HTTP/1.1
  keep-alive, answers 200 at once, records time.time() of receipt per (entity id, seq);
* the load generator (bench/notify_load.py): httpx.AsyncClient batch upserts.

Data and subscriptions (`--layout types`, the main one): 10,000 entities, 1,000 of each
of 10 Smart Data Models types (Streetlight, AirQualityObserved, ...), in 100 blocks of
10 per type, each with a `seq` and a `zone` attribute. 1,000 subscriptions, one per
(type, block): `entities: [{type: T, idPattern: "^urn:ngsi-ld:T:BB\\d$"}]`,
`watchedAttributes: ["seq"]`, default triggers and format, endpoint
`http://127.0.0.1:R/notify/E` (E = subscription number mod `--endpoints`; default 1,000:
one callback URL per subscriber). Fan-out: every update matches exactly one
subscription; the type index narrows each update to the 100 subscriptions of its type,
whose idPatterns are then tried. `--layout one-type`: the same 10,000 entities and
1,000 subscriptions all of type Streetlight watching `seq` (10 entities per idPattern),
so the index cannot narrow and every update tries 1,000 idPatterns (run once, unless
--quick, after the main runs).

Measures, per run (fresh server each, interleaved so machine noise hits all alike):
1. write throughput, 0 subscriptions: 10,000 entities loaded, then unpaced upsert
   batches of 1,000 from 3 connections for --flood-seconds;
2. the same with the 1,000 subscriptions (notifications delivered to the receiver
   meanwhile, as in production);
3. notifications: the 1,000 subscriptions, a 2 s warm-up, then batches of `--batch`
   (100) entities paced to --rate (5,000 entities/s) for --seconds, 4 connections;
   each batch's `seq` is its sequence number, and the time its 2xx arrived is the write
   acknowledgement. Latency of a notification = receipt time - ack time of the batch
   whose (id, seq) it carries. After the load the driver waits until every expected
   notification arrived (or 10 s without progress). Reported: delivered rate (all
   notifications / (last receipt - first send)), rate within the load window, p50/p95/
   p99/max latency (a notification not received --drain-limit s after the load counts
   as infinitely late: the percentile it falls on reads "not received"), lost (not
   received by then: late or lost; `times_failed`, summed from the subscriptions'
   timesFailed, tells failed attempts apart), duplicates, write ack latency. The paced
   load skips batches not sent by 1.5 x --seconds + 5 s, so a server that cannot keep
   up still ends the run in bounded time (`batches_not_sent`).
Figures are medians over --runs runs. CPU of the server, receiver, load generator and
everything else on the machine (other users' jobs) is recorded per measure; for the
write floods also the API process's own CPU per entity written (µs; its delivery
process excluded), in all and by thread (event loop, store writer, the rest), which
tells what a subscription costs the writes even on a busy machine.
With --profile DIR, the two floods and one paced run again, uncounted, under `py-spy
record --format raw` (py-spy found on PATH or beside the Python executable; extra
py-spy options, such as --gil, from $PYSPY_EXTRA); DIR/<measure>.summary.txt has the
top frames.

Results: bench/results/notify-<timestamp>.json (every run, every figure).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import notify_load as load
import orjson
import psutil
import run as base

BENCH = Path(__file__).resolve().parent
_SERVERS = itertools.count(1)
TARGETS = {"rate": 5000.0, "p99_ms": 100.0, "write_ratio": 0.8}


# ---------------------------------------------------------------- processes


def machine() -> dict[str, Any]:
    """bench/run.py's machine record, without wrk (not used here)."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "httpx": httpx.__version__,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


@dataclass
class Receiver:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _request(self, method: str, path: str, body: bytes = b"") -> bytes:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body)
            return conn.getresponse().read()
        finally:
            conn.close()

    def stats(self) -> dict[str, int]:
        out: dict[str, int] = orjson.loads(self._request("GET", "/_stats"))
        return out

    def dump(self, path: Path) -> dict[str, Any]:
        """The records so far (the receiver forgets them)."""
        self._request("POST", "/_dump", str(path).encode())
        out: dict[str, Any] = orjson.loads(path.read_bytes())
        path.unlink()
        return out

    def cpu_seconds(self) -> float:
        t = psutil.Process(self.process.pid).cpu_times()
        return float(t.user + t.system)


@contextlib.contextmanager
def running_receiver(tmp: Path) -> Iterator[Receiver]:
    port = base.free_port()
    cmd = [sys.executable, str(BENCH / "notify_receiver.py"), "--port", str(port)]
    with (tmp / "receiver.log").open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    receiver = Receiver(port, proc)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                receiver.stats()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the receiver did not start") from None
                time.sleep(0.05)
        yield receiver
    finally:
        proc.terminate()
        proc.wait(10)


@dataclass
class Cpu:
    """CPU (in cores) of the server, the receiver and the rest of the machine over a span."""

    server: base.Server
    receiver: Receiver

    def __enter__(self) -> Cpu:
        self.t0 = time.perf_counter()
        self.s0, self.r0 = self.server.cpu_seconds(), self.receiver.cpu_seconds()
        self.a0 = self.server.cpu_seconds(children=False)
        self.th0 = thread_seconds(self.server.pid)
        self.k0, self.b0 = base.children_seconds(), base.busy_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self.t0
        self.server_cores = (self.server.cpu_seconds() - self.s0) / wall
        self.api_seconds = self.server.cpu_seconds(children=False) - self.a0
        th1 = thread_seconds(self.server.pid)
        spent = sorted(((v - self.th0.get(k, 0.0), k) for k, v in th1.items()), reverse=True)
        # the event loop's thread, the busiest other (the store's writer), the rest
        main = next(v for v, k in spent if k == "main")
        others = [v for v, k in spent if k != "main"]
        self.threads = {"main": main, "writer": others[0] if others else 0.0}
        self.threads["rest"] = sum(others[1:])
        self.receiver_cores = (self.receiver.cpu_seconds() - self.r0) / wall
        self.load_cores = (base.children_seconds() - self.k0) / wall
        machine = (base.busy_seconds() - self.b0) / wall
        self.other_cores = max(
            0.0, machine - self.server_cores - self.receiver_cores - self.load_cores
        )

    def figures(self) -> dict[str, float]:
        return {
            "server_cpu_cores": round(self.server_cores, 2),
            "receiver_cpu_cores": round(self.receiver_cores, 2),
            "load_cpu_cores": round(self.load_cores, 2),
            "other_cpu_cores": round(self.other_cores, 2),
        }


def thread_seconds(pid: int) -> dict[str, float]:
    """CPU seconds of a process's threads by thread id, "main" for the event loop's
    (Linux /proc)."""
    out: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            name = "main" if task.name == str(pid) else task.name
            out[name] = (int(fields[11]) + int(fields[12])) / tick
    return out


@contextlib.contextmanager
def server_for(tmp: Path, name: str) -> Iterator[base.Server]:
    """`cityfabric run` (bench/run.py) with a fresh data dir."""
    with base.running_server(tmp, f"{name}-{next(_SERVERS)}") as server:
        yield server


def run_load(mode: str, url: str, tmp: Path, **opts: Any) -> dict[str, Any]:
    """Run bench/notify_load.py to completion; its JSON result."""
    out = tmp / f"load-{mode}.json"
    cmd = [sys.executable, str(BENCH / "notify_load.py"), mode, "--url", url, "--out", str(out)]
    for key, value in opts.items():
        cmd += [f"--{key.replace('_', '-')}", str(value)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{proc.stdout}\n{proc.stderr}")
    result: dict[str, Any] = orjson.loads(out.read_bytes())
    out.unlink()
    return result


# ---------------------------------------------------------------- set-up


def seed(server: base.Server, layout: str) -> None:
    """Create the 10,000 entities (seq 0) before any subscription exists."""
    ents = load.entity_ids(layout)
    with httpx.Client(base_url=server.url, timeout=120) as client:
        for start in range(0, len(ents), 1000):
            data = load.body(ents, range(start, min(start + 1000, len(ents))), 0)
            r = client.post(load.UPSERT, content=data, headers=load.HEADERS)
            if r.status_code not in (200, 201, 204):
                raise RuntimeError(f"seeding: {r.status_code} {r.text[:300]}")


def subscription(n: int, layout: str, receiver: Receiver, endpoints: int) -> dict[str, Any]:
    """The n-th of 1,000 subscriptions: one (type, block) of 10 entities."""
    types = load.types_of(layout)
    if layout == "types":
        t, block = types[n // load.BLOCKS], f"{n % load.BLOCKS:02}"
    else:
        t, block = types[0], f"{n:03}"
    return {
        "id": f"urn:ngsi-ld:Subscription:bench-{n:04}",
        "type": "Subscription",
        "entities": [{"type": t, "idPattern": f"^urn:ngsi-ld:{t}:{block}\\d$"}],
        "watchedAttributes": ["seq"],
        "notification": {
            "endpoint": {
                "uri": f"{receiver.url}/notify/{n % endpoints}",
                "accept": "application/json",
            }
        },
    }


def subscribe(server: base.Server, receiver: Receiver, layout: str, endpoints: int) -> float:
    """POST the 1,000 subscriptions; the seconds it took."""
    t0 = time.perf_counter()
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for n in range(1000):
            r = client.post(
                "/ngsi-ld/v1/subscriptions",
                content=orjson.dumps(subscription(n, layout, receiver, endpoints)),
                headers=load.HEADERS,
            )
            if r.status_code != 201:
                raise RuntimeError(f"subscription {n}: {r.status_code} {r.text[:300]}")
    return time.perf_counter() - t0


def settle(
    receiver: Receiver,
    expected: int,
    quiet_s: float = 10.0,
    limit_s: float = 120.0,
    key: str = "measured",
) -> None:
    """Wait until `expected` entities (of `key`) arrived, or nothing arrived for `quiet_s`."""
    last, since = -1, time.monotonic()
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        got = receiver.stats()[key]
        if got >= expected:
            return
        if got != last:
            last, since = got, time.monotonic()
        elif time.monotonic() - since > quiet_s:
            return
        time.sleep(0.2)


# ---------------------------------------------------------------- measures


def write_throughput(
    tmp: Path,
    receiver: Receiver,
    args: argparse.Namespace,
    subs: bool,
    profiler: base.Profiler | None = None,
) -> dict[str, Any]:
    """Unpaced upserts (batches of 1,000, 3 connections) with 0 or 1,000 subscriptions."""
    name = "flood-subs" if subs else "flood-none"
    with server_for(tmp, name) as server:
        seed(server, args.layout)
        if subs:
            subscribe(server, receiver, args.layout, args.endpoints)
        spy = profiler.maybe(name, server, args.flood_seconds) if profiler else None
        with contextlib.ExitStack() as stack, Cpu(server, receiver) as cpu:
            if spy is not None:
                stack.enter_context(spy)
            res = run_load(
                "flood",
                server.url,
                tmp,
                layout=args.layout,
                batch=1000,
                connections=3,
                seconds=args.flood_seconds,
                seq=10_000_000,
            )
        backlog = receiver.stats()["entities"]
    receiver.dump(tmp / "discard.json")
    return {
        "subscriptions": 1000 if subs else 0,
        "rate": res["rate"],
        "entities": res["entities"],
        "errors": res["errors"],
        "notified_during_run": backlog,
        # the API process alone (not its delivery process): what bounds the rate
        "api_cpu_us_per_entity": round(cpu.api_seconds / max(res["entities"], 1) * 1e6, 1),
        "api_thread_cpu_us_per_entity": {
            k: round(v / max(res["entities"], 1) * 1e6, 1) for k, v in cpu.threads.items() if v
        },
        **cpu.figures(),
    }


def notifications(
    tmp: Path,
    receiver: Receiver,
    args: argparse.Namespace,
    layout: str,
    profiler: base.Profiler | None = None,
) -> dict[str, Any]:
    """Paced upserts at --rate with the 1,000 subscriptions; delivery rate and latency."""
    with server_for(tmp, f"notify-{layout}") as server:
        seed(server, layout)
        sub_s = subscribe(server, receiver, layout, args.endpoints)
        opts = {"layout": layout, "rate": args.rate, "batch": args.batch, "connections": 4}
        run_load("paced", server.url, tmp, seconds=2, seq=5_000_000, **opts)  # warm-up
        settle(receiver, int(args.rate * 2), quiet_s=3, limit_s=5, key="entities")
        receiver.dump(tmp / "discard.json")
        spy = profiler.maybe("notify", server, args.seconds) if profiler else None
        with contextlib.ExitStack() as stack:
            if spy is not None:
                stack.enter_context(spy)
            with Cpu(server, receiver) as cpu:
                res = run_load("paced", server.url, tmp, seconds=args.seconds, seq=1, **opts)
        expected = sum(res["batch"] for s in res["status"] if 200 <= s < 300)
        t_drain = time.perf_counter()
        settle(receiver, expected, limit_s=args.drain_limit)
        drain_s = time.perf_counter() - t_drain
        records = receiver.dump(tmp / "records.json")
        failures = delivery_failures(server)
    out = analyse(res, records, layout)
    out.update(failures)
    out.update(cpu.figures())
    out["drain_s"] = round(drain_s, 2)
    out["subscribe_s"] = round(sub_s, 2)
    return out


def delivery_failures(server: base.Server) -> dict[str, Any]:
    """Failed delivery attempts the server counted (timesFailed) and a few reasons."""
    failed, reasons = 0, set()
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for offset in range(0, 1000, 500):
            r = client.get("/ngsi-ld/v1/subscriptions", params={"limit": 500, "offset": offset})
            for sub in r.json():
                failed += sub["notification"].get("timesFailed", 0)
                reason = sub["notification"].get("lastFailureReason")
                if reason and len(reasons) < 5:
                    reasons.add(reason)
    return {"times_failed": failed, "failure_reasons": sorted(reasons)}


def pct(sorted_ms: list[float], q: float) -> float | None:
    """The q-quantile; None when it falls on a notification that never arrived."""
    if not sorted_ms:
        return None
    value = sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]
    return None if value == float("inf") else value


def analyse(res: dict[str, Any], rec: dict[str, Any], layout: str) -> dict[str, Any]:
    """Match receipts to batches by (id, seq): latency, loss, duplicates, rates."""
    ents = load.entity_ids(layout)
    perm = load.order(len(ents))
    seq0, batch = res["seq"], res["batch"]
    expected: dict[tuple[str, int], float] = {}
    for k, (status, acked) in enumerate(zip(res["status"], res["acked"], strict=True)):
        if 200 <= status < 300:
            for i in load.batch_members(k, batch, perm):
                expected[(ents[i][0], seq0 + k)] = acked
    seen: set[tuple[str, int]] = set()
    lat: list[float] = []
    dup = unknown = 0
    times = rec["times"]
    for ent_id, seq, at in zip(rec["ids"], rec["seqs"], rec["at"], strict=True):
        key = (ent_id, seq)
        ack = expected.get(key)
        if ack is None:
            unknown += 1
        elif key in seen:
            dup += 1
        else:
            seen.add(key)
            lat.append((times[at] - ack) * 1000)
    lat.sort()
    lat += [float("inf")] * (len(expected) - len(seen))  # not received by the deadline
    first_sent = min(t for t in res["sent"] if t > 0)
    last_ack = max(res["acked"])
    window = last_ack - first_sent
    in_window = sum(1 for at in rec["at"] if times[at] <= last_ack)
    span = (max(times) - first_sent) if times else float("nan")
    write_ms = sorted(
        (a - s) * 1000
        for s, a, st in zip(res["sent"], res["acked"], res["status"], strict=True)
        if 200 <= st < 300
    )
    return {
        "layout": layout,
        "updates": len(expected),
        "update_rate": res["achieved_rate"],
        "non_2xx_batches": sum(1 for s in res["status"] if s and not 200 <= s < 300),
        "batches_not_sent": res["not_sent"],
        "notified": len(seen),
        "lost": len(expected) - len(seen),
        "duplicates": dup,
        "unknown": unknown,
        "requests": len(times),
        "entities_per_request": len(rec["ids"]) / max(1, len(times)),
        "endpoint_paths": len(rec["paths"]),
        "rate": len(seen) / span if times else 0.0,
        "rate_in_window": in_window / window,
        "p50_ms": pct(lat, 0.50),
        "p95_ms": pct(lat, 0.95),
        "p99_ms": pct(lat, 0.99),
        "max_ms": pct(lat, 1.0),
        "write_p50_ms": pct(write_ms, 0.50),
        "write_p99_ms": pct(write_ms, 0.99),
    }


# ---------------------------------------------------------------- main


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of the numeric figures, sums of the counts, and every run."""
    counts = ("lost", "duplicates", "unknown", "non_2xx_batches", "batches_not_sent", "errors")
    counts += ("times_failed",)
    out: dict[str, Any] = {}
    for key, value in runs[0].items():
        if key in counts:
            out[key] = sum(r[key] for r in runs)
        elif key.endswith("_ms"):
            out[key] = median_ms([r[key] for r in runs])
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = statistics.median(r[key] for r in runs)
        else:
            out[key] = value
    out["runs"] = runs
    return out


def median_ms(values: list[float | None]) -> float | None:
    """Median of latencies where None (never arrived) counts as infinite."""
    m = statistics.median(float("inf") if v is None else v for v in values)
    return None if m == float("inf") else m


def ms(value: float | None) -> str:
    return "not received" if value is None else f"{value:.1f}"


def show_notify(run: int, r: dict[str, Any]) -> None:
    print(
        f"  run {run} notify[{r['layout']}]: writes {r['update_rate']:,.0f} ent/s "
        f"(write p99 {ms(r['write_p99_ms'])} ms), notified {r['notified']:,} of {r['updates']:,} "
        f"(lost {r['lost']}, dup {r['duplicates']}), rate {r['rate']:,.0f}/s "
        f"(in window {r['rate_in_window']:,.0f}/s), latency p50 {ms(r['p50_ms'])} "
        f"p95 {ms(r['p95_ms'])} p99 {ms(r['p99_ms'])} max {ms(r['max_ms'])} ms, "
        f"{r['entities_per_request']:.1f} ent/request, {r['times_failed']} failed attempts "
        f"{r['failure_reasons'][:1]}, drain {r['drain_s']} s, cores: "
        f"server {r['server_cpu_cores']} receiver {r['receiver_cpu_cores']} "
        f"load {r['load_cpu_cores']} other {r['other_cpu_cores']}",
        flush=True,
    )


def show_flood(run: int, r: dict[str, Any]) -> None:
    print(
        f"  run {run} write throughput, {r['subscriptions']} subs: {r['rate']:,.0f} ent/s "
        f"(errors {r['errors']}, notified meanwhile {r['notified_during_run']:,}), "
        f"API process {r['api_cpu_us_per_entity']} us CPU/entity "
        f"{r['api_thread_cpu_us_per_entity']}, cores: "
        f"server {r['server_cpu_cores']} receiver {r['receiver_cpu_cores']} "
        f"load {r['load_cpu_cores']} other {r['other_cpu_cores']}",
        flush=True,
    )


def measure(tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    none: list[dict[str, Any]] = []
    subs: list[dict[str, Any]] = []
    notify: list[dict[str, Any]] = []
    out: dict[str, Any] = {}
    with running_receiver(tmp) as receiver:
        for run in range(1, args.runs + 1):
            none.append(write_throughput(tmp, receiver, args, subs=False))
            show_flood(run, none[-1])
            subs.append(write_throughput(tmp, receiver, args, subs=True))
            show_flood(run, subs[-1])
            notify.append(notifications(tmp, receiver, args, args.layout))
            show_notify(run, notify[-1])
        if args.variant:
            variant = notifications(tmp, receiver, args, "one-type")
            show_notify(1, variant)
            out["notify_one_type"] = variant
        if args.profile:
            profiler = base.Profiler(args.profile)
            for subs_on in (False, True):
                show_flood(0, write_throughput(tmp, receiver, args, subs_on, profiler))
            prof = notifications(tmp, receiver, args, args.layout, profiler)
            show_notify(0, prof)
            out["profiled_run"] = prof
    ratios = [s["rate"] / n["rate"] for n, s in zip(none, subs, strict=True)]
    out["write_none"] = median_of(none)
    out["write_subs"] = median_of(subs)
    out["write_ratio"] = statistics.median(ratios)
    out["write_ratio_runs"] = ratios
    out["notify"] = median_of(notify)
    return out


def verdict(res: dict[str, Any]) -> dict[str, bool]:
    n = res["notify"]
    return {
        "rate": n["rate"] >= TARGETS["rate"],
        "p99": n["p99_ms"] is not None and n["p99_ms"] < TARGETS["p99_ms"],
        "lost": n["lost"] == 0,
        "write_ratio": res["write_ratio"] >= TARGETS["write_ratio"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 run, 6 s phases, no variant")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0, help="paced load per run")
    parser.add_argument("--flood-seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=5000.0, help="entity updates/s")
    parser.add_argument("--batch", type=int, default=100, help="entities per paced upsert")
    parser.add_argument("--endpoints", type=int, default=1000, help="distinct receiver URLs")
    parser.add_argument("--drain-limit", type=float, default=30.0, help="s to wait after load")
    parser.add_argument("--layout", choices=("types", "one-type"), default="types")
    parser.add_argument("--no-variant", dest="variant", action="store_false")
    parser.add_argument("--profile", type=Path, help="py-spy output directory")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    if args.quick:
        args.runs, args.seconds, args.flood_seconds, args.variant = 1, 6.0, 4.0, False
    results: dict[str, Any] = {"machine": machine(), "config": vars(args).copy()}
    results["config"]["profile"] = str(args.profile) if args.profile else None
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as name:
        results.update(measure(Path(name), args))
    results["wall_s"] = round(time.perf_counter() - t0, 1)
    results["ok"] = verdict(results)
    base.RESULTS.mkdir(exist_ok=True)
    out = args.output or base.RESULTS / f"notify-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=1, default=str))
    n = results["notify"]
    summary = {
        "notify_rate": round(n["rate"]),
        "notify_rate_in_window": round(n["rate_in_window"]),
        "p50_ms": ms(n["p50_ms"]),
        "p99_ms": ms(n["p99_ms"]),
        "lost": n["lost"],
        "duplicates": n["duplicates"],
        "write_none": round(results["write_none"]["rate"]),
        "write_subs": round(results["write_subs"]["rate"]),
        "write_ratio": round(results["write_ratio"], 3),
        "ok": results["ok"],
    }
    print(json.dumps(summary, indent=1))
    print(f"results: {out}")


if __name__ == "__main__":
    main()
