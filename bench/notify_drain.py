"""Delivery alone: how fast the notifier drains a backlog, and its CPU per request.

    .venv/bin/python bench/notify_drain.py [--updates 20000] [--runs 3]

The app runs in this process (Starlette TestClient; the store's writer and reader
threads and the delivery worker are the production ones), with bench/notify.py's
1,000 subscriptions (layout `types`, 1,000 endpoint URLs on one receiver process,
bench/notify_receiver.py). Delivery is paused (its pass claims nothing) while
--updates entity updates are written, so they are queued, not sent; then it resumes
with nothing else running. Reported: notification requests/s and entities/s until
the receiver had them all, and this process's CPU per request (all its threads; the
driver only sleeps meanwhile, so that is the notifier's cost). Entities per request
is ~1 (each subscription's rows are sent in one request per pass, like under load).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import notify_load as load
import orjson
import run as base
from fastapi.testclient import TestClient

import notify
from cityfabric.app import create_app
from cityfabric.config import Settings


def _py_spy() -> str:
    found = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if found is None:
        raise SystemExit("py-spy not found on PATH nor beside the Python executable")
    return found


def drain_once(
    tmp: Path, receiver: notify.Receiver, updates: int, run: int, profile: Path | None = None
) -> dict[str, Any]:
    settings = Settings(data_dir=tmp / f"data-{run}", context_cache=base.SDM_CONTEXTS)
    app = create_app(settings)
    ents = load.entity_ids("types")
    with TestClient(app, base_url="http://testserver") as client:
        for start in range(0, len(ents), 1000):
            data = load.body(ents, range(start, min(start + 1000, len(ents))), 0)
            r = client.post(load.UPSERT, content=data, headers=load.HEADERS)
            assert r.status_code in (200, 201, 204), r.text
        for n in range(1000):
            sub = notify.subscription(n, "types", receiver, 1000)
            r = client.post("/ngsi-ld/v1/subscriptions", json=sub, headers=load.HEADERS)
            assert r.status_code == 201, r.text
        delivery = app.state.delivery

        async def paused() -> int:
            return 0

        before = receiver.stats()
        delivery.async_pump = paused  # claim nothing: the rows stay queued
        perm = load.order(len(ents))
        for k in range(updates // 1000):
            members = [perm[(k * 1000 + i) % len(ents)] for i in range(1000)]
            r = client.post(
                load.UPSERT, content=load.body(ents, members, 1 + k), headers=load.HEADERS
            )
            assert r.status_code in (200, 201, 204), r.text
        store = app.state.store
        queued = client.portal.call(store.pending_notifications)  # type: ignore[union-attr]
        time.sleep(0.5)  # let the writer settle
        spy = None
        if profile is not None:  # py-spy on this process while it drains
            cmd = [_py_spy(), "record", "--pid", str(os.getpid()), "--rate", "200"]
            cmd += ["--format", "raw", "--threads", "--nonblocking", "--output", str(profile)]
            spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)  # attached
        t0, c0 = time.perf_counter(), time.process_time()
        del delivery.async_pump  # the class's pass again
        delivery.wake()
        expected = before["entities"] + queued
        while receiver.stats()["entities"] < expected:
            if time.perf_counter() - t0 > 300:
                raise RuntimeError("the backlog did not drain in 300 s")
            time.sleep(0.01)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        after = receiver.stats()
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
    requests = after["requests"] - before["requests"]
    return {
        "queued": queued,
        "requests": requests,
        "wall_s": round(wall, 3),
        "requests_per_s": round(requests / wall, 1),
        "entities_per_s": round(queued / wall, 1),
        "cpu_cores": round(cpu / wall, 2),
        "cpu_us_per_request": round(cpu / requests * 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--profile", type=Path, help="py-spy raw output (one extra drain)")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as name, notify.running_receiver(Path(name)) as rec:
        for run in range(1, args.runs + 1):
            runs.append(drain_once(Path(name), rec, args.updates, run))
            print(f"  run {run}: {runs[-1]}", flush=True)
        if args.profile:
            prof = drain_once(Path(name), rec, args.updates, 0, args.profile)
            print(f"  profiled (not counted): {prof}", flush=True)
            summary = args.profile.with_suffix(".summary.txt")
            summary.write_text(base.summarize_profile(args.profile))
    keys = ("requests_per_s", "entities_per_s", "cpu_cores", "cpu_us_per_request")
    out = {
        "machine": notify.machine(),
        "config": vars(args) | {"output": str(args.output)},
        "runs": runs,
        "median": {k: statistics.median(r[k] for r in runs) for k in keys},
    }
    print(json.dumps(out["median"], indent=1))
    if args.output:
        args.output.write_bytes(orjson.dumps(out, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
