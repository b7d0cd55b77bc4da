"""Publishing notifications to MQTT brokers: one MQTT 5 connection per broker, reused.

A connection is opened on first use (clean start, no session kept) and shared by
every subscription that names the same scheme, host, port and credentials; it is
dropped on any error and opened again by the next publish. `mqtts://` connects with
TLS (port 8883 by default), checking the broker's certificate and host name against
the SSL context given (the system's CA store, or CITYFABRIC_NOTIFICATION_CA_FILE).

QoS 1 publishes wait for the broker's PUBACK, QoS 2 ones for PUBREC, answered with
PUBREL, then PUBCOMP: a notification counts as delivered only once the broker has
it. A reader task per connection settles acknowledgements and a pinger keeps it alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import ssl
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote, urlsplit

from cityfabric.ingest import mqtt5

KEEPALIVE: Final = 60  # seconds; a PINGREQ goes out every half of it
DEFAULT_PORT: Final = 1883
DEFAULT_TLS_PORT: Final = 8883
# QoS 1 and 2 publishes in flight per connection: Mosquitto's default Receive Maximum
IN_FLIGHT: Final = 20
PUBACK, PUBREC, PUBCOMP = 0x40, 0x50, 0x70  # first bytes of the acknowledgements
PUBREL: Final = 0x62


class MqttError(Exception):
    """A notification could not be published; the message is the failure reason."""


@dataclass(frozen=True)
class Target:
    """Where an mqtt:// or mqtts:// endpoint publishes: a broker, credentials, a topic."""

    host: str
    port: int
    username: str | None
    password: str | None
    topic: str
    tls: bool = False

    @property
    def broker(self) -> Broker:
        return self.tls, self.host, self.port, self.username, self.password

    def __str__(self) -> str:
        scheme = "mqtts" if self.tls else "mqtt"
        return f"{scheme}://{self.host}:{self.port}/{self.topic}"  # without the credentials


Broker = tuple[bool, str, int, str | None, str | None]


def parse_target(uri: str) -> Target:
    """The broker and topic of an mqtt:// or mqtts:// URI."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme not in ("mqtt", "mqtts"):
        raise MqttError(f"{parts.scheme}:// is not an MQTT endpoint")
    tls = scheme == "mqtts"
    user = None if parts.username is None else unquote(parts.username)
    password = None if parts.password is None else unquote(parts.password)
    topic = unquote(parts.path[1:])
    port = parts.port or (DEFAULT_TLS_PORT if tls else DEFAULT_PORT)
    return Target(parts.hostname or "", port, user, password, topic, tls)


class _Connection:
    """One MQTT 5 session with a broker: publishes, PUBACKs and keepalive pings."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._pending: dict[int, asyncio.Future[int]] = {}
        self._ids = itertools.cycle(range(1, 0x10000))
        self._slots = asyncio.Semaphore(IN_FLIGHT)
        self.error: str | None = None
        self._tasks = (
            asyncio.create_task(self._async_read(reader), name="cityfabric-mqtt-out-read"),
            asyncio.create_task(self._async_ping(), name="cityfabric-mqtt-out-ping"),
        )

    async def async_publish(self, packet: bytes, packet_id: int, timeout: float) -> None:
        """Send one PUBLISH; for QoS 1 and 2 (`packet_id` set), wait until the broker has it."""
        if not packet_id:
            await self._async_write(packet)
            return
        done = asyncio.get_running_loop().create_future()
        self._pending[packet_id] = done
        try:
            await self._async_write(packet)
            code = await asyncio.wait_for(done, timeout)
        except TimeoutError:
            self.fail(f"no acknowledgement within {timeout:g} s")
            raise MqttError(f"no acknowledgement within {timeout:g} s") from None
        finally:
            self._pending.pop(packet_id, None)
        if code >= 0x80:
            raise MqttError(f"the broker refused the message: {mqtt5.reason_name(code)}")

    def next_id(self) -> int:
        return next(i for i in self._ids if i not in self._pending)

    @property
    def slots(self) -> asyncio.Semaphore:
        return self._slots

    async def _async_write(self, data: bytes) -> None:
        if self.error is not None:
            raise MqttError(self.error)
        try:
            self._writer.write(data)
            await self._writer.drain()
        except OSError as err:
            self.fail(f"{type(err).__name__} {err}".strip())
            raise MqttError(self.error or "connection lost") from err

    async def _async_read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                first, body = await read_packet(reader)
                if first in (PUBACK, PUBREC, PUBCOMP) and len(body) >= 2:
                    self._acknowledged(first, body)
                elif first == 0xE0:
                    self.fail(str(mqtt5.decode_packets(_frame(first, body)).controls[0]))
                    return
                elif first != 0xD0:  # PINGRESP is all we expect besides
                    self.fail(f"unexpected MQTT packet type {first >> 4}")
                    return
        except (OSError, asyncio.IncompleteReadError, mqtt5.ProtocolError) as err:
            self.fail(f"connection lost: {type(err).__name__} {err}".strip())

    def _acknowledged(self, first: int, body: bytes) -> None:
        """PUBACK and PUBCOMP settle a publish; a successful PUBREC is answered with PUBREL."""
        code = body[2] if len(body) > 2 else 0  # packet id, then the reason code
        if first == PUBREC and code < 0x80:
            self._writer.write(bytes((PUBREL, 2)) + body[:2])
            return
        found = self._pending.get(int.from_bytes(body[:2], "big"))
        if found is not None and not found.done():
            found.set_result(code)

    async def _async_ping(self) -> None:
        while self.error is None:
            await asyncio.sleep(KEEPALIVE / 2)
            with contextlib.suppress(MqttError):
                await self._async_write(mqtt5.PINGREQ)

    def fail(self, reason: str) -> None:
        """Mark the connection dead and fail every publish waiting on it."""
        if self.error is None:
            self.error = reason
        for future in self._pending.values():
            if not future.done():
                future.set_exception(MqttError(reason))
        self._writer.close()

    async def async_close(self) -> None:
        with contextlib.suppress(OSError):
            if self.error is None:
                self._writer.write(mqtt5.encode_disconnect())
        self.fail("closed")
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()


