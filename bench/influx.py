"""InfluxDB 1.x (Debian's `influxdb`), started on loopback with a temporary data folder.

The baseline of bench/history.py: the same series written through its HTTP
line protocol and the same aggregates queried with InfluxQL.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

CONFIG = """
reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"
[meta]
  dir = "{root}/meta"
[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  cache-snapshot-write-cold-duration = "5s"
  compact-full-write-cold-duration = "10s"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:{http}"
  log-enabled = false
  max-body-size = 0
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
"""


@dataclass
class Influx:
    url: str
    root: Path
    process: subprocess.Popen[bytes]

    def bytes_on_disk(self) -> int:
        return sum(p.stat().st_size for p in (self.root / "data").rglob("*") if p.is_file()) + sum(
            p.stat().st_size for p in (self.root / "wal").rglob("*") if p.is_file()
        )

    def query(self, client: httpx.Client, q: str) -> dict[str, object]:
        r = client.get(f"{self.url}/query", params={"db": "bench", "q": q, "epoch": "ms"})
        r.raise_for_status()
        body: dict[str, object] = r.json()
        return body


def available() -> bool:
    return shutil.which("influxd") is not None


@contextlib.contextmanager
def running_influx(tmp: Path, http_port: int, rpc_port: int) -> Iterator[Influx]:
    root = Path(tempfile.mkdtemp(prefix="influx-", dir=tmp))
    conf = root / "influxdb.conf"
    conf.write_text(CONFIG.format(root=root, http=http_port, rpc=rpc_port))
    log = (root / "influxd.log").open("wb")
    process = subprocess.Popen(
        ["influxd", "run", "-config", str(conf)], stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{http_port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/ping", timeout=1).status_code == 204:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"influxd did not start: {(root / 'influxd.log').read_text()}")
            time.sleep(0.2)
        httpx.post(f"{url}/query", params={"q": "CREATE DATABASE bench"}).raise_for_status()
        yield Influx(url, root, process)
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()
