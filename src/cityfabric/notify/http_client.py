"""A lean keep-alive HTTP/1.1 client for notification POSTs to plain http:// endpoints.

httpx costs ~1 ms of CPU per request here (its pool checks every idle connection's
socket on every request, and the request goes through several layers); a notifier
only ever sends one POST with a body and needs the status back. So: asyncio streams,
a small pool of idle connections per origin, the request written in one go with a
Content-Length, and the response read to its end (Content-Length, chunked, or until
close) so the connection can be reused. A reused connection that fails before the
status line arrives (the server closed it while idle) is retried once on a new one:
the worst case is a duplicate, which at-least-once delivery allows.

https:// URLs, and http:// URLs with user info or non-ASCII characters, go through
the given httpx client instead. Errors of either path are `HttpError`, named like
httpx's (ConnectError, ReadTimeout, RemoteProtocolError, ...).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

import httpx

MAX_IDLE_PER_ORIGIN: Final = 64  # all endpoints may share one origin (one receiver)
IDLE_EXPIRY: Final = 30.0  # seconds an idle connection is kept
MAX_HEAD: Final = 64 * 1024  # status line + headers of a response
MAX_BODY: Final = 1024 * 1024  # a response body is read and discarded, up to this


class HttpError(Exception):
    """A request that got no HTTP status: `kind` names it like httpx's exceptions."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind} {detail}".strip())
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True)
class _Target:
    origin: tuple[str, int]
    head: bytes  # b"POST /path HTTP/1.1\r\nHost: ...\r\n"


@dataclass
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = field(default_factory=time.monotonic)

    def usable(self, now: float) -> bool:
        return (
            not self.writer.is_closing()
            and not self.reader.at_eof()
            and now - self.idle_since < IDLE_EXPIRY
        )

    def close(self) -> None:
        self.writer.close()


class _Retry(Exception):
    """A reused connection died before answering: try once more on a new one."""


