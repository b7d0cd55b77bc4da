"""The anomaly worker on the demo city: backlog throughput and the cost of an idle cycle.

    .venv/bin/python bench/anomaly.py --days 3            # the demo city at scale 1
    .venv/bin/python bench/anomaly.py --days 0.5 --scale 0.2 --runs 1   # a quick look
    .venv/bin/python bench/anomaly.py --days 3 --keep /tmp/city   # backfill once, reuse it

1. Backfills the demo city (`cityfabric demo --once --backfill DAYS`) into a live
   `cityfabric run` with the worker off (CITYFABRIC_ANOMALY_INTERVAL=0), then stops it.
2. For each run, on a fresh copy of that database, in-process: one `async_cycle()` of a
   worker with the default watch list scores the whole backlog (instances scored per second
   of wall time, results and state written); then `--idle` cycles with nothing new (their
   median time).
Reports the median of the runs; results go to bench/results/anomaly-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import RESULTS, SDM_CONTEXTS, running_server

from cityfabric.analytics.anomaly_config import config_of
from cityfabric.analytics.anomaly_worker import AnomalyWorker
from cityfabric.config import Settings
from cityfabric.ngsild.contexts_store import ContextRegistry
from cityfabric.ngsild.history import HistoryService
from cityfabric.ngsild.service import EntityService
from cityfabric.store.sqlite import SqliteStore


def backfill(tmp: Path, args: argparse.Namespace) -> Path:
    """The demo city's history in a data dir (the server stopped, its WAL checkpointed)."""
    os.environ["CITYFABRIC_ANOMALY_INTERVAL"] = "0"
    with running_server(tmp, "city") as server:
        command = [sys.executable, "-m", "cityfabric", "demo", "--url", server.url, "--once"]
        command += ["--city", args.city, "--scale", str(args.scale), "--backfill", str(args.days)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"demo failed ({done.returncode}):\n{done.stderr}")
        return server.data_dir


async def one_run(data_dir: Path, idle: int) -> dict[str, float]:
    settings = Settings(data_dir=data_dir, context_cache=SDM_CONTEXTS, anomaly_settle=0)
    store = SqliteStore(settings.database_path)
    await store.open()
    contexts = ContextRegistry(settings.context_cache, settings.hosted_contexts_dir)
    entities = EntityService(store)
    worker = AnomalyWorker(entities, HistoryService(store), contexts, config_of(settings))
    try:
        began = time.perf_counter()
        scored = await worker.async_cycle()
        backlog_s = time.perf_counter() - began
        times = []
        for _ in range(idle):
            began = time.perf_counter()
            assert await worker.async_cycle() == 0
            times.append(time.perf_counter() - began)
    finally:
        await worker.async_stop()
        await store.close()
    return {
        "scored": scored,
        "backlog_s": round(backlog_s, 2),
        "instances_per_s": round(scored / backlog_s),
        "idle_cycle_ms": round(statistics.median(times) * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=3.0)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--city", default="tianjin-eco")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle", type=int, default=20)
    parser.add_argument(
        "--keep", type=Path, help="keep the backfilled data dir here (and reuse it)"
    )
    args = parser.parse_args()
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        reused = bool(args.keep and args.keep.exists())
        source = args.keep if args.keep and reused else backfill(Path(tmp), args)
        backfill_s = None if reused else round(time.perf_counter() - began, 1)
        if args.keep and not args.keep.exists():
            shutil.copytree(source, args.keep)
        for n in range(args.runs):
            copy = Path(tmp) / f"run{n}"
            shutil.copytree(source, copy)
            runs.append(asyncio.run(one_run(copy, args.idle)))
            shutil.rmtree(copy)
            print(orjson.dumps(runs[-1]).decode(), flush=True)
    result = {
        "city": args.city,
        "scale": args.scale,
        "days": args.days,
        "backfill_s": backfill_s,  # None: the data dir of --keep was reused
        "runs": runs,
        "median_instances_per_s": statistics.median(r["instances_per_s"] for r in runs),
        "median_idle_cycle_ms": statistics.median(r["idle_cycle_ms"] for r in runs),
        "nproc": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    text = orjson.dumps(result, option=orjson.OPT_INDENT_2)
    (RESULTS / f"anomaly-{stamp}.json").write_bytes(text)
    print(text.decode())


if __name__ == "__main__":
    main()
