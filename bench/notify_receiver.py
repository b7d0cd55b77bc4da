"""A minimal, fast HTTP/1.1 notification receiver for bench/notify.py (its own process).

    .venv/bin/python bench/notify_receiver.py --port 8765

Raw `asyncio.Protocol` on uvloop (when installed), keep-alive, bodies framed by
Content-Length (what httpx sends). Every POST is answered `200` with an empty body
straight away; for an NGSI-LD Notification it records, per entity in `data`, the
receipt time (`time.time()` when the whole request had arrived), the entity id and the
value of its `seq` attribute (normalized or keyValues form).

Control paths, for the benchmark driver:
    GET  /_stats          {"requests": n, "entities": n, "measured": n, "bad": n}
                          (measured: entities with seq < 1,000,000, the measured batches)
    POST /_dump           body: a file path; writes the records there as JSON and clears them
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import orjson

MEASURED = 1_000_000  # seq values of measured batches are below this
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


class Records:
    """What arrived: one receipt time per request, (id, seq, index of that time) per entity."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.times: list[float] = []
        self.ids: list[str] = []
        self.seqs: list[int] = []
        self.at: list[int] = []
        self.paths: dict[str, int] = {}
        self.bad = 0
        self.measured = 0  # entities with seq < MEASURED (not warm-up or flood ones)

    def add(self, path: str, body: bytes, now: float) -> None:
        self.paths[path] = self.paths.get(path, 0) + 1
        try:
            data = orjson.loads(body)["data"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self.bad += 1
            return
        k = len(self.times)
        self.times.append(now)
        for ent in data:
            self.ids.append(ent["id"])
            seq = seq_of(ent)
            self.seqs.append(seq)
            self.measured += 0 <= seq < MEASURED
            self.at.append(k)

    def stats(self) -> bytes:
        return orjson.dumps(
            {
                "requests": len(self.times),
                "entities": len(self.ids),
                "measured": self.measured,
                "bad": self.bad,
            }
        )

    def dump(self, path: Path) -> None:
        doc = {
            "times": self.times,
            "ids": self.ids,
            "seqs": self.seqs,
            "at": self.at,
            "paths": self.paths,
            "bad": self.bad,
        }
        path.write_bytes(orjson.dumps(doc))
        self.clear()


def seq_of(ent: dict[str, Any]) -> int:
    """The `seq` value of a rendered entity, normalized (`{"value": n}`) or keyValues."""
    value = ent.get("seq", -1)
    if isinstance(value, dict):
        value = value.get("value", -1)
    return int(value)


class Receiver(asyncio.Protocol):
    """One connection: parse pipelined HTTP/1.1 requests, answer each at once."""

    def __init__(self, records: Records) -> None:
        self.records = records
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while self._one():
            pass

    def _one(self) -> bool:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self.buf[:end]).decode("latin-1")
        lines = head.split("\r\n")
        method, path = lines[0].split(" ")[:2]
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if len(self.buf) < end + 4 + length:
            return False
        body = bytes(self.buf[end + 4 : end + 4 + length])
        del self.buf[: end + 4 + length]
        self._answer(method, path, body)
        return True

    def _answer(self, method: str, path: str, body: bytes) -> None:
        assert self.transport is not None
        if path == "/_stats":
            payload = self.records.stats()
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(payload)).encode()
                + b"\r\n\r\n"
                + payload
            )
            return
        if path == "/_dump":
            self.records.dump(Path(body.decode()))
            self.transport.write(OK)
            return
        now = time.time()
        self.transport.write(OK)
        if method == "POST":
            self.records.add(path, body, now)


async def serve(host: str, port: int) -> None:
    records = Records()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Receiver(records), host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        uvloop = None
    with contextlib.suppress(KeyboardInterrupt):
        if uvloop is not None:
            uvloop.run(serve(args.host, args.port))
        else:
            asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