class HttpClient:
    """POST bytes, get the status: keep-alive pools per origin, httpx for the rest."""

    def __init__(self, fallback: httpx.AsyncClient, max_idle: int = MAX_IDLE_PER_ORIGIN) -> None:
        self.fallback = fallback
        self.max_idle = max_idle
        self._targets: dict[str, _Target | None] = {}  # None: not ours, use httpx
        self._idle: dict[tuple[str, int], list[_Conn]] = {}  # most recently used last
        self._next_sweep = time.monotonic() + IDLE_EXPIRY

    async def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        """POST `body` to `url`; the response status, or HttpError."""
        target = self._target(url)
        if target is None:
            return await self._post_httpx(url, body, headers, timeout)
        request = _request(target, body, headers)
        try:
            async with asyncio.timeout(timeout):
                conn = self._acquire(target.origin)
                if conn is not None:
                    try:
                        return await self._exchange(target.origin, conn, request, reused=True)
                    except _Retry:
                        pass
                conn = await self._connect(target.origin)
                return await self._exchange(target.origin, conn, request, reused=False)
        except TimeoutError:
            raise HttpError("ReadTimeout", f"no answer within {timeout:g} s") from None

    async def aclose(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()

    # -- internals -------------------------------------------------------------------

    def _target(self, url: str) -> _Target | None:
        try:
            return self._targets[url]
        except KeyError:
            pass
        target = _parse(url)
        if len(self._targets) > 10_000:
            self._targets.clear()
        self._targets[url] = target
        return target

    def _acquire(self, origin: tuple[str, int]) -> _Conn | None:
        conns = self._idle.get(origin)
        now = time.monotonic()
        if now > self._next_sweep:
            self._sweep(now)
        while conns:
            conn = conns.pop()
            if conn.usable(now):
                return conn
            conn.close()
        return None

    def _sweep(self, now: float) -> None:
        """Close idle connections that expired or that the server closed."""
        self._next_sweep = now + IDLE_EXPIRY
        for origin, conns in list(self._idle.items()):
            keep = [c for c in conns if c.usable(now)]
            for conn in conns:
                if not conn.usable(now):
                    conn.close()
            if keep:
                self._idle[origin] = keep
            else:
                del self._idle[origin]

    def _release(self, origin: tuple[str, int], conn: _Conn) -> None:
        conns = self._idle.setdefault(origin, [])
        if len(conns) >= self.max_idle:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        conns.append(conn)

    async def _connect(self, origin: tuple[str, int]) -> _Conn:
        try:
            reader, writer = await asyncio.open_connection(origin[0], origin[1], limit=MAX_HEAD)
        except OSError as err:
            raise HttpError("ConnectError", str(err)) from None
        return _Conn(reader, writer)

    async def _exchange(
        self, origin: tuple[str, int], conn: _Conn, request: bytes, reused: bool
    ) -> int:
        released = False
        try:
            try:
                conn.writer.write(request)
                await conn.writer.drain()
                head = await conn.reader.readuntil(b"\r\n\r\n")
            except (OSError, asyncio.IncompleteReadError) as err:
                if reused:
                    raise _Retry from None
                kind = "WriteError" if isinstance(err, OSError) else "RemoteProtocolError"
                raise HttpError(kind, "the server closed the connection") from None
            except asyncio.LimitOverrunError:
                raise HttpError("RemoteProtocolError", "response head too long") from None
            status, keep = await self._read_response(conn, head)
            if keep:
                self._release(origin, conn)
                released = True
            return status
        except (OSError, asyncio.IncompleteReadError) as err:
            raise HttpError("ReadError", str(err) or type(err).__name__) from None
        except asyncio.LimitOverrunError:
            raise HttpError("RemoteProtocolError", "response line too long") from None
        finally:
            if not released:
                conn.close()

    async def _read_response(self, conn: _Conn, head: bytes) -> tuple[int, bool]:
        """Read the rest of the response; (status, whether the connection can be reused)."""
        while True:
            status, version, fields = _parse_head(head)
            if not 100 <= status < 200 or status == 101:
                break
            head = await conn.reader.readuntil(b"\r\n\r\n")  # an interim response: skip
        connection = fields.get(b"connection", b"").lower()
        keep = b"close" not in connection if version == b"HTTP/1.1" else b"keep-alive" in connection
        if status in (204, 304) or 100 <= status < 200:
            return status, keep
        if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
            await _read_chunked(conn.reader)
            return status, keep
        length = fields.get(b"content-length")
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                raise HttpError("RemoteProtocolError", "bad Content-Length") from None
            if size < 0 or size > MAX_BODY:
                raise HttpError("RemoteProtocolError", "bad Content-Length")
            await conn.reader.readexactly(size)
            return status, keep
        await conn.reader.read(MAX_BODY)  # the body ends with the connection
        return status, False

    async def _post_httpx(
        self, url: str, body: bytes, headers: dict[str, str], timeout: float
    ) -> int:
        try:
            response = await self.fallback.post(url, content=body, headers=headers, timeout=timeout)
        except httpx.HTTPError as err:
            raise HttpError(type(err).__name__, str(err)) from None
        return response.status_code


def _parse(url: str) -> _Target | None:
    """How to reach a plain http:// URL; None when httpx should handle it."""
    if not url.isascii() or any(c in url for c in "\r\n\t "):
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() != "http" or not parts.hostname or "@" in parts.netloc:
        return None
    try:
        port = parts.port or 80
    except ValueError:
        return None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    head = f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n".encode("ascii")
    return _Target((parts.hostname, port), head)


def _request(target: _Target, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [target.head]
    for name, value in headers.items():
        line = f"{name}: {value}\r\n".encode()
        if line.count(b"\n") != 1 or b"\r" in line[:-2]:
            raise HttpError("LocalProtocolError", f"invalid header {name!r}")
        lines.append(line)
    lines.append(b"Content-Length: %d\r\n\r\n" % len(body))
    lines.append(body)
    return b"".join(lines)


def _parse_head(head: bytes) -> tuple[int, bytes, dict[bytes, bytes]]:
    """(status, HTTP version, lower-cased header fields) of a response head."""
    lines = head.split(b"\r\n")
    status_line = lines[0].split(b" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/1."):
        raise HttpError("RemoteProtocolError", f"bad status line {lines[0][:80]!r}")
    try:
        status = int(status_line[1])
    except ValueError:
        raise HttpError("RemoteProtocolError", f"bad status line {lines[0][:80]!r}") from None
    fields: dict[bytes, bytes] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            raise HttpError("RemoteProtocolError", "bad header line")
        key = name.strip().lower()
        value = value.strip()
        fields[key] = fields[key] + b", " + value if key in fields else value
    return status, status_line[0], fields


async def _read_chunked(reader: asyncio.StreamReader) -> None:
    total = 0
    while True:
        line = await reader.readuntil(b"\r\n")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise HttpError("RemoteProtocolError", "bad chunk size") from None
        if size == 0:
            break
        total += size
        if total > MAX_BODY:
            raise HttpError("RemoteProtocolError", "response body too long")
        await reader.readexactly(size + 2)
    while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
        pass
