"""One MQTT 5 connection on asyncio streams, speaking the codec of `mqtt5.py`.

Everything runs on the event loop: a reader task parses whatever one read
returned (often hundreds of PUBLISH packets) and hands the messages over in
one call; the acks of a batch go out in one write; a keepalive task pings
and notices a silent broker. No thread (a host name is resolved on a
short-lived one), no per-message callback.

CONNECT and SUBSCRIBE go out together (MQTT lets a client send before the
CONNACK), so connecting takes one round trip. Packet ids belong to the
connection they came on: `ack` writes only on its own connection, and only
while it is up; whatever is not acked is redelivered after the reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from cityfabric.ingest.mqtt5 import (
    PINGREQ,
    ConnAck,
    Control,
    Disconnect,
    ProtocolError,
    Publish,
    Refused,
    SubAck,
    decode_packets,
    encode_connect,
    encode_disconnect,
    encode_pubacks,
    encode_subscribe,
)
from cityfabric.ingest.session import BrokerAddress

log = logging.getLogger("cityfabric.ingest.mqtt")
T = TypeVar("T")
OnMessages = Callable[["Connection", list[Publish]], None]

RECEIVE_MAXIMUM = 10_000  # unacked messages the broker may send us (MQTT 5 flow control)
KEEPALIVE_S = 30
CONNECT_TIMEOUT_S = 15.0
CLOSE_TIMEOUT_S = 5.0
READ_SIZE = 256 * 1024  # one read can hold a few thousand small PUBLISH packets
SUBSCRIBE_ID = 1
MALFORMED = 0x81  # DISCONNECT reason code after a packet we could not parse


class ConnectFailed(Exception):
    pass


class Connection:
    """Connect with a persistent session, subscribe with QoS 1, ack on request."""

    def __init__(
        self,
        address: BrokerAddress,
        *,
        client_id: str,
        session_expiry: int,
        filters: list[str],
        on_messages: OnMessages,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.address = address
        self.client_id = client_id
        self.session_expiry = session_expiry
        self.filters = filters
        self.on_messages = on_messages
        self.alive = False  # CONNACK received and not yet lost: acks may be sent
        self.lost: asyncio.Future[str] = self.loop.create_future()
        self._ready: asyncio.Future[bool] = self.loop.create_future()  # session present?
        self._session_present = False
        self._keepalive = KEEPALIVE_S
        self._heard = 0.0  # loop time of the last read
        self._goodbye: bytes | None = None  # the DISCONNECT `close` sends, once connected
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def open(self) -> bool:
        """Connect, resume the session and subscribe; True when the session was resumed."""
        reader, writer = await asyncio.wait_for(self._connect(), CONNECT_TIMEOUT_S)
        self._writer, address = writer, self.address
        writer.write(
            encode_connect(
                self.client_id,
                keepalive=KEEPALIVE_S,
                clean_start=False,
                session_expiry=self.session_expiry,
                receive_maximum=RECEIVE_MAXIMUM,
                username=address.username,
                password=address.password,
            )
            + encode_subscribe(SUBSCRIBE_ID, self.filters, qos=1)
        )
        self._heard = self.loop.time()
        self._tasks = [
            asyncio.create_task(self._read(reader), name="mqtt-read"),
            asyncio.create_task(self._keep_alive(), name="mqtt-keepalive"),
        ]
        waits: list[asyncio.Future[Any]] = [self._ready, self.lost]
        await asyncio.wait(waits, timeout=CONNECT_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
        if self._ready.done():
            return self._ready.result()
        if self.lost.done():
            raise ConnectFailed(self.lost.result())
        raise TimeoutError

    async def close(self) -> None:
        """Say DISCONNECT (acks written before go out first) and close the socket."""
        self.alive = False
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        writer = self._writer
        if writer is not None and not writer.is_closing():
            if self._goodbye is not None:
                writer.write(self._goodbye)
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), CLOSE_TIMEOUT_S)
            except (OSError, TimeoutError):
                writer.transport.abort()
        self.abandon("closed")

    def ack(self, packet_ids: list[int]) -> int:
        """Send PUBACKs in one write, unless this connection is gone (the broker redelivers)."""
        if not self.alive or self._writer is None or not packet_ids:
            return 0
        self._writer.write(encode_pubacks(packet_ids))
        return len(packet_ids)

    def abandon(self, why: str) -> None:
        """Make `open` fail and `lost` fire."""
        self.alive = False
        if not self.lost.done():
            self.lost.set_result(why)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        host, port, tls = self.address.host, self.address.port, self.address.tls
        context = ssl.create_default_context() if tls else None
        failure: OSError = OSError(f"{host} has no address")
        for ip in await resolve(host, port):
            try:
                return await asyncio.open_connection(
                    ip, port, ssl=context, server_hostname=host if tls else None, limit=READ_SIZE
                )
            except OSError as err:
                failure = err
        raise failure

    async def _read(self, reader: asyncio.StreamReader) -> None:
        buffer = bytearray()
        try:
            while True:
                data = await reader.read(READ_SIZE)
                if not data:
                    self.abandon("the broker closed the connection")
                    return
                self._heard = self.loop.time()
                buffer += data
                publishes, controls, used = decode_packets(buffer)
                del buffer[:used]
                if publishes:
                    self.on_messages(self, publishes)
                for packet in controls:
                    self._control(packet)
        except ProtocolError as err:
            self._goodbye = encode_disconnect(MALFORMED)
            self.abandon(f"protocol error: {err}")
        except Refused as err:
            self.abandon(str(err))
        except OSError as err:
            self.abandon(f"the connection failed: {err}")
        except Exception as err:  # a bug here must not leave the bridge connected but deaf
            log.exception("MQTT bridge: reading from the broker failed")
            self.abandon(f"reading failed: {err!r}")

    def _control(self, packet: Control) -> None:
        if isinstance(packet, ConnAck):
            # packet ids are valid from here on: acks may go out even before the SUBACK
            self.alive = not self.lost.done()
            self._goodbye = encode_disconnect()
            self._session_present = packet.session_present
            if packet.server_keepalive is not None:
                self._keepalive = packet.server_keepalive
        elif isinstance(packet, SubAck):
            if packet.packet_id != SUBSCRIBE_ID or len(packet.reason_codes) != len(self.filters):
                raise ProtocolError("a SUBACK that does not answer our SUBSCRIBE")
            if not self._ready.done():
                self._ready.set_result(self._session_present)
        elif isinstance(packet, Disconnect):
            self._goodbye = None  # the client must not answer a DISCONNECT with one
            self.abandon(str(packet))

    async def _keep_alive(self) -> None:
        """PINGREQ every half keepalive; a broker silent for a whole one is gone."""
        while self._keepalive:
            await asyncio.sleep(self._keepalive / 2)
            silent = self.loop.time() - self._heard
            if silent > self._keepalive:
                self.abandon(f"no packet from the broker for {silent:.0f} s")
                return
            if self._writer is not None:
                self._writer.write(PINGREQ)


async def resolve(host: str, port: int) -> list[str]:
    """The addresses of `host`, an IP literal as it is (asyncio would use executor threads)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    infos = await in_thread(lambda: socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def in_thread(fn: Callable[[], T]) -> T:
    """Run a blocking call on a short-lived thread (no executor threads left behind)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if future.done():
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def run() -> None:
        try:
            result: Any = fn()
            ok = True
        except BaseException as err:
            result, ok = err, False
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, ok, result)

    threading.Thread(target=run, name="cityfabric-mqtt-resolve", daemon=True).start()
    return await future
