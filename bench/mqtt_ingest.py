"""MQTT ingestion rate of compact device messages, beside Mosquitto's own delivery rate.

    .venv/bin/python bench/mqtt_ingest.py                    # 300,000 messages, 1,000 devices
    .venv/bin/python bench/mqtt_ingest.py --messages 50000 --publishers 2
    .venv/bin/python bench/mqtt_ingest.py --messages 100000 --py-spy ingest.raw

Starts Mosquitto (temporary config, loopback port) and `cityfabric run --mqtt`
on a temporary data folder, provisions the device profiles, then:

1. ceiling: publishes the same number of messages on topics the bridge does not
   subscribe to, and measures how fast Mosquitto delivers them (QoS 1) to a
   plain single-threaded paho subscriber that does nothing with them;
2. ingest: publishes the device messages (QoS 1, pipelined raw-socket
   publishers, `--publishers` processes) and measures from the first publish
   until the store holds every message Mosquitto acknowledged: the last seq of
   every device, and the history count when the temporal API is served.

Publishers, Mosquitto and CityFabric share the machine's cores. `--py-spy FILE`
records the server with py-spy (raw folded stacks, per thread) from the first
publish until the store holds everything, and nothing else.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.server import running_server  # noqa: E402
from tests.mosquitto import running_mosquitto  # noqa: E402


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _utf8(s: str) -> bytes:
    raw = s.encode()
    return struct.pack("!H", len(raw)) + raw


def raw_publish(port: int, client_id: str, messages: list[tuple[str, bytes]]) -> int:
    """Pipelined MQTT 3.1.1 QoS-1 publishing on one socket; returns the PUBACKs received."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    var = _utf8("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 60) + _utf8(client_id)
    sock.sendall(bytes([0x10]) + _varint(len(var)) + var)
    if sock.recv(4)[:1] != b"\x20":
        raise RuntimeError("no CONNACK")
    acked = 0
    cond = threading.Condition()

    def read_acks() -> None:
        nonlocal acked
        pending = b""
        while True:
            data = sock.recv(1 << 16)
            if not data:
                return
            pending += data
            whole = len(pending) // 4 * 4
            pending = pending[whole:]
            with cond:
                acked += whole // 4
                cond.notify_all()
            if acked >= len(messages):
                return

    reader = threading.Thread(target=read_acks, daemon=True)
    reader.start()
    chunk: list[bytes] = []
    for n, (topic, payload) in enumerate(messages):
        var = _utf8(topic) + struct.pack("!H", n % 65535 + 1) + payload
        chunk.append(bytes([0x32]) + _varint(len(var)) + var)
        if len(chunk) == 500:
            with cond:  # keep under 65,535 in flight: packet ids must stay unique
                while n - acked > 30_000:
                    cond.wait()
            sock.sendall(b"".join(chunk))
            chunk = []
    sock.sendall(b"".join(chunk))
    reader.join(120)
    sock.sendall(b"\xe0\x00")
    sock.close()
    return acked


def _publisher(args: tuple[int, str, list[tuple[str, bytes]]]) -> int:
    return raw_publish(*args)


def publish_all(port: int, messages: list[tuple[str, bytes]], processes: int) -> int:
    """Split the messages over publisher processes by device (order per device is kept)."""
    shares: list[list[tuple[str, bytes]]] = [[] for _ in range(processes)]
    for topic, payload in messages:
        shares[hash(topic) % processes].append((topic, payload))
    jobs = [(port, f"bench-pub-{n}", share) for n, share in enumerate(shares)]
    with multiprocessing.Pool(processes) as pool:
        return sum(pool.map(_publisher, jobs))


