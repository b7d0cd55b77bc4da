"""The MQTT bridge: subscribe with QoS 1, write in batches, ack after the commit.

Delivery is at least once, end to end. The bridge keeps a persistent MQTT 5
session (clean_start false, a session expiry interval, a stable client id)
and acknowledges a message only once the write holding it (or its dead
letter) is committed; so whatever the broker accepted and the bridge did not
ack is redelivered after a crash or a reconnect (duplicates are possible).

The connection (`connection.py`) appends what each socket read held to an
inbox, one chunk of messages per read; a task drains up to `BATCH` messages
at a time into `Ingestor.ingest` (a few batch writes per tenant) and then
writes their PUBACKs, one write per connection. Meanwhile the connection
keeps reading, so the next batch fills up while the previous one commits.

Packet ids belong to a connection, so an ack for a message of a connection
that is gone is simply not sent; the broker redelivers that message on the
new connection. A failed write acks nothing and drops the connection, so the
broker redelivers the batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass

from cityfabric.ingest.connection import CONNECT_TIMEOUT_S, ConnectFailed, Connection
from cityfabric.ingest.mqtt5 import Publish
from cityfabric.ingest.pipeline import Ingestor, Message
from cityfabric.ingest.session import BrokerAddress, backoff_delay
from cityfabric.ingest.topics import subscriptions

log = logging.getLogger("cityfabric.ingest.mqtt")

BATCH = 1000  # messages per drain
LINGER_S = 0.002  # wait this long for more when a drain would be small
STABLE_S = 10.0  # a connection that lasted this long resets the backoff
STOP_TIMEOUT_S = 10.0
Chunk = tuple[Connection, list[Publish]]  # the messages of one read, and where they came from


@dataclass
class BridgeStats:
    received: int = 0
    written: int = 0
    dead: int = 0
    acked: int = 0
    connects: int = 0
    failures: int = 0


class MqttBridge:
    """Subscribes to the ingestion topics and writes what arrives through an `Ingestor`."""

    def __init__(
        self,
        ingestor: Ingestor,
        address: BrokerAddress,
        *,
        client_id: str,
        share_group: str = "cityfabric",
        session_expiry: int = 86_400,
    ) -> None:
        self.ingestor = ingestor
        self.address = address
        self.client_id = client_id
        self.share_group = share_group
        self.session_expiry = session_expiry
        self.stats = BridgeStats()
        self.connected = asyncio.Event()
        self._inbox: deque[Chunk] = deque()
        self._queued = 0  # messages in the inbox
        self._stopping = False
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._conn: Connection | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start connecting (in the background: a broker that is down is retried)."""
        self._tasks = [
            asyncio.create_task(self._supervise(), name="mqtt-supervisor"),
            asyncio.create_task(self._drain(), name="mqtt-drain"),
        ]

    async def stop(self) -> None:
        """Finish the batch being written, ack it, disconnect (the session stays)."""
        self._stopping = True
        self._stop.set()
        self._wake.set()
        supervisor, drainer = self._tasks
        try:
            await asyncio.wait_for(drainer, STOP_TIMEOUT_S)
        except TimeoutError:
            log.warning("MQTT bridge: the last batch did not finish; it will be redelivered")
        if self._conn is not None:
            self._conn.abandon("stopping")
        try:
            await asyncio.wait_for(supervisor, CONNECT_TIMEOUT_S + STOP_TIMEOUT_S)
        except TimeoutError:
            log.warning("MQTT bridge: the connection did not close in time")

    def receive(self, conn: Connection, publishes: list[Publish]) -> None:
        """Called by the connection (on the loop) with the messages of one read."""
        self._inbox.append((conn, publishes))
        self._queued += len(publishes)
        self._wake.set()

    async def _supervise(self) -> None:
        """Connect, and reconnect with exponential backoff and jitter until stopped."""
        attempt = 0
        while not self._stopping:
            since = time.monotonic()
            await self._connection()
            if self._stopping:
                return
            if time.monotonic() - since >= STABLE_S:
                attempt = 0
            delay = backoff_delay(attempt)
            attempt += 1
            log.warning("MQTT bridge: reconnecting to %s in %.1f s", self.address, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    async def _connection(self) -> None:
        """One connection, from connect to loss."""
        conn = Connection(
            self.address,
            client_id=self.client_id,
            session_expiry=self.session_expiry,
            filters=subscriptions(self.share_group),
            on_messages=self.receive,
        )
        self._conn = conn
        try:
            present = await conn.open()
            self.stats.connects += 1
            self.connected.set()
            log.info(
                "MQTT bridge connected to %s as %s (%s session)",
                self.address,
                self.client_id,
                "resumed" if present else "new",
            )
            why = await conn.lost
            if not self._stopping:
                log.warning("MQTT bridge: connection to %s lost: %s", self.address, why)
        except (OSError, ConnectFailed, TimeoutError, ValueError) as err:
            log.warning("MQTT bridge: cannot connect to %s: %s", self.address, err or "timeout")
        finally:
            self.connected.clear()
            await conn.close()

    async def _drain(self) -> None:
        """Write what arrives, a batch at a time; on stop, leave the rest to be redelivered."""
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            while self._queued and not self._stopping:
                if self._queued < BATCH:
                    await asyncio.sleep(LINGER_S)
                await self._process(self._take(BATCH))

    def _take(self, limit: int) -> list[Chunk]:
        """Up to `limit` messages from the inbox, in arrival order."""
        inbox, taken, count = self._inbox, [], 0
        while inbox and count < limit:
            conn, publishes = inbox[0]
            if count + len(publishes) > limit:
                cut = limit - count
                inbox[0] = (conn, publishes[cut:])
                publishes = publishes[:cut]
            else:
                inbox.popleft()
            taken.append((conn, publishes))
            count += len(publishes)
        self._queued -= count
        return taken

    async def _process(self, batch: list[Chunk]) -> None:
        messages = [Message(topic, payload) for _, chunk in batch for topic, payload, _, _ in chunk]
        self.stats.received += len(messages)
        try:
            outcome = await self.ingestor.ingest(messages)
        except Exception:
            # the store failed: ack nothing, and reconnect so the broker redelivers
            self.stats.failures += 1
            log.exception("MQTT bridge: writing %d messages failed; reconnecting", len(messages))
            if self._conn is not None:
                self._conn.abandon("a write failed")
            return
        self.stats.written += outcome.written
        self.stats.dead += outcome.dead
        by_conn: dict[Connection, list[int]] = {}
        for conn, chunk in batch:
            by_conn.setdefault(conn, []).extend([p[2] for p in chunk if p[3]])
        for conn, packet_ids in by_conn.items():
            self.stats.acked += conn.ack(packet_ids)
