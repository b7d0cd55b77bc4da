"""Backfill the demo port city into a live CityFabric and time it (issue 5's target).

    .venv/bin/python bench/demo_backfill.py              # 30 simulated days at scale 1
    .venv/bin/python bench/demo_backfill.py --days 3     # shorter; the report extrapolates

Starts `cityfabric run` like bench/run.py (free loopback port, fresh data dir), then runs
`cityfabric demo --once --city tianjin-eco --backfill DAYS` in its own process, so the
simulator and the server each have their own interpreter, exactly as a user would. Reports
simulated days per wall-clock minute, the write rate (history instances per second) and
the time a 30-day backfill takes at that pace, and the CPU seconds the server, the demo
and everything else on the machine (other jobs) used meanwhile. Results go to
bench/results/.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import RESULTS, running_server

from cityfabric.demo.runner import start_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--city", default="tianjin-eco")
    args = parser.parse_args()
    host = {"nproc": os.cpu_count(), "load_average_at_start": _load()}
    with tempfile.TemporaryDirectory() as tmp, running_server(Path(tmp), "demo") as server:
        command = [sys.executable, "-m", "cityfabric", "demo", "--url", server.url, "--once"]
        command += ["--city", args.city, "--scale", str(args.scale), "--backfill", str(args.days)]
        busy, server_cpu, demo_cpu = _machine_cpu(), server.cpu_seconds(), _children_cpu()
        began = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        total = time.perf_counter() - began
        cpu = {
            "server": server.cpu_seconds() - server_cpu,
            "demo": _children_cpu() - demo_cpu,
            "machine": _machine_cpu() - busy,
        }
    if done.returncode != 0:
        sys.exit(f"demo failed ({done.returncode}):\n{done.stderr}")
    found = re.search(r"backfill: ([\d,]+) instances in ([\d.]+) s", done.stderr)
    if found is None:
        sys.exit(f"no backfill line in the demo's output:\n{done.stderr}")
    instances = int(found[1].replace(",", ""))
    backfill_s = float(found[2])
    now = datetime.now(UTC)
    simulated = (now - start_of(now, args.days)).total_seconds() / 86400
    per_minute = simulated / (backfill_s / 60)
    result = {
        "city": args.city,
        "scale": args.scale,
        "simulated_days": round(simulated, 2),
        "instances": instances,
        "backfill_s": round(backfill_s, 1),
        "wall_s_with_setup": round(total, 1),
        "simulated_days_per_minute": round(per_minute, 2),
        "instances_per_s": round(instances / backfill_s),
        "minutes_for_30_days": round(30 / per_minute, 1),
        # CPU seconds over the whole demo run (set-up included), of the 2 cores x wall time
        "cpu_s": {
            "server": round(cpu["server"], 1),
            "demo": round(cpu["demo"], 1),
            "other_jobs": round(max(0.0, cpu["machine"] - cpu["server"] - cpu["demo"]), 1),
            "available": round(total * (os.cpu_count() or 1), 1),
        },
        "machine": {**host, "load_average_at_end": _load()},
    }
    RESULTS.mkdir(exist_ok=True)
    stamp = now.strftime("%Y%m%dT%H%M%S")
    (RESULTS / f"demo-backfill-{stamp}.json").write_bytes(
        orjson.dumps(result, option=orjson.OPT_INDENT_2)
    )
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _children_cpu() -> float:
    """CPU seconds of the finished child processes (the demo, once it has exited)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _machine_cpu() -> float:
    """CPU seconds the whole machine has been busy (all processes, all cores)."""
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0.0))


if __name__ == "__main__":
    main()
