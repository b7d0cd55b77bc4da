"""Notification delivery in a process of its own, so that it has a core of its own.

The API process records each group of changes in the outbox, inside the transaction of
the changes (`matcher.Recorder`, in its writer); the rows go in already claimed, and
after the commit it hands them to the delivery process over a socket pair
(`base.Push`). The delivery process runs `Delivery`: it matches, renders and sends,
which is nearly all of notification's CPU. The few store calls delivery makes (claim,
settle, read subscriptions) it asks the API process to run on its store, so there is
one writer to the database and nothing to contend for its lock. Event streams are held
by the API process too: it tells the delivery process which subscriptions have one
open, and the delivery process sends their notifications back.

Frames, both ways: one byte of kind, four bytes of payload length, the payload.

  API → delivery   W  commit queued rows to claim (empty)
                   P  commit queued rows claimed for the delivery process: pickle of
                      them as plain tuples (OutboxItem fields)
                   O  a stream opened: tenant NUL subscription id
                   C  the last stream of a subscription closed: same
                   A  the answer to a store call: call no. (8 bytes), ok (1 byte),
                      pickle of the value or the error
                   X  stop: settle what was sent, then close the socket
  delivery → API   R  ready: delivering (empty)
                   S  a store call: pickle of (call no., method name, arguments)
                   N  tenant NUL subscription id NUL Notification JSON

Pickle is safe here: both ends are this program, over a socket pair nobody else holds.

When the API process dies (even by SIGKILL) the delivery process reads end-of-file and
exits; rows it had claimed and not settled come back when their lease ends. When the
delivery process dies, the API process starts another one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import struct
from collections.abc import Callable
from typing import Any, Final

from cityfabric import heap
from cityfabric.config import Settings
from cityfabric.notify.clock import iso, system_clock
from cityfabric.notify.delivery import Delivery, NotifyStore, tls_context
from cityfabric.notify.matcher import Recorder
from cityfabric.notify.stream import Key, Streams
from cityfabric.parts import delivery_config
from cityfabric.store.base import (
    ChangeHook,
    OutboxItem,
    Push,
    Settlement,
    SubscriptionCounters,
)

log = logging.getLogger(__name__)

HEADER: Final = struct.Struct("!cI")
ANSWER_HEAD: Final = struct.Struct("!Q?")
ORPHAN_CHECK: Final = 1.0  # seconds between the delivery process's looks at its parent
WAKE, PUSHED, OPENED, CLOSED, ANSWER, STOP = b"W", b"P", b"O", b"C", b"A", b"X"
READY, STORE_CALL, NOTIFICATION = b"R", b"S", b"N"
# the store methods `Delivery` calls, which the delivery process may ask for
STORE_METHODS: Final = frozenset(
    (
        "due_notifications",
        "settle_notifications",
        "get_subscription",
        "subscriptions_version",
        "list_subscriptions",
    )
)
RESTART_DELAY: Final = 1.0  # seconds before a dead delivery process is replaced
START_WAIT: Final = 60.0  # seconds a new delivery process gets to say it is ready
UNSENT_MAX: Final = 100_000  # rows kept for the next delivery process while none runs
STOP_WAIT: Final = 15.0  # seconds the delivery process gets to settle what it sent


def frame(kind: bytes, *parts: bytes) -> bytes:
    payload = b"\0".join(parts)
    return HEADER.pack(kind, len(payload)) + payload


async def read_frame(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """The next frame's kind and payload; IncompleteReadError at the end."""
    kind, size = HEADER.unpack(await reader.readexactly(HEADER.size))
    return kind, await reader.readexactly(size)


def parts(payload: bytes, count: int) -> list[str]:
    return [p.decode() for p in payload.split(b"\0", count - 1)]


