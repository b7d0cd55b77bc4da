"""Periodic notifications (timeInterval, clause 5.2.12): every interval, what matches now.

The matcher skips periodic subscriptions; this worker, one per server process,
queues for each active, unexpired one the entities that currently match its
`entities`, `q`, `geoQ` and `scopeQ`, one outbox row per entity (at most
MAX_ENTITIES). The delivery worker sends them like any other notification (up to
its batch of entities per notification, rendered with the subscription's
notification parameters), so delivery is at least once and survives a restart,
and lastNotification and timesSent move as for any delivery.

When: a subscription is due when it was never notified, or when its
lastNotification is `timeInterval` seconds old; so the first notification goes out
as soon as it exists, and a restart picks up the schedule from the store. The store
queues a period only while none of the subscription's rows is still queued and
lastNotification has not moved since it was read (`queue_notifications`), so a slow
endpoint or several server processes never get one period twice. A period in which
nothing matches sends nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable
from typing import Final

from cityfabric.ngsild.model import EntityDoc
from cityfabric.notify import codec
from cityfabric.notify.clock import Clock, iso, seconds, system_clock
from cityfabric.notify.delivery import NotifyStore
from cityfabric.notify.model import EntitySelector, Subscription, status_of
from cityfabric.notify.payload import Match
from cityfabric.notify.service import status_of_counters
from cityfabric.store.base import EntityQuery

log = logging.getLogger(__name__)

MAX_ENTITIES: Final = 10_000  # entities in one period's notification(s)
PAGE: Final = 1_000
LIST_PAGE: Final = 1_000  # subscriptions read per store call when reloading

Key = tuple[str, str]  # (tenant, subscription id)


class Periodic:
    """Queues the notifications of periodic subscriptions when they are due."""

    def __init__(
        self,
        store: NotifyStore,
        wake: Callable[[], None] = lambda: None,
        clock: Clock = system_clock,
        poll: float = 1.0,
    ) -> None:
        self.store = store
        self.wake = wake  # tells the delivery worker that rows were queued
        self.clock = clock
        self.poll = poll
        self._version = -1
        self._next: dict[Key, float] = {}  # when to look at each subscription again
        self._runner: asyncio.Task[None] | None = None

    async def async_start(self) -> None:
        """Start the worker on the running loop."""
        self._runner = asyncio.create_task(self._run(), name="cityfabric-periodic")

    async def async_stop(self) -> None:
        """Stop the worker; what it queued stays queued."""
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None

    async def _run(self) -> None:
        while True:
            try:
                await self.async_tick()
            except Exception:
                log.exception("periodic notification pass failed")
            soonest = min(self._next.values(), default=math.inf) - self.clock()
            await asyncio.sleep(min(self.poll, max(soonest, 0.05)))

    async def async_tick(self) -> int:
        """One pass: queue every due subscription; how many had notifications queued."""
        await self._reload()
        now = self.clock()
        queued = 0
        for key, at in list(self._next.items()):
            if at <= now and await self._async_notify(key, now):
                queued += 1
        if queued:
            self.wake()
        return queued

    async def _reload(self) -> None:
        """Find the periodic subscriptions again when any subscription changed."""
        version = await self.store.subscriptions_version()
        if version == self._version:
            return
        found: dict[Key, float] = {}
        for tenant in await self.store.tenants():
            offset = 0
            while True:
                rows, _ = await self.store.list_subscriptions(tenant, LIST_PAGE, offset, False)
                for doc, _counters in rows:
                    sub = _load(doc)
                    if sub is not None and sub.time_interval is not None:
                        found[(tenant, sub.id)] = 0.0  # look at it now: it may have changed
                if len(rows) < LIST_PAGE:
                    break
                offset += LIST_PAGE
        self._next, self._version = found, version

    async def _async_notify(self, key: Key, now: float) -> bool:
        """Queue one period of `key` if it is due; whether it was queued."""
        found = await self.store.get_subscription(*key)
        sub = None if found is None else _load(found[0])
        if found is None or sub is None or sub.time_interval is None:
            self._next.pop(key, None)
            return False
        counters = status_of_counters(found[1])
        if status_of(sub, counters, iso(now)) in ("paused", "expired"):
            self._next[key] = math.inf  # until a PATCH changes it (and a reload)
            return False
        last = counters.last_notification
        due = -math.inf if last is None else seconds(last) + sub.time_interval
        if due > now:
            self._next[key] = due
            return False
        self._next[key] = now + sub.time_interval
        docs = await self._matching(key[0], sub)
        payloads = [Match(doc, "periodic", ()).encode() for doc in docs]
        return bool(payloads) and await self.store.queue_notifications(
            key[0], sub.id, payloads, last_notification=last, now_ms=int(now * 1000)
        )

    async def _matching(self, tenant: str, sub: Subscription) -> list[EntityDoc]:
        """The entities that match `sub` now (any of its selectors), each once."""
        out: dict[str, EntityDoc] = {}
        for selector in sub.entities:
            offset = 0
            while len(out) < MAX_ENTITIES:
                page = await self.store.query(tenant, _query(sub, selector, offset))
                for doc in page.docs:
                    out.setdefault(doc["id"], doc)
                if len(page.docs) < PAGE:
                    break
                offset += PAGE
        return list(out.values())[:MAX_ENTITIES]


def _query(sub: Subscription, selector: EntitySelector, offset: int) -> EntityQuery:
    return EntityQuery(
        ids=(selector.id,) if selector.id is not None else (),
        id_pattern=selector.id_pattern if selector.id is None else None,
        types=selector.types,
        q=None if sub.q is None else sub.q.tree,
        scope_q=None if sub.scope_q is None else sub.scope_q.tree,
        geo=None if sub.geo_q is None else sub.geo_q.query,
        limit=PAGE,
        offset=offset,
    )


def _load(doc: bytes) -> Subscription | None:
    try:
        return codec.from_json(doc)
    except Exception:  # one unreadable row must not stop the others
        log.exception("a stored subscription cannot be loaded")
        return None
