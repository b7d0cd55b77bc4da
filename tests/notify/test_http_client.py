"""The lean notification HTTP client against scripted raw HTTP/1.1 servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest

from cityfabric.notify.http_client import HttpClient, HttpError, _parse
from tests.notify.receiver import receiver

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"

Answer = Callable[[int, bytes], bytes | None]  # (request number, request) -> response or None


@dataclass
class Server:
    url: str
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + await reader.readexactly(length)


@asynccontextmanager
async def serve(
    answer: Answer, close_after: bool = False, delay: float = 0.0
) -> AsyncIterator[Server]:
    """A raw server: `answer` scripts each response (None: close without one)."""
    srv = Server("")
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        srv.connections += 1
        writers.append(writer)
        try:
            while True:
                try:
                    request = await _read_request(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                srv.requests.append(request)
                response = answer(len(srv.requests), request)
                if delay:
                    await asyncio.sleep(delay)
                if response is None:
                    return
                writer.write(response)
                await writer.drain()
                if close_after:
                    return
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    srv.url = f"http://127.0.0.1:{port}/notify/7?x=1"
    try:
        yield srv
    finally:
        server.close()
        for w in writers:
            w.close()
        await server.wait_closed()


@asynccontextmanager
async def client() -> AsyncIterator[HttpClient]:
    fallback = httpx.AsyncClient(trust_env=False)
    c = HttpClient(fallback)
    try:
        yield c
    finally:
        await c.aclose()
        await fallback.aclose()


HEADERS = {"Content-Type": "application/json", "NGSILD-Tenant": "t1"}


async def test_keep_alive_reuses_one_connection() -> None:
    async with serve(lambda _n, _r: OK) as srv, client() as c:
        for i in range(5):
            assert await c.post(srv.url, b'{"n": %d}' % i, HEADERS, 5) == 200
    assert srv.connections == 1
    assert len(srv.requests) == 5
    first = srv.requests[0]
    assert first.startswith(b"POST /notify/7?x=1 HTTP/1.1\r\n")
    assert b"\r\nHost: 127.0.0.1:" in first
    assert b"\r\nNGSILD-Tenant: t1\r\n" in first
    assert b"\r\nContent-Length: 8\r\n\r\n" in first
    assert first.endswith(b'{"n": 0}')


async def test_concurrent_requests_open_more_connections_then_reuse_them() -> None:
    async with serve(lambda _n, _r: OK, delay=0.05) as srv, client() as c:
        got = await asyncio.gather(*(c.post(srv.url, b"{}", HEADERS, 5) for _ in range(4)))
        assert got == [200] * 4
        assert srv.connections == 4
        await asyncio.gather(*(c.post(srv.url, b"{}", HEADERS, 5) for _ in range(4)))
    assert srv.connections == 4


async def test_connection_close_header_is_honoured() -> None:
    close = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
    async with serve(lambda _n, _r: close, close_after=True) as srv, client() as c:
        for _ in range(3):
            assert await c.post(srv.url, b"{}", HEADERS, 5) == 200
    assert srv.connections == 3


async def test_server_closing_an_idle_connection_is_retried_on_a_new_one() -> None:
    # the server drops the kept-alive connection when the second request arrives on it
    def answer(n: int, _r: bytes) -> bytes | None:
        return None if n == 2 else OK

    async with serve(answer) as srv, client() as c:
        assert await c.post(srv.url, b"{}", HEADERS, 5) == 200
        assert await c.post(srv.url, b"{}", HEADERS, 5) == 200
    assert srv.connections == 2
    assert len(srv.requests) == 3  # the lost one was sent again


async def test_server_closed_while_idle() -> None:
    async with serve(lambda _n, _r: OK, close_after=True) as srv, client() as c:
        assert await c.post(srv.url, b"{}", HEADERS, 5) == 200
        await asyncio.sleep(0.05)  # the close reaches the idle connection
        assert await c.post(srv.url, b"{}", HEADERS, 5) == 200
    assert srv.connections == 2
    assert len(srv.requests) == 2


async def test_a_fresh_connection_closed_without_answer_is_an_error() -> None:
    async with serve(lambda _n, _r: None) as srv, client() as c:
        with pytest.raises(HttpError) as err:
            await c.post(srv.url, b"{}", HEADERS, 5)
    assert err.value.kind == "RemoteProtocolError"


async def test_chunked_response_is_read_and_the_connection_reused() -> None:
    chunked = (
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"
    )
    async with serve(lambda _n, _r: chunked) as srv, client() as c:
        assert await c.post(srv.url, b"{}", HEADERS, 5) == 201
        assert await c.post(srv.url, b"{}", HEADERS, 5) == 201
    assert srv.connections == 1


async def test_interim_response_and_body_with_content_length() -> None:
    response = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
    async with serve(lambda _n, _r: response) as srv, client() as c:
        assert await c.post(srv.url, b"{}", HEADERS, 5) == 200
        assert await c.post(srv.url, b"{}", HEADERS, 5) == 200
    assert srv.connections == 1


async def test_body_until_close_without_length() -> None:
    response = b"HTTP/1.1 200 OK\r\n\r\nsome body"
    async with serve(lambda _n, _r: response, close_after=True) as srv, client() as c:
        assert await c.post(srv.url, b"{}", HEADERS, 5) == 200
        assert await c.post(srv.url, b"{}", HEADERS, 5) == 200
    assert srv.connections == 2


async def test_non_2xx_status_is_returned() -> None:
    error = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy"
    async with serve(lambda _n, _r: error) as srv, client() as c:
        assert await c.post(srv.url, b"{}", HEADERS, 5) == 503
        assert await c.post(srv.url, b"{}", HEADERS, 5) == 503
    assert srv.connections == 1


async def test_timeout_closes_the_connection() -> None:
    async with serve(lambda _n, _r: OK, delay=1.0) as srv, client() as c:
        with pytest.raises(HttpError) as err:
            await c.post(srv.url, b"{}", HEADERS, 0.1)
        assert err.value.kind == "ReadTimeout"
        assert c._idle.get(("127.0.0.1", int(srv.url.split(":")[2].split("/")[0]))) in (None, [])


async def test_bad_status_line_is_a_protocol_error() -> None:
    async with serve(lambda _n, _r: b"garbage\r\n\r\n") as srv, client() as c:
        with pytest.raises(HttpError) as err:
            await c.post(srv.url, b"{}", HEADERS, 5)
    assert err.value.kind == "RemoteProtocolError"


async def test_connect_error() -> None:
    server = await asyncio.start_server(lambda _r, _w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    async with client() as c:
        with pytest.raises(HttpError) as err:
            await c.post(f"http://127.0.0.1:{port}/x", b"{}", HEADERS, 5)
    assert err.value.kind == "ConnectError"


async def test_header_injection_is_refused() -> None:
    async with serve(lambda _n, _r: OK) as srv, client() as c:
        with pytest.raises(HttpError):
            await c.post(srv.url, b"{}", {"X-A": "1\r\nX-B: 2"}, 5)
    assert srv.requests == []


async def test_http_1_0_server_from_the_test_receiver() -> None:
    with receiver() as rec:
        async with client() as c:
            assert await c.post(rec.url, b'{"data": []}', HEADERS, 5) == 200
            rec.status = 404
            assert await c.post(rec.url, b'{"data": []}', HEADERS, 5) == 404
    assert rec.calls == 2
    assert rec.got[0].headers["NGSILD-Tenant"] == "t1"


def test_only_plain_http_is_handled_directly() -> None:
    assert _parse("http://example.org/a") is not None
    assert _parse("http://example.org:8080") is not None
    assert _parse("https://example.org/a") is None
    assert _parse("http://user:pw@example.org/a") is None
    assert _parse("http://exämple.org/a") is None
    target = _parse("http://[::1]:9000/p?q=1")
    assert target is not None
    assert target.origin == ("::1", 9000)
    assert target.head == b"POST /p?q=1 HTTP/1.1\r\nHost: [::1]:9000\r\n"


async def test_sweep_closes_idle_connections_the_server_closed() -> None:
    async with serve(lambda _n, _r: OK, close_after=True) as srv, client() as c:
        assert await c.post(srv.url, b"{}", HEADERS, 5) == 200
        assert sum(len(v) for v in c._idle.values()) == 1
        await asyncio.sleep(0.05)
        c._next_sweep = 0.0
        assert c._acquire(("127.0.0.1", 1)) is None
        assert c._idle == {}