async def read_packet(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """(first byte, body) of the next whole packet on `reader`."""
    first = (await reader.readexactly(1))[0]
    header = bytearray()
    while True:
        header += await reader.readexactly(1)
        found = mqtt5.decode_varint(header, 0, len(header))
        if found is not None:
            return first, await reader.readexactly(found[0])


def _frame(first: int, body: bytes) -> bytes:
    return bytes([first]) + mqtt5.encode_varint(len(body)) + body


def publish_packet(
    target: Target,
    payload: bytes,
    qos: int,
    packet_id: int,
    *,
    content_type: str,
    user_properties: Sequence[tuple[str, str]],
) -> bytes:
    """A PUBLISH packet; QoS 2 differs from QoS 1 only in the QoS bits of the first byte."""
    packet = mqtt5.encode_publish(
        target.topic,
        payload,
        qos=min(qos, 1),
        packet_id=packet_id,
        content_type=content_type,
        user_properties=user_properties,
    )
    if qos != 2:
        return packet
    return bytes(((packet[0] & 0xF9) | (qos << 1),)) + packet[1:]


async def _async_connect(target: Target, timeout: float, tls: ssl.SSLContext | None) -> _Connection:
    context = (tls or ssl.create_default_context()) if target.tls else None
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(
            target.host,
            target.port,
            ssl=context,
            server_hostname=target.host if context is not None else None,
        ),
        timeout,
    )
    try:
        writer.write(
            mqtt5.encode_connect(
                f"cityfabric-notify-{uuid.uuid4().hex[:16]}",
                keepalive=KEEPALIVE,
                clean_start=True,
                session_expiry=0,
                receive_maximum=1,  # we never subscribe: nothing is sent to us
                username=target.username,
                password=target.password,
            )
        )
        first, body = await asyncio.wait_for(read_packet(reader), timeout)
        control = mqtt5.decode_packets(_frame(first, body)).controls
        if not control or not isinstance(control[0], mqtt5.ConnAck):
            raise MqttError(f"the broker answered CONNECT with packet type {first >> 4}")
    except BaseException:
        writer.close()
        raise
    return _Connection(reader, writer)


class MqttPublisher:
    """Publishes to any number of brokers, one reused connection each.

    `tls` checks the certificates of mqtts:// brokers (default: the system's CA store).
    """

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self._tls = tls
        self._connections: dict[Broker, _Connection] = {}
        self._locks: dict[Broker, asyncio.Lock] = {}

    async def async_publish(
        self,
        uri: str,
        payload: bytes,
        *,
        qos: int,
        timeout: float,
        content_type: str,
        user_properties: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Publish `payload` to the endpoint's topic; raises `MqttError` with the reason."""
        target = parse_target(uri)
        try:
            conn = await self._async_connection(target, timeout)
            async with conn.slots:
                packet_id = conn.next_id() if qos else 0
                packet = publish_packet(
                    target,
                    payload,
                    qos,
                    packet_id,
                    content_type=content_type,
                    user_properties=user_properties,
                )
                await conn.async_publish(packet, packet_id, timeout)
        except MqttError as err:
            raise MqttError(f"{target}: {err}") from err
        except (OSError, TimeoutError, ValueError, mqtt5.ProtocolError, mqtt5.Refused) as err:
            raise MqttError(f"{target}: {type(err).__name__} {err}".strip()) from err

    async def _async_connection(self, target: Target, timeout: float) -> _Connection:
        key = target.broker
        async with self._locks.setdefault(key, asyncio.Lock()):
            conn = self._connections.get(key)
            if conn is not None and conn.error is None:
                return conn
            if conn is not None:
                await conn.async_close()
            conn = self._connections[key] = await _async_connect(target, timeout, self._tls)
            return conn

    async def async_close(self) -> None:
        """Disconnect from every broker."""
        connections = list(self._connections.values())
        self._connections.clear()
        for conn in connections:
            await conn.async_close()
