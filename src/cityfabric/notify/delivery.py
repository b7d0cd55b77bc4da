"""The delivery worker: outbox rows to HTTP(S) and MQTT notifications, at least once.

The store records changes in the outbox in their transaction (`matcher.Recorder`,
`store.base.ChangeHook`) and hands the rows to this worker after the commit; it also
polls every `poll` seconds (rows due for a retry, rows queued by another process).
Each pass claims due rows with a lease, matches recorded changes into one row per
notification (`matcher.expand`; those rows live in memory until they settle), groups
the rows per subscription and sends each group from its own task, up to `batch`
entities per notification. One request per endpoint URL is in
flight at a time: rows for a busy endpoint wait in memory behind it (up to `queue` rows
per endpoint, in flight or waiting, sent together when it is free), and beyond that
bound, or when throttling holds them, go back to the outbox for a while without
counting an attempt. So a dead
endpoint holds up neither the others nor memory.

MQTT endpoints get the same Notification published to their topic (`mqtt_out.py`);
receiverInfo, Link and NGSILD-Tenant travel as MQTT 5 user properties. A QoS 1 or 2
publish counts once the broker acknowledged it, a QoS 0 one once it was written.
https:// and mqtts:// endpoints are checked against `ca_file` when it is set.
Open event streams of the subscription (`stream.py`) get each notification too, on
its first attempt, before the endpoint is tried.

2xx (or the publish) deletes the rows and counts a success; anything else reschedules them with
exponential backoff and jitter and counts a failure; after `max_attempts` failures they
are dropped and the status keeps the reason. A crash between claim and settlement
leaves the rows to reappear when their lease ends: duplicates are possible, losses not.

Settlements are not written one per request: finished deliveries add theirs to a
pending `Settlement` that one flusher writes in a single writer job, while the next
ones accumulate behind it (so the batch grows with the load; after one that updated the
counters of `BUSY_STATUSES` subscriptions or more, the flusher pauses `FLUSH_PAUSE`
first). A row is deleted only by
a flush after its delivery succeeded; a crash before the flush re-delivers it. A
recorded row is deleted by the flush that settles the last notification matched from
it; those of its notifications that must be tried again, or wait, are queued as rows
of their own by the same or an earlier flush.
Parsed subscriptions are cached for as long as `subscriptions_version` stays put (one
read per pass instead of a read and a parse per group).

Every time the worker reads (due rows, backoff, throttling, status times, the
matcher's expiry check) comes from its `clock`, so tests move time instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import ssl
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import orjson

from cityfabric.ngsild.context import ActiveContext
from cityfabric.ngsild.contexts_store import ContextRegistry
from cityfabric.ngsild.errors import NgsiLdError
from cityfabric.ngsild.model import CORE_CONTEXT_URL
from cityfabric.notify import codec
from cityfabric.notify.clock import Clock, iso, system_clock
from cityfabric.notify.http_client import HttpClient, HttpError
from cityfabric.notify.index import Index
from cityfabric.notify.matcher import CHANGES, Recorder, expand, load_subscriptions
from cityfabric.notify.model import DEFAULT_MQTT_VERSION, Subscription
from cityfabric.notify.mqtt_out import MqttError, MqttPublisher
from cityfabric.notify.payload import Match, context_source, decode, notification, render_data
from cityfabric.notify.stream import Offers, Streams
from cityfabric.store.base import (
    DeliveryStatus,
    OutboxClaims,
    OutboxItem,
    OutboxStore,
    Push,
    Settlement,
    Store,
    SubscriptionCounters,
)

log = logging.getLogger(__name__)

CONTEXT_REL = 'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
PAGE = 1000  # subscriptions read at a time to build an index
# a settlement that updated this many subscriptions' statuses is followed by a pause, so
# under load each subscription's counters are written a few times a second, not per
# notification (each is an UPDATE on the one writer)
BUSY_STATUSES = 50
FLUSH_PAUSE = 0.25  # seconds
EXPAND_MAX = 20_000  # notifications matched from recorded rows per pass, about
DEFER_MS = 200  # how long rows wait in the outbox when their endpoint's queue is full

_Group = tuple[str, Subscription, list[OutboxItem]]  # tenant, subscription, its rows


class NotifyStore(Store, OutboxStore, Protocol):
    """A store that keeps subscriptions and the outbox."""


class DeliveryStore(OutboxClaims, Protocol):
    """What the delivery worker reads and writes: the outbox and the subscriptions."""

    async def get_subscription(
        self, tenant: str, subscription_id: str
    ) -> tuple[bytes, SubscriptionCounters] | None: ...

    async def subscriptions_version(self) -> int: ...

    async def list_subscriptions(
        self, tenant: str, limit: int, offset: int, count: bool
    ) -> tuple[list[tuple[bytes, SubscriptionCounters]], int | None]: ...


@dataclass(frozen=True)
class DeliveryConfig:
    max_attempts: int = 10
    retry_base: float = 1.0  # seconds before the first retry, doubled per failure
    retry_max: float = 300.0  # longest wait between two attempts
    timeout: float = 10.0  # per request, unless the endpoint sets its own
    base_url: str = "http://127.0.0.1:8000"  # prefix of hosted @context links
    batch: int = 100  # entities per notification
    claim: int = 1000  # rows per pass
    queue: int = 400  # rows per endpoint, in flight or waiting in memory
    poll: float = 1.0
    ca_file: Path | None = None  # CA certificates for https:// and mqtts:// endpoints

    @property
    def lease_ms(self) -> int:
        """Long enough for an endpoint's whole queue to be sent, one request at a time."""
        chunks = -(-self.queue // self.batch)
        return int((self.timeout * (chunks + 1) + 5) * 1000)

    def backoff_ms(self, attempts: int) -> int:
        """The wait after the `attempts`-th failure: exponential, capped, with jitter."""
        delay = min(self.retry_max, self.retry_base * 2 ** min(attempts - 1, 30))
        return int(delay * (0.5 + random.random() / 2) * 1000)


@dataclass
class _Outcome:
    settlement: Settlement = field(default_factory=Settlement)
    sent: int = 0
    failed: int = 0
    reason: str | None = None


class Delivery:
    """Installs the matcher on the store and delivers what it queues."""

    def __init__(
        self,
        store: DeliveryStore,
        contexts: ContextRegistry,
        config: DeliveryConfig,
        clock: Clock = system_clock,
        streams: Offers | None = None,
    ) -> None:
        self.store = store
        self.contexts = contexts
        self.config = config
        self.clock = clock
        self._tls = tls_context(config.ca_file)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._busy: set[str] = set()  # endpoint URLs with a request in flight
        self._waiting: dict[str, list[_Group]] = {}  # rows claimed for a busy endpoint
        self._in_flight: dict[str, int] = {}  # rows being sent to each busy endpoint
        self._failing: dict[str, int] = {}  # endpoints that failed: not tried until (ms)
        self._last_sent: dict[tuple[str, str], float] = {}  # for throttling (clock s)
        self._client: HttpClient | None = None
        self._subs: dict[tuple[str, str], Subscription | None] = {}  # parsed, or deleted
        self._indexes: dict[str, Index] = {}  # per tenant, to expand recorded changes
        self._subs_version = -1  # the subscriptions_version `_subs` was read at
        # the rows `expand` made (negative oids, no row of their own until settled):
        # their recorded row, their match, and how many of a recorded row's are unsettled
        self._made = itertools.count(-1, -1)
        self._made_from: dict[int, tuple[int, OutboxItem]] = {}
        self._matches: dict[int, Match] = {}
        self._unsettled: dict[int, int] = {}
        self._pending = Settlement()  # finished deliveries not written yet
        self._pushed: deque[list[OutboxItem]] = deque()  # rows handed over, not yet grouped
        self._claim_due = True  # rows may wait in the outbox: claim on the next pass
        self._last_claim = float("-inf")  # loop time of the last claim
        self._flusher: asyncio.Task[None] | None = None
        self._mqtt = MqttPublisher(self._tls)
        self.streams: Offers = streams or Streams()

    async def async_start(self, *, match: bool = True) -> None:
        """Start the worker on the running loop, and install the matcher unless `match` is
        False (another process matches: this one is only woken by commits that queued)."""
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=100)
        fallback = httpx.AsyncClient(trust_env=False, verify=self._tls or True, limits=limits)
        # plain http:// itself, https:// through httpx; keep as many connections per
        # origin as requests can be in flight at once (every endpoint may be one server)
        self._client = HttpClient(fallback, max_idle=max(self.config.claim, 64))
        if match:
            push = Push(lambda: int(self.clock() * 1000) + self.config.lease_ms, self.wake)
            self.store.set_change_hook(Recorder(lambda: iso(self.clock())), self.wake, push)
        else:
            self.store.set_change_hook(None, self.wake)
        self._runner = asyncio.create_task(self._run(), name="cityfabric-notify")

    async def async_stop(self) -> None:
        """Stop matching and delivering; unsettled rows stay queued for the next start."""
        self.store.set_change_hook(None)
        tasks = [t for t in (self._runner, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._flusher is not None:  # let the write in flight finish, then the rest
            with contextlib.suppress(Exception):
                await self._flusher
        with contextlib.suppress(Exception):
            await self._flush_pending()
        if self._client is not None:
            await self._client.aclose()
            await self._client.fallback.aclose()
        await self._mqtt.async_close()

    def wake(self, items: list[OutboxItem] | None = None) -> None:
        """Called from any thread after a commit that queued notifications: with `items`,
        rows queued claimed for this worker (`base.Push`); without, rows to claim."""
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody delivers
                self._loop.call_soon_threadsafe(self.take, items)

    def take(self, items: list[OutboxItem] | None = None) -> None:
        """`wake` on the worker's loop."""
        if items:
            self._pushed.append(items)
        else:
            self._claim_due = True
        self._event.set()

    async def _run(self) -> None:
        assert self._loop is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), self.config.poll)
            self._event.clear()
            try:
                while self._pushed:
                    await self._dispatch(self._pushed.popleft(), int(self.clock() * 1000))
                # rows due for a retry, left by a dead process or queued by another
                if self._claim_due or self._loop.time() - self._last_claim >= self.config.poll:
                    self._claim_due = False
                    while await self.async_pump() >= self.config.claim:
                        pass
            except Exception:
                log.exception("notification delivery pass failed")

    async def async_pump(self) -> int:
        """One pass: claim due rows and start delivering them; how many were claimed."""
        if self._loop is not None:
            self._last_claim = self._loop.time()
        now = int(self.clock() * 1000)
        items = await self.store.due_notifications(now, self.config.claim, self.config.lease_ms)
        await self._dispatch(items, now)
        return len(items)

    async def _dispatch(self, items: list[OutboxItem], now: int) -> None:
        """Group claimed rows by subscription and start sending them."""
        if not items:
            return
        await self._refresh_subscriptions()
        groups: dict[tuple[str, str], list[OutboxItem]] = {}
        for item in await self._expand(items):
            groups.setdefault((item.tenant, item.subscription_id), []).append(item)
        held = Settlement()
        for key, rows in groups.items():
            sub = await self._subscription(key)
            if sub is None:  # deleted since: nobody to notify
                held.dropped.extend(r.oid for r in rows)
                continue
            uri = sub.notification.endpoint.uri
            wait = self._throttled_ms(key, sub) or max(self._failing.get(uri, 0) - now, 0)
            room = 0 if wait else self.config.queue - self._queued(uri)
            if len(rows) > room:  # back to the outbox for a while, not an attempt
                wait = wait or DEFER_MS
                held.defer.extend((r.oid, now + wait) for r in rows[max(room, 0) :])
                self._wake_in(wait)
                rows = rows[: max(room, 0)]
            if not rows:
                continue
            if uri in self._busy:
                self._queue_behind(uri, (key[0], sub, rows))
            else:
                self._start(uri, [(key[0], sub, rows)])
        if held.dropped or held.defer:  # written with the next flush of finished deliveries
            _merge(self._pending, held)
            self._kick_flusher()

    def _start(self, uri: str, groups: list[_Group]) -> None:
        """Deliver `groups` to `uri` (not busy) from a task of their own."""
        self._busy.add(uri)
        self._in_flight[uri] = sum(len(rows) for _, _, rows in groups)
        for tenant, sub, _ in groups:
            self._last_sent[(tenant, sub.id)] = self.clock()
        task = asyncio.create_task(self._deliver(uri, groups))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _queue_behind(self, uri: str, group: _Group) -> None:
        """Hold rows for a busy endpoint until its request in flight ends (same lease)."""
        tenant, sub, rows = group
        waiting = self._waiting.setdefault(uri, [])
        for tenant_w, sub_w, rows_w in waiting:
            if (tenant_w, sub_w.id) == (tenant, sub.id):
                rows_w.extend(rows)  # one notification carries them all, up to `batch`
                return
        waiting.append((tenant, sub, list(rows)))

    async def _refresh_subscriptions(self) -> None:
        """Forget the parsed subscriptions if any subscription changed since they were read."""
        version = await self.store.subscriptions_version()  # before any doc read below
        if version != self._subs_version:
            self._subs.clear()
            self._indexes.clear()
            self._subs_version = version

    async def _expand(self, items: list[OutboxItem]) -> list[OutboxItem]:
        """The rows to send: recorded changes (`matcher.Recorder`) matched into rows of
        their own, which settle the recorded row once all of them are settled."""
        out: list[OutboxItem] = []
        made = 0
        for item in items:
            if item.subscription_id != CHANGES:
                out.append(item)
                continue
            if item.oid in self._unsettled:  # claimed again while its notifications wait
                continue
            if made >= EXPAND_MAX:  # a backlog (after a crash): the rest in a while
                self._pending.defer.append((item.oid, int(self.clock() * 1000) + DEFER_MS))
                self._kick_flusher()
                self._wake_in(DEFER_MS)
                continue
            try:
                found = expand(await self._index(item.tenant), item.payload)
            except Exception:  # an unreadable row is dropped rather than retried forever
                log.exception("recorded changes %d cannot be matched", item.oid)
                found = []
            if not found:
                self._pending.delivered.append(item.oid)
                self._kick_flusher()
                continue
            self._unsettled[item.oid] = len(found)
            made += len(found)
            for sub, match in found:
                row = OutboxItem(next(self._made), item.tenant, sub.id, b"", 0, item.created_at)
                self._made_from[row.oid] = (item.oid, row)
                self._matches[row.oid] = match
                out.append(row)
        return out

    async def _index(self, tenant: str) -> Index:
        """The tenant's matchable subscriptions as of `_subs_version` (or later)."""
        index = self._indexes.get(tenant)
        if index is None:
            docs: list[tuple[str, bytes]] = []
            while True:
                rows, _ = await self.store.list_subscriptions(tenant, PAGE, len(docs), False)
                docs += [("", doc) for doc, _ in rows]
                if len(rows) < PAGE:
                    break
            index = self._indexes[tenant] = Index()
            for sub in load_subscriptions(docs):
                index.add(sub)
                self._subs[(tenant, sub.id)] = sub
        return index

    def _settled(self, done: Settlement) -> Settlement:
        """`done` for the store: rows made by `_expand` that must be retried or wait
        become rows of their own; a recorded row is deleted once all it made are settled."""
        if not self._made_from:
            return done
        out = Settlement(statuses=done.statuses, queue=done.queue)
        for oid in done.delivered:
            if oid < 0:
                self._made_settled(oid, out)
            else:
                out.delivered.append(oid)
        for oid in done.dropped:
            if oid < 0:
                self._made_settled(oid, out)
            else:
                out.dropped.append(oid)
        for attempts, pairs, kept in ((1, done.retry, out.retry), (0, done.defer, out.defer)):
            for oid, at in pairs:
                if oid >= 0:
                    kept.append((oid, at))
                    continue
                match = self._matches[oid]
                item = self._made_settled(oid, out)
                row = (item.tenant, item.subscription_id, match.encode(), attempts, at)
                out.queue.append((*row, item.created_at))
        return out

    def _made_settled(self, oid: int, out: Settlement) -> OutboxItem:
        """Forget a row `_expand` made; its recorded row goes to `out` once all are."""
        parent, item = self._made_from.pop(oid)
        self._matches.pop(oid, None)
        self._unsettled[parent] -= 1
        if not self._unsettled[parent]:
            del self._unsettled[parent]
            out.delivered.append(parent)
        return item

    async def _subscription(self, key: tuple[str, str]) -> Subscription | None:
        """The subscription as of `_subs_version` (or later), None when it is deleted."""
        if key in self._subs:
            return self._subs[key]
        found = await self.store.get_subscription(*key)
        sub = None if found is None else codec.from_json(found[0])
        self._subs[key] = sub
        return sub

    def _kick_flusher(self) -> None:
        """Make sure pending settlements get written: one flush at a time, batched."""
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_loop(), name="cityfabric-settle")

    async def _flush_loop(self) -> None:
        try:
            while (statuses := await self._flush_pending()) is not None:
                if statuses >= BUSY_STATUSES:  # under load: fewer, larger settlements
                    await asyncio.sleep(FLUSH_PAUSE)
        except Exception:
            log.exception("settling notifications failed (the rows come back after their lease)")

    async def _flush_pending(self) -> int | None:
        """Write what is pending in one writer job; how many statuses it updated, None
        when there was nothing to write."""
        done = self._pending
        if not (done.delivered or done.retry or done.defer or done.dropped or done.statuses):
            return None
        self._pending = Settlement()
        done = self._settled(done)
        done.statuses = coalesce(done.statuses)
        await self.store.settle_notifications(done)
        return len(done.statuses)

    def _throttled_ms(self, key: tuple[str, str], sub: Subscription) -> int:
        """How long throttling holds the subscription's rows (a throttled subscription's
        rows never wait in memory: its next request must not start before its time)."""
        if not sub.throttling:
            return 0
        if sub.notification.endpoint.uri in self._busy:
            return DEFER_MS
        last = self._last_sent.get(key)
        left = 0.0 if last is None else last + sub.throttling - self.clock()
        return int(left * 1000) + 1 if left > 0 else 0

    def _queued(self, uri: str) -> int:
        """Rows in flight to `uri` or waiting for it."""
        return self._in_flight.get(uri, 0) + sum(
            len(rows) for _, _, rows in self._waiting.get(uri, ())
        )

    def _wake_in(self, ms: int) -> None:
        """Claim again in `ms` (rows held in the outbox are due then)."""
        if self._loop is not None:
            self._loop.call_later(ms / 1000, self.take)

    async def _deliver(self, uri: str, groups: list[_Group]) -> None:
        """Send each group, then whatever queued behind them meanwhile, one request at a time."""
        try:
            while groups:
                for at, (tenant, sub, rows) in enumerate(groups):
                    if not await self._deliver_group(tenant, sub, rows):
                        # the endpoint fails: nothing more is tried on it for a while
                        until = self._put_back([*groups[at + 1 :], *self._waiting.pop(uri, [])])
                        self._failing[uri] = until
                        return
                self._failing.pop(uri, None)
                groups = self._waiting.pop(uri, [])
                self._in_flight[uri] = sum(len(rows) for _, _, rows in groups)
                for tenant, sub, _ in groups:
                    self._last_sent[(tenant, sub.id)] = self.clock()
        finally:
            self._busy.discard(uri)
            self._in_flight.pop(uri, None)

    def _put_back(self, groups: list[_Group]) -> int:
        """Return rows to the outbox until a first retry would be due (not an attempt);
        that time (clock ms)."""
        now = int(self.clock() * 1000)
        wait = self.config.backoff_ms(1)
        if groups:
            self._pending.defer.extend((r.oid, now + wait) for _, _, rows in groups for r in rows)
            self._kick_flusher()
            self._wake_in(wait + DEFER_MS // 4)
        return now + wait

    async def _deliver_group(
        self, tenant: str, sub: Subscription, rows: Sequence[OutboxItem]
    ) -> bool:
        """Send the rows in chunks; whether every chunk was delivered."""
        try:
            outcome = _Outcome()
            for start in range(0, len(rows), self.config.batch):
                chunk = rows[start : start + self.config.batch]
                reason = await self._send(tenant, sub, chunk)
                self._settle_chunk(outcome, chunk, reason)
            outcome.settlement.statuses.append(_status(tenant, sub.id, outcome, iso(self.clock())))
            _merge(self._pending, outcome.settlement)
            self._kick_flusher()
            if outcome.settlement.retry:  # the flush writes them first: look a little later
                now = int(self.clock() * 1000)
                first = min(at for _, at in outcome.settlement.retry)
                self._wake_in(max(first - now, 0) + DEFER_MS // 4)
            return not outcome.failed
        except Exception:
            log.exception("delivery to %s failed unexpectedly", sub.notification.endpoint.uri)
            return False

    def _settle_chunk(self, out: _Outcome, chunk: Sequence[OutboxItem], reason: str | None) -> None:
        if reason is None:
            out.sent += 1
            out.settlement.delivered.extend(r.oid for r in chunk)
            return
        out.failed += 1
        now = int(self.clock() * 1000)
        for row in chunk:
            tried = row.attempts + 1
            if tried >= self.config.max_attempts:
                out.settlement.dropped.append(row.oid)
                out.reason = f"gave up after {tried} attempts: {reason}"
            else:
                out.settlement.retry.append((row.oid, now + self.config.backoff_ms(tried)))
        out.reason = out.reason or reason

    async def _send(
        self, tenant: str, sub: Subscription, chunk: Sequence[OutboxItem]
    ) -> str | None:
        """Send one notification; None when it was delivered, else the reason."""
        endpoint = sub.notification.endpoint
        ld = endpoint.accept == "application/ld+json"
        try:
            ctx = await self.contexts.resolve(context_source(sub))
        except NgsiLdError as err:
            return f"the subscription's @context cannot be resolved: {err.detail}"
        data = [render_data(sub, self._match(row), ctx, ld) for row in chunk]
        headers = self._headers(tenant, sub, ctx, ld)
        timeout = endpoint.timeout / 1000 if endpoint.timeout else self.config.timeout
        body = orjson.dumps(notification(sub, data, iso(self.clock())))
        self._offer(tenant, sub, chunk, data, body)
        if endpoint.is_mqtt:
            return await self._publish(sub, body, headers, timeout)
        assert self._client is not None
        try:
            status = await self._client.post(endpoint.uri, body, headers, timeout)
        except HttpError as err:
            return f"{endpoint.uri}: {err}"
        if 200 <= status < 300:
            return None
        return f"{endpoint.uri} answered HTTP {status}"

    def _match(self, row: OutboxItem) -> Match:
        made = self._matches.get(row.oid)
        return decode(row.payload) if made is None else made

    def _offer(
        self,
        tenant: str,
        sub: Subscription,
        chunk: Sequence[OutboxItem],
        data: list[dict[str, Any]],
        body: bytes,
    ) -> None:
        """Give open streams the entities not offered before (a retry is not news)."""
        if not self.streams.wanted(tenant, sub.id):
            return
        fresh = [d for d, row in zip(data, chunk, strict=True) if row.attempts == 0]
        if len(fresh) < len(data):
            body = orjson.dumps(notification(sub, fresh)) if fresh else b""
        if body:
            self.streams.offer(tenant, sub.id, body)

    async def _publish(
        self, sub: Subscription, body: bytes, headers: dict[str, str], timeout: float
    ) -> str | None:
        """Publish one notification to an MQTT endpoint; None once the broker has it."""
        endpoint = sub.notification.endpoint
        if endpoint.mqtt_version != DEFAULT_MQTT_VERSION:
            return f"MQTT-Version {endpoint.mqtt_version} is not supported (only mqtt5.0)"
        content_type = headers.pop("Content-Type")
        try:
            await self._mqtt.async_publish(
                endpoint.uri,
                body,
                qos=endpoint.mqtt_qos,
                timeout=timeout,
                content_type=content_type,
                user_properties=tuple(headers.items()),
            )
        except MqttError as err:
            return str(err)
        return None

    def _headers(
        self, tenant: str, sub: Subscription, ctx: ActiveContext, ld: bool
    ) -> dict[str, str]:
        headers: dict[str, Any] = dict(sub.notification.endpoint.receiver_info)
        headers["Content-Type"] = "application/ld+json" if ld else "application/json"
        if not ld:
            url = ctx.link_path or CORE_CONTEXT_URL
            if url.startswith("/"):
                url = self.config.base_url.rstrip("/") + url
            headers["Link"] = f"<{url}>; {CONTEXT_REL}"
        if tenant:
            headers["NGSILD-Tenant"] = tenant
        return headers


def tls_context(ca_file: Path | None) -> ssl.SSLContext | None:
    """The SSL context that trusts `ca_file` (None: the defaults of each client)."""
    if ca_file is None:
        return None
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as err:
        raise ValueError(f"notification_ca_file {ca_file}: {err}") from None


def _status(tenant: str, sub_id: str, out: _Outcome, now: str) -> DeliveryStatus:
    return DeliveryStatus(
        tenant,
        sub_id,
        sent=out.sent,
        failed=out.failed,
        last_notification=now,
        last_success=now if out.sent else None,
        last_failure=now if out.failed else None,
        failure_reason=out.reason,
    )


def coalesce(statuses: list[DeliveryStatus]) -> list[DeliveryStatus]:
    """One status per subscription: counts added, the latest of each time and reason."""
    merged: dict[tuple[str, str], DeliveryStatus] = {}
    for st in statuses:
        key = (st.tenant, st.subscription_id)
        old = merged.get(key)
        merged[key] = (
            st
            if old is None
            else DeliveryStatus(
                st.tenant,
                st.subscription_id,
                sent=old.sent + st.sent,
                failed=old.failed + st.failed,
                last_notification=st.last_notification or old.last_notification,
                last_success=st.last_success or old.last_success,
                last_failure=st.last_failure or old.last_failure,
                failure_reason=st.failure_reason or old.failure_reason,
            )
        )
    return list(merged.values())


def _merge(into: Settlement, more: Settlement) -> None:
    into.queue.extend(more.queue)
    into.delivered.extend(more.delivered)
    into.retry.extend(more.retry)
    into.defer.extend(more.defer)
    into.dropped.extend(more.dropped)
    into.statuses.extend(more.statuses)
