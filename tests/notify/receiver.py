"""A notification receiver on 127.0.0.1: a stdlib HTTP(S) server in a thread, stopped on exit."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Receiver:
    url: str
    status: int = 200
    delay: float = 0.0  # seconds each POST takes before it is answered
    calls: int = 0  # every POST, answered 2xx or not
    got: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self, ready: Callable[[list[Received]], bool], timeout: float = 10) -> list[Received]:
        """Wait until `ready(received so far)`; the list, or AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                got = list(self.got)
            if ready(got):
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"receiver got {len(got)} notifications: {got!r:.2000}")
            time.sleep(0.02)

    def entities(self) -> list[dict[str, Any]]:
        with self.lock:
            return [e for r in self.got for e in r.body["data"]]


@contextmanager
def receiver(port: int = 0, tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    """A running receiver; POSTs are recorded and answered with `receiver.status`.

    With `tls` (a server context holding its certificate) it speaks HTTPS.
    """
    rec = Receiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            size = int(self.headers.get("Content-Length") or 0)
            body = orjson.loads(self.rfile.read(size)) if size else None
            time.sleep(rec.delay)
            with rec.lock:
                rec.calls += 1
                if rec.status < 300:
                    rec.got.append(Received(self.path, dict(self.headers.items()), body))
            self.send_response(rec.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    scheme = "http" if tls is None else "https"
    rec.url = f"{scheme}://127.0.0.1:{server.server_address[1]}/notify"
    thread = threading.Thread(target=server.serve_forever, name="test-receiver")
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