class DeliveryProcess:
    """The API process's side: matches writes, wakes the delivery process, runs its store
    calls, feeds the streams."""

    def __init__(self, store: NotifyStore, settings: Settings) -> None:
        tls_context(settings.notification_ca_file)  # a bad CA file stops the start here
        self.store = store
        self.settings = settings
        self.streams = Streams(self.stream_changed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._calls: set[asyncio.Task[None]] = set()
        self._wake_sent = False  # a W frame is on its way: later commits need no other
        self._unsent: list[OutboxItem] = []  # handed over while no delivery process ran
        self._stopping = False

    async def async_start(self) -> None:
        """Start the delivery process, wait until it delivers, match every write from now on."""
        self._loop = asyncio.get_running_loop()
        ready = asyncio.Event()
        self._keeper = asyncio.create_task(self._keep(ready), name="cityfabric-notify-proc")
        try:
            await asyncio.wait_for(ready.wait(), START_WAIT)
        except TimeoutError:
            await self.async_stop()
            raise RuntimeError(
                f"the notification delivery process did not start within {START_WAIT:.0f} s"
            ) from None
        lease_ms = delivery_config(self.settings).lease_ms
        push = Push(lambda: int(system_clock() * 1000) + lease_ms, self.hand)
        self.store.set_change_hook(Recorder(lambda: iso(system_clock())), self.wake, push)

    async def async_stop(self) -> None:
        """Stop matching; the delivery process settles what it has sent and exits."""
        self._stopping = True
        self.store.set_change_hook(None)
        self._send(frame(STOP))
        if self._keeper is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._keeper), STOP_WAIT)
        except TimeoutError:  # end-of-file makes it exit, or `_finish` ends it
            if self._writer is not None:
                self._writer.close()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper

    def wake(self) -> None:
        """Called from the writer thread after a commit that queued notifications."""
        if self._loop is not None and not self._wake_sent:
            self._wake_sent = True
            with contextlib.suppress(RuntimeError):  # the loop is closed
                self._loop.call_soon_threadsafe(self._send_wake)

    def hand(self, items: list[OutboxItem]) -> None:
        """Called from the writer thread with the rows a commit queued claimed."""
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed
                self._loop.call_soon_threadsafe(self._hand, items)

    def _hand(self, items: list[OutboxItem]) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(frame(PUSHED, pickle.dumps([tuple(i) for i in items])))
        elif len(self._unsent) < UNSENT_MAX:  # for the next delivery process
            self._unsent.extend(items)
        # beyond that, the rows wait out their claim in the outbox

    def stream_changed(self, key: Key, opened: bool) -> None:
        """`Streams.on_change`: tell the delivery process which subscriptions to offer."""
        self._send(frame(OPENED if opened else CLOSED, key[0].encode(), key[1].encode()))

    def _send_wake(self) -> None:
        self._wake_sent = False  # commits from now on need a frame of their own
        self._send(frame(WAKE))

    def _send(self, data: bytes) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(data)

    async def _keep(self, ready: asyncio.Event) -> None:
        """Run the delivery process, and a new one whenever it dies, until stopped."""
        spawn = multiprocessing.get_context("spawn")
        while True:
            ours, theirs = socket.socketpair()
            process = spawn.Process(
                target=run_delivery_process,
                args=(self.settings, theirs),
                name="cityfabric-notify",
                daemon=True,
            )
            process.start()
            theirs.close()
            reader, self._writer = await asyncio.open_connection(sock=ours)
            for tenant, sub_id in self.streams.open_keys():  # streams opened before it
                self._send(frame(OPENED, tenant.encode(), sub_id.encode()))
            self._send_wake()  # rows queued while no process ran
            if self._unsent:
                self._hand(self._unsent)
                self._unsent = []
            await self._serve(reader, ready)
            self._writer.close()
            await asyncio.to_thread(_finish, process, 1.0)
            if self._stopping:
                return
            log.error(
                "the notification delivery process exited (code %s); starting another",
                process.exitcode,
            )
            await asyncio.sleep(RESTART_DELAY)

    async def _serve(self, reader: asyncio.StreamReader, ready: asyncio.Event) -> None:
        """Answer the delivery process until it closes the socket."""
        while True:
            try:
                kind, payload = await read_frame(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            if kind == STORE_CALL:
                task = asyncio.create_task(self._store_call(payload))
                self._calls.add(task)
                task.add_done_callback(self._calls.discard)
            elif kind == NOTIFICATION:
                tenant, sub_id, body = payload.split(b"\0", 2)
                self.streams.offer(tenant.decode(), sub_id.decode(), body)
            elif kind == READY:
                ready.set()

    async def _store_call(self, payload: bytes) -> None:
        number, method, args = pickle.loads(payload)
        try:
            if method not in STORE_METHODS:
                raise ValueError(f"not a delivery store call: {method}")
            value = await getattr(self.store, method)(*args)
            if method == "due_notifications":  # plain tuples pickle several times faster
                value = [tuple(item) for item in value]
            answer = (number, True, value)
        except Exception as err:  # the delivery process raises it where it called
            answer = (number, False, err)
        _, ok, value = answer
        try:
            data = pickle.dumps(value)
        except Exception as err:  # an error that does not pickle: its text does
            ok, data = False, pickle.dumps(RuntimeError(f"{method}: {err!r}"))
        self._send(frame(ANSWER, ANSWER_HEAD.pack(number, ok) + data))


def _finish(process: multiprocessing.process.BaseProcess, wait: float) -> None:
    """Wait for the process to exit; terminate it after `wait` seconds, kill it after more."""
    process.join(wait)
    if process.is_alive():
        process.terminate()
        process.join(5)
    if process.is_alive():
        process.kill()
        process.join()


class RemoteStore:
    """`DeliveryStore` in the delivery process: each call runs in the API process."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self._numbers = itertools.count()
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._closed = False

    def set_change_hook(
        self,
        hook: ChangeHook | None,
        on_queued: Callable[[], None] | None = None,
        push: Push | None = None,
    ) -> None:
        """Nothing to install: the API process matches, and wakes this one."""

    async def due_notifications(self, now_ms: int, limit: int, lease_ms: int) -> list[OutboxItem]:
        rows = await self._call("due_notifications", now_ms, limit, lease_ms)
        return list(map(OutboxItem._make, rows))

    async def settle_notifications(self, settlement: Settlement) -> None:
        await self._call("settle_notifications", settlement)

    async def get_subscription(
        self, tenant: str, subscription_id: str
    ) -> tuple[bytes, SubscriptionCounters] | None:
        found: tuple[bytes, SubscriptionCounters] | None = await self._call(
            "get_subscription", tenant, subscription_id
        )
        return found

    async def subscriptions_version(self) -> int:
        version: int = await self._call("subscriptions_version")
        return version

    async def list_subscriptions(
        self, tenant: str, limit: int, offset: int, count: bool
    ) -> tuple[list[tuple[bytes, SubscriptionCounters]], int | None]:
        page: tuple[list[tuple[bytes, SubscriptionCounters]], int | None] = await self._call(
            "list_subscriptions", tenant, limit, offset, count
        )
        return page

    async def _call(self, method: str, *args: Any) -> Any:
        if self._closed:
            raise ConnectionError("the API process is gone")
        number = next(self._numbers)
        future = asyncio.get_running_loop().create_future()
        self._waiting[number] = future
        self.writer.write(frame(STORE_CALL, pickle.dumps((number, method, args))))
        return await future

    def answer(self, payload: bytes) -> None:
        number, ok = ANSWER_HEAD.unpack_from(payload)
        future = self._waiting.pop(number, None)
        if future is None or future.done():
            return
        try:
            value = pickle.loads(payload[ANSWER_HEAD.size :])
        except Exception as err:  # an error class that does not unpickle
            ok, value = False, RuntimeError(f"store call {number}: {err!r}")
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def close(self) -> None:
        """Fail every call still waiting, and every later one."""
        self._closed = True
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(ConnectionError("the API process is gone"))
        self._waiting.clear()


class RemoteOffers:
    """`Offers` in the delivery process: the API process's open streams, over the socket."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.open: set[Key] = set()

    def wanted(self, tenant: str, subscription_id: str) -> bool:
        return (tenant, subscription_id) in self.open

    def offer(self, tenant: str, subscription_id: str, notification: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(
                frame(NOTIFICATION, tenant.encode(), subscription_id.encode(), notification)
            )


def run_delivery_process(settings: Settings, sock: socket.socket) -> None:
    """The delivery process's entry point (spawned: it imports only what delivery needs)."""
    # Ctrl-C reaches the whole process group: this process stops when the API process
    # says so, after settling what it sent
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s:     [notify] %(message)s"
    )
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        asyncio.run(_deliver(settings, sock))
    else:
        uvloop.run(_deliver(settings, sock))


async def _deliver(settings: Settings, sock: socket.socket) -> None:
    from cityfabric.parts import make_contexts

    reader, writer = await asyncio.open_connection(sock=sock)
    store = RemoteStore(writer)
    offers = RemoteOffers(writer)
    delivery = Delivery(store, make_contexts(settings), delivery_config(settings), streams=offers)
    await delivery.async_start(match=False)
    heap.settle()
    writer.write(frame(READY))
    stopped = asyncio.Event()
    tasks = [
        asyncio.create_task(_read(reader, store, offers, delivery, stopped)),
        asyncio.create_task(_watch_parent(os.getppid(), store, stopped)),
    ]
    await stopped.wait()
    with contextlib.suppress(TimeoutError):  # its last settlement goes through `store`
        await asyncio.wait_for(delivery.async_stop(), STOP_WAIT)
    store.close()
    for task in tasks:
        task.cancel()
    writer.close()


async def _read(
    reader: asyncio.StreamReader,
    store: RemoteStore,
    offers: RemoteOffers,
    delivery: Delivery,
    stopped: asyncio.Event,
) -> None:
    """Handle the API process's frames; `stopped` on STOP, and at end-of-file (the API
    process is gone: nothing can be settled any more)."""
    try:
        while True:
            kind, payload = await read_frame(reader)
            try:
                _handle(kind, payload, store, offers, delivery, stopped)
            except Exception:
                log.exception("a frame from the API process could not be handled")
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        store.close()
        stopped.set()


def _handle(
    kind: bytes,
    payload: bytes,
    store: RemoteStore,
    offers: RemoteOffers,
    delivery: Delivery,
    stopped: asyncio.Event,
) -> None:
    if kind == ANSWER:
        store.answer(payload)
    elif kind == PUSHED:
        delivery.take(list(map(OutboxItem._make, pickle.loads(payload))))
    elif kind == WAKE:
        delivery.take()
    elif kind in (OPENED, CLOSED):
        tenant, sub_id = parts(payload, 2)
        if kind == OPENED:
            offers.open.add((tenant, sub_id))
        else:
            offers.open.discard((tenant, sub_id))
    elif kind == STOP:
        stopped.set()


async def _watch_parent(parent: int, store: RemoteStore, stopped: asyncio.Event) -> None:
    """Stop when the API process is gone, even should the socket not say so."""
    while os.getppid() == parent:
        await asyncio.sleep(ORPHAN_CHECK)
    store.close()
    stopped.set()