def device_messages(devices: int, total: int, root: str) -> list[tuple[str, bytes]]:
    return [
        (f"{root}/dev-{i % devices:04d}", orjson.dumps({"seq": i // devices, "p": 1000 + i}))
        for i in range(total)
    ]


def ceiling(port: int, messages: list[tuple[str, bytes]], processes: int) -> float:
    """Messages/s Mosquitto delivers to a plain paho subscriber (QoS 1, auto-ack)."""
    got = 0
    first = last = 0.0

    def on_message(*_: object) -> None:
        nonlocal got, first, last
        got += 1
        last = time.perf_counter()
        if got == 1:
            first = last

    sub = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-ceiling", protocol=paho.MQTTv5)
    sub.on_message = on_message
    sub.connect("127.0.0.1", port)
    sub.subscribe("ceiling/#", qos=1)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not sub.is_connected():
        sub.loop(0.1)
    sub.loop(0.2)
    pub = multiprocessing.Process(target=publish_all, args=(port, messages, processes))
    pub.start()
    deadline = time.monotonic() + 600
    while got < len(messages) and time.monotonic() < deadline:
        sub.loop(0.05)
    pub.join()
    sub.disconnect()
    return got / (last - first) if last > first else 0.0


def in_store(http: httpx.Client, devices: int, per_device: int, history: bool) -> int:
    """How many of the published messages the store holds (history) or proves (last values)."""
    done = 0
    for n in range(devices):
        eid = f"urn:ngsi-ld:BenchMeter:dev-{n:04d}"
        if history:
            r = http.get(
                f"/ngsi-ld/v1/temporal/entities/{eid}",
                params={
                    "attrs": "seq",
                    "aggrMethods": "totalCount",
                    "options": "aggregatedValues",
                    "aggrPeriodDuration": "PT0S",
                },
            )
            series = r.json().get("seq", {}).get("totalCount", []) if r.status_code == 200 else []
            done += min(per_device, sum(int(p[0]) for p in series))
        else:
            r = http.get(f"/ngsi-ld/v1/entities/{eid}", params={"format": "keyValues"})
            if r.status_code == 200 and r.json().get("seq") == per_device - 1:
                done += per_device
    return done


@contextmanager
def recording(pid: int, out: Path | None) -> Iterator[None]:
    """py-spy on `pid` for the duration of the block (nothing when `out` is None)."""
    if out is None:
        yield
        return
    binary = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    spy = subprocess.Popen(
        [binary, "record", "-p", str(pid), "-f", "raw", "--threads", "-r", "200", "-o", str(out)]
    )
    time.sleep(1)  # let it attach before the first publish
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        spy.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--publishers", type=int, default=1)
    parser.add_argument("--py-spy", type=Path, help="record the ingestion with py-spy to FILE")
    args = parser.parse_args()
    per_device = args.messages // args.devices
    total = per_device * args.devices
    with tempfile.TemporaryDirectory() as tmp, running_mosquitto(Path(tmp)) as broker:
        rate_ceiling = ceiling(
            broker.port, device_messages(args.devices, total, "ceiling"), args.publishers
        )
        print(f"Mosquitto -> plain paho subscriber: {rate_ceiling:,.0f} messages/s")
        data = Path(tmp) / "data"
        with (
            running_server(data, extra=("--mqtt", broker.url)) as server,
            httpx.Client(base_url=server.url, timeout=60) as http,
        ):
            profiles = [
                {
                    "deviceId": f"dev-{n:04d}",
                    "entityType": "BenchMeter",
                    "measurements": {"seq": "seq", "p": {"attribute": "power", "unitCode": "WTT"}},
                }
                for n in range(args.devices)
            ]
            assert http.post("/cityfabric/v1/devices", json=profiles).status_code == 201
            messages = device_messages(args.devices, total, "cityfabric/default/devices")
            last = f"urn:ngsi-ld:BenchMeter:dev-{args.devices - 1:04d}"
            with recording(server.process.pid, args.py_spy):
                start = time.perf_counter()
                accepted = publish_all(broker.port, messages, args.publishers)
                published = time.perf_counter() - start
                while True:
                    r = http.get(f"/ngsi-ld/v1/entities/{last}", params={"format": "keyValues"})
                    if r.status_code == 200 and r.json().get("seq") == per_device - 1:
                        break
                    time.sleep(0.02)
                elapsed = time.perf_counter() - start
            history = http.get(f"/ngsi-ld/v1/temporal/entities/{last}").status_code == 200
            held = in_store(http, args.devices, per_device, history)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    print(
        f"accepted by Mosquitto: {accepted:,} of {total:,} in {published:.1f} s "
        f"({accepted / published:,.0f}/s)"
    )
    print(
        f"in the store ({'history count' if history else 'last value per device'}): "
        f"{held:,} of {accepted:,}"
    )
    print(
        f"CityFabric MQTT ingestion: {total / elapsed:,.0f} messages/s "
        f"({total:,} in {elapsed:.1f} s); ceiling {rate_ceiling:,.0f}/s"
    )


if __name__ == "__main__":
    main()
