"""One MQTT 5 connection: a paho client driven by the asyncio loop, with no network thread.

paho's external-loop interface (socket open/close and write-interest callbacks,
`loop_read`/`loop_write`/`loop_misc`) runs on the event loop, so receiving,
batching and acking share one thread. A separate network thread would fight
the loop for the GIL on every packet (its recv calls drop the GIL and wait up
to a switch interval to get it back), which measured 2.5 times slower.

Only the blocking TCP connect runs on a short-lived thread; the socket
callbacks it triggers are handed to the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from cityfabric.ingest.session import BrokerAddress

T = TypeVar("T")
OnMessage = Callable[["Connection", int, int, str, bytes], None]

RECEIVE_MAXIMUM = 10_000  # unacked messages the broker may send us (MQTT 5 flow control)
KEEPALIVE_S = 30
CONNECT_TIMEOUT_S = 15.0
CLOSE_TIMEOUT_S = 5.0


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
        on_message: OnMessage,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.address = address
        self.session_expiry = session_expiry
        self.filters = filters
        self.on_message = on_message
        self.alive = False  # subscribed and not yet lost: acks may be sent
        self.ready: asyncio.Future[bool] = self.loop.create_future()  # session present?
        self.lost: asyncio.Future[str] = self.loop.create_future()
        self._closed: asyncio.Future[None] = self.loop.create_future()
        self._loop_thread = threading.get_ident()
        self._sock: socket.socket | None = None
        self._writing = False
        self._session_present = False
        self._housekeeping: asyncio.Task[None] | None = None
        self.client = self._client(client_id)

    def _client(self, client_id: str) -> paho.Client:
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5,
            manual_ack=True,
            reconnect_on_failure=False,
        )
        if self.address.username is not None:
            client.username_pw_set(self.address.username, self.address.password)
        if self.address.tls:
            client.tls_set()
        client.connect_timeout = CONNECT_TIMEOUT_S
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_want_write
        client.on_socket_unregister_write = self._on_no_write
        return client

    async def open(self) -> bool:
        """Connect, resume the session and subscribe; True when the session was resumed."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.session_expiry
        props.ReceiveMaximum = RECEIVE_MAXIMUM
        host, port = self.address.host, self.address.port
        await in_thread(
            lambda: self.client.connect(
                host, port, KEEPALIVE_S, clean_start=False, properties=props
            )
        )
        self._housekeeping = asyncio.create_task(self._keep_alive(), name="mqtt-keepalive")
        return await asyncio.wait_for(asyncio.shield(self.ready), CONNECT_TIMEOUT_S)

    async def close(self) -> None:
        """Disconnect (acks queued before go out first) and wait for the socket to close."""
        self.alive = False
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
        if self._sock is not None or self.client.socket() is not None:
            self.client.disconnect()
            try:
                await asyncio.wait_for(asyncio.shield(self._closed), CLOSE_TIMEOUT_S)
            except TimeoutError:
                self._drop_socket()
        self.abandon("closed")

    def ack(self, mids: list[int]) -> int:
        """Send PUBACKs, unless this connection is gone (the broker then redelivers)."""
        if not self.alive:
            return 0
        ack = self.client.ack
        for mid in mids:
            ack(mid, 1)
        return len(mids)

    def abandon(self, why: str) -> None:
        """Make `open` fail and `lost` fire (on the loop)."""
        self.alive = False
        if not self.ready.done():
            self.ready.set_exception(ConnectFailed(why))
        if not self.lost.done():
            self.lost.set_result(why)

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(1)
            self.client.loop_misc()

    def _drop_socket(self) -> None:
        sock = self._sock
        if sock is not None:
            self._forget_socket(sock)
            sock.close()

    # paho callbacks: the socket ones may come from the connect thread

    def _on_loop(self, fn: Callable[[], None]) -> None:
        if threading.get_ident() == self._loop_thread:
            fn()
        else:
            with contextlib.suppress(RuntimeError):  # the loop is closed
                self.loop.call_soon_threadsafe(fn)

    def _on_socket_open(self, client: paho.Client, _: Any, sock: Any) -> None:
        def watch() -> None:
            self._sock = sock
            self.loop.add_reader(sock, client.loop_read)

        self._on_loop(watch)

    def _on_socket_close(self, _: paho.Client, __: Any, sock: Any) -> None:
        self._on_loop(lambda: self._forget_socket(sock))

    def _forget_socket(self, sock: Any) -> None:
        with contextlib.suppress(ValueError, OSError):  # the socket may be closed by now
            self.loop.remove_reader(sock)
            self.loop.remove_writer(sock)
        self._writing = False
        self._sock = None
        if not self._closed.done():
            self._closed.set_result(None)
        self.abandon("the connection closed")

    def _on_want_write(self, client: paho.Client, _: Any, sock: Any) -> None:
        if not self._writing:
            self._writing = True
            self._on_loop(lambda: self.loop.add_writer(sock, client.loop_write))

    def _on_no_write(self, _: paho.Client, __: Any, sock: Any) -> None:
        self._writing = False

        def unwatch() -> None:
            with contextlib.suppress(ValueError, OSError):  # the socket may be closed by now
                self.loop.remove_writer(sock)

        self._on_loop(unwatch)

    def _on_connect(
        self, client: paho.Client, _: Any, flags: paho.ConnectFlags, rc: ReasonCode, __: Any
    ) -> None:
        if rc.is_failure:
            self.abandon(f"the broker refused the connection: {rc}")
            return
        self._session_present = flags.session_present
        client.subscribe([(f, SubscribeOptions(qos=1)) for f in self.filters])

    def _on_subscribe(
        self, client: paho.Client, _: Any, __: int, codes: list[ReasonCode], ___: Any
    ) -> None:
        refused = [str(rc) for rc in codes if rc.is_failure]
        if refused:
            self.abandon(f"the broker refused the subscriptions: {', '.join(refused)}")
            client.disconnect()
            return
        self.alive = True
        if not self.ready.done():
            self.ready.set_result(self._session_present)

    def _on_disconnect(self, _: paho.Client, __: Any, ___: Any, rc: ReasonCode, ____: Any) -> None:
        self.abandon(f"disconnected: {rc}")

    def _on_message(self, _: paho.Client, __: Any, msg: paho.MQTTMessage) -> None:
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = "(topic is not UTF-8)"
        self.on_message(self, msg.mid, msg.qos, topic, bytes(msg.payload))


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

    threading.Thread(target=run, name="cityfabric-mqtt-connect", daemon=True).start()
    return await future
