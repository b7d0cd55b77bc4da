"""An acknowledged write survives kill -9 of the process (WAL, synchronous=NORMAL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import cityfabric
from cityfabric.store.base import EntityQuery
from cityfabric.store.sqlite import SqliteStore

WRITER = r"""
import asyncio, sys
from pathlib import Path
from cityfabric.store.sqlite import SqliteStore

async def main() -> None:
    store = SqliteStore(Path(sys.argv[1]))
    await store.open()
    i = 0
    while True:
        batch = [(f"urn:k:{i}:{j}", lambda _, i=i, j=j: {"id": f"urn:k:{i}:{j}", "n": i})
                 for j in range(10)]
        results = await store.apply("t", batch)
        assert all(r.ok for r in results)
        print(i, flush=True)
        i += 1

asyncio.run(main())
"""


def acknowledged_then_killed(path: Path, acks: int) -> int:
    """Run a writer process, kill -9 it after `acks` acknowledged applies; the last ack seen."""
    src = str(Path(cityfabric.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    last = -1
    try:
        for line in proc.stdout:
            last = int(line)
            if last >= acks:
                break
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    return last


async def test_acknowledged_writes_survive_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    last = acknowledged_then_killed(path, acks=200)
    assert last >= 200
    store = SqliteStore(path)
    await store.open()
    try:
        page = await store.query("t", EntityQuery(count=True, limit=0))
        assert page.count is not None and page.count >= (last + 1) * 10
        for i in (0, last // 2, last):
            assert await store.get("t", f"urn:k:{i}:9") == {"id": f"urn:k:{i}:9", "n": i}
    finally:
        await store.close()
