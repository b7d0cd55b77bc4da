"""Copy a city from one store to another (SQLite to PostgreSQL), through the store protocol.

Per tenant: entities in creation order (written without recording history), then every
entity's history instance by instance (`timeproperty=modifiedAt` reaches instances with
and without observedAt; roll-ups are recomputed from them), raw-history retention rules,
and subscriptions with their delivery counters. Then both stores are counted again.

Not copied: instance ids (the target numbers instances anew), roll-ups of raw history
that already expired in the source, the key/value table of workers' state (the anomaly
detector rebuilds it), queued notifications, the change feed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol

from cityfabric.ngsild.model import EntityDoc, Instance
from cityfabric.ngsild.temporal import TimeFilter, parse_time
from cityfabric.notify import codec
from cityfabric.notify.model import watched
from cityfabric.store.base import (
    DeliveryStatus,
    EntityHistory,
    EntityQuery,
    HistoryQuery,
    OutboxStore,
    Settlement,
    Store,
)

PAGE = 500  # entities per read and per write transaction
SERIES_PAGE = 20_000  # instances per series per history read
NOW = "1970-01-01T00:00:00Z"  # unused: copied instances carry their own modifiedAt

Progress = Callable[[str, int], None]  # (what, how many more done)


class Engine(Store, OutboxStore, Protocol):
    """A store with the outbox side too (delivery counters are written through it)."""


@dataclass
class Counts:
    """Per tenant: entities, history instances, subscriptions."""

    entities: dict[str, int] = field(default_factory=dict)
    instances: dict[str, int] = field(default_factory=dict)
    subscriptions: dict[str, int] = field(default_factory=dict)

    def rows(self) -> list[tuple[str, int, int, int]]:
        tenants = sorted(set(self.entities) | set(self.instances) | set(self.subscriptions))
        return [
            (
                t,
                self.entities.get(t, 0),
                self.instances.get(t, 0),
                self.subscriptions.get(t, 0),
            )
            for t in tenants
        ]


async def totals(store: Engine) -> dict[str, int]:
    """Entities per tenant (the progress bar's total)."""
    return {
        tenant: (await store.query(tenant, EntityQuery(limit=0, count=True))).count or 0
        for tenant in await store.tenants()
    }


async def copy_store(source: Engine, target: Engine, progress: Progress) -> Counts:
    """Copy every tenant of `source` into `target`; what was copied."""
    copied = Counts()
    for tenant in await source.tenants():
        copied.entities[tenant] = await _copy_entities(source, target, tenant, progress)
        copied.instances[tenant] = await _copy_history(source, target, tenant, progress)
        rules = await source.retention(tenant)
        if rules:
            await target.set_retention(tenant, rules)
        copied.subscriptions[tenant] = await _copy_subscriptions(source, target, tenant)
    return copied


async def count_store(store: Engine) -> Counts:
    """The same counts, read from one store (the verification)."""
    counts = Counts()
    for tenant in await store.tenants():
        counts.entities[tenant] = (
            await store.query(tenant, EntityQuery(limit=0, count=True))
        ).count or 0
        counts.instances[tenant] = 0
        async for _, series in _histories(store, tenant):
            counts.instances[tenant] += sum(len(instances) for instances in series.values())
        _, total = await store.list_subscriptions(tenant, 0, 0, True)
        counts.subscriptions[tenant] = total or 0
    return counts


async def _copy_entities(source: Engine, target: Engine, tenant: str, progress: Progress) -> int:
    done, offset = 0, 0
    while True:
        page = await source.query(tenant, EntityQuery(limit=PAGE, offset=offset))
        if not page.docs:
            return done
        results = await target.apply(tenant, [(doc["id"], _put(doc)) for doc in page.docs])
        failed = [r for r in results if not r.ok]
        if failed:
            raise RuntimeError(f"tenant {tenant!r}: {failed[0].id} was refused: {failed[0].error}")
        done += len(page.docs)
        offset += len(page.docs)
        progress("entities", len(page.docs))


def _put(doc: EntityDoc) -> Callable[[EntityDoc | None], EntityDoc | None]:
    return lambda _current: doc


async def _copy_history(source: Engine, target: Engine, tenant: str, progress: Progress) -> int:
    done = 0
    async for entity, series in _histories(source, tenant):
        instances = [(attr, inst) for (attr, _), insts in series.items() for inst in insts]
        if instances:
            await target.add_history(tenant, entity.id, entity.types, instances, NOW)
        done += len(instances)
        progress("instances", len(instances))
    return done


SeriesKey = tuple[str, str | None]


async def _histories(
    store: Engine, tenant: str
) -> AsyncIterator[tuple[EntityHistory, dict[SeriesKey, list[Instance]]]]:
    """Every entity with history and all its instances, read in pages."""
    offset = 0
    while True:
        query = HistoryQuery(limit=50, offset=offset, with_series=False)
        page = await store.history(tenant, query)
        if not page.entities:
            return
        for entity in page.entities:
            yield entity, await _all_instances(store, tenant, entity.id)
        offset += len(page.entities)


async def _all_instances(
    store: Engine, tenant: str, entity_id: str
) -> dict[SeriesKey, list[Instance]]:
    """One entity's instances, copy-ready (no instanceId or createdAt: the target sets
    them). A series cut at `SERIES_PAGE` is read on from the earliest cut time, inclusive,
    after dropping what was read from that time on."""
    out: dict[SeriesKey, list[Instance]] = {}
    start: int | None = None
    while True:
        time = TimeFilter(timeproperty="modifiedAt")
        if start is not None:
            time = TimeFilter("after", start, None, "modifiedAt")
        query = HistoryQuery(ids=(entity_id,), time=time, max_instances=SERIES_PAGE, limit=1)
        page = await store.history(tenant, query)
        cut: int | None = None
        for series in page.entities[0].series if page.entities else []:
            bucket = out.setdefault((series.attr, series.dataset_id), [])
            bucket.extend(
                {k: v for k, v in inst.items() if k not in ("instanceId", "createdAt")}
                for inst in series.instances
            )
            if series.truncated and series.instances:
                last = parse_time(str(series.instances[-1]["modifiedAt"]), "modifiedAt")
                cut = last if cut is None else min(cut, last)
        if cut is None:
            return out
        if cut == start:
            raise RuntimeError(
                f"{entity_id}: more than {SERIES_PAGE} instances modified at one instant"
            )
        start = cut
        for key, instances in out.items():
            out[key] = [i for i in instances if _modified(i) < cut]


def _modified(inst: Instance) -> int:
    return parse_time(str(inst["modifiedAt"]), "modifiedAt")


async def _copy_subscriptions(source: Engine, target: Engine, tenant: str) -> int:
    done, offset = 0, 0
    while True:
        rows, _ = await source.list_subscriptions(tenant, PAGE, offset, False)
        if not rows:
            return done
        for doc, counters in rows:
            sub = codec.from_json(doc)
            await target.create_subscription(tenant, sub.id, doc, *watched(sub))
            status = DeliveryStatus(
                tenant,
                sub.id,
                counters.times_sent,
                counters.times_failed,
                counters.last_notification,
                counters.last_success,
                counters.last_failure,
                counters.failure_reason,
            )
            await target.settle_notifications(Settlement(statuses=[status]))
        done += len(rows)
        offset += len(rows)
