"""Matching changes to subscriptions, in two halves around the outbox.

On the store's writer, inside the transaction of each group of changes (see
`store.base.ChangeHook`), the `Recorder` writes one outbox row per tenant holding the
changes that some subscription may select (by entity type): the docs before and after,
and the ids of the subscriptions with q, geoQ or scopeQ whose filters the entity as
written passes (those are evaluated there, by the store, with the query compiler). The
row commits, or rolls back, with the changes: nothing is lost. Everything else, which
is most of matching's cost, happens in the delivery worker (`delivery.py`), off the
writer: `expand` turns a recorded row into one (subscription, match) per notification,
against the subscriptions as they are then. Parsed subscriptions are cached per tenant
on both sides and reloaded when `subscriptions_version` moves.

A change is matched through an index (`index.py`), never by scanning every
subscription: by entity type, then entity id or idPattern prefix, then watched
attribute; the index also checks the selector's type expression and idPattern.

Semantics (clause 5.2.12):
- creation (no doc before) fires entityCreated, and attributeCreated for every
  attribute; deletion fires entityDeleted only; an update fires entityUpdated
  (any attribute created, updated or deleted) and attribute{Created,Updated,Deleted}
  per attribute, an attribute being updated when its instances differ;
- watchedAttributes restricts the attributes that count (entity triggers included);
- datasetId restricts the attribute instances that count, the same way (`changes.py`);
- q, geoQ and scopeQ are evaluated by the store on the entity as written, with the
  query compiler (not for deletions: the entity is gone); a subscription with a filter
  created after the change is not notified of it (nothing evaluated it);
- showChanges queues the previous values of the updated and deleted attributes
  (taken from the doc before the change, only for subscriptions that ask for them);
- inactive, expired and periodic (timeInterval) subscriptions are not matched
  (`periodic.py` notifies the latter); expiry is judged at the time of the change;
  HTTP and MQTT endpoints alike are.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from cityfabric.ngsild.entity import now_iso
from cityfabric.ngsild.model import EntityDoc
from cityfabric.notify import codec
from cityfabric.notify.changes import Changes, Previous, dataset_changes, previous_values
from cityfabric.notify.index import Index
from cityfabric.notify.model import Subscription, Trigger
from cityfabric.notify.payload import Match
from cityfabric.store.base import Change, ChangeProbe, EntityQuery, OutboxRow

log = logging.getLogger(__name__)


CHANGES: Final = ""
"""The subscription id of an outbox row that records changes (`Recorder`), not a match."""


def matchable(sub: Subscription) -> bool:
    """Whether changes can notify `sub` at all (activity and expiry are checked per change)."""
    return sub.time_interval is None


def filtered(sub: Subscription) -> bool:
    """Whether `sub` has a filter only the store can evaluate (q, geoQ, scopeQ)."""
    return sub.q is not None or sub.geo_q is not None or sub.scope_q is not None


@dataclass
class _Watch:
    """One tenant's matchable subscriptions, as the recorder needs them."""

    every: Index = field(default_factory=Index)  # to tell whether a change may be selected
    filtered: Index = field(default_factory=Index)  # those whose filters it evaluates


class Recorder:
    """`ChangeHook`: one outbox row per tenant recording the changes to match."""

    def __init__(self, clock: Callable[[], str] = now_iso) -> None:
        self.clock = clock
        self._version = -1
        self._watches: dict[str, _Watch] = {}

    def __call__(self, probe: ChangeProbe, changes: Sequence[Change]) -> list[OutboxRow]:
        version = probe.version()
        if version != self._version:
            self._watches.clear()
            self._version = version
        now = self.clock()
        recorded: dict[str, list[tuple[Any, ...]]] = {}
        for tenant, entity_id, before, after in changes:
            doc = after if after is not None else before
            if doc is None:
                continue
            watch = self._watch(probe, tenant)
            if not watch.every.may_select(_types(doc)):
                continue
            passed = []
            if watch.filtered.size:
                for sub, _ in match_change(watch.filtered, before, after, now):
                    if _filters_pass(probe, tenant, entity_id, sub, after):
                        passed.append(sub.id)
            recorded.setdefault(tenant, []).append((entity_id, _slim(before, after), after, passed))
        return [
            (tenant, CHANGES, orjson.dumps({"at": now, "changes": rows}))
            for tenant, rows in recorded.items()
        ]

    def _watch(self, probe: ChangeProbe, tenant: str) -> _Watch:
        watch = self._watches.get(tenant)
        if watch is None:
            watch = self._watches[tenant] = _Watch()
            for sub in load_subscriptions(probe.subscriptions(tenant)):
                watch.every.add(sub)
                if filtered(sub):
                    watch.filtered.add(sub)
        return watch


def _slim(before: EntityDoc | None, after: EntityDoc | None) -> dict[str, Any] | None:
    """`before` as a record keeps it: whole for a deletion; for an update, the names of
    the attributes the change created and the old instances of those it changed or
    deleted (the rest are as in `after`)."""
    if before is None or after is None:
        return before
    old, new = before.get("attrs") or {}, after.get("attrs") or {}
    return {
        "created": [a for a in new if a not in old],
        "changed": {a: v for a, v in old.items() if new.get(a) != v},
    }


def _unslim(slim: dict[str, Any] | None, after: EntityDoc | None) -> EntityDoc | None:
    """The doc before the change, as far as matching reads it, from `_slim`."""
    if slim is None or after is None:
        return slim
    created = frozenset(slim["created"])
    attrs = {a: v for a, v in (after.get("attrs") or {}).items() if a not in created}
    attrs.update(slim["changed"])
    return {"id": after["id"], "attrs": attrs}


def load_subscriptions(docs: Iterable[tuple[str, bytes]]) -> list[Subscription]:
    """The matchable subscriptions among stored (id, doc) rows, in their order."""
    out = []
    for sub_id, doc in docs:
        try:
            sub = codec.from_json(doc)
        except Exception:  # one unreadable row must not stop the others
            log.exception("subscription %s cannot be loaded", sub_id)
            continue
        if matchable(sub):
            out.append(sub)
    return out


def expand(index: Index, payload: bytes) -> list[tuple[Subscription, Match]]:
    """The notifications a `Recorder` row holds for the subscriptions in `index`."""
    raw = orjson.loads(payload)
    now = raw["at"]
    out: list[tuple[Subscription, Match]] = []
    for _, slim, after, passed in raw["changes"]:
        for sub, match in match_change(index, _unslim(slim, after), after, now):
            if not filtered(sub) or sub.id in passed:
                out.append((sub, match))
    return out


def _filters_pass(
    probe: ChangeProbe, tenant: str, entity_id: str, sub: Subscription, after: EntityDoc | None
) -> bool:
    """q, geoQ and scopeQ, evaluated by the store on the entity as just written."""
    if not filtered(sub):
        return True
    if after is None:
        return True  # a deleted entity has nothing left to filter on
    query = EntityQuery(
        q=None if sub.q is None else sub.q.tree,
        scope_q=None if sub.scope_q is None else sub.scope_q.tree,
        geo=None if sub.geo_q is None else sub.geo_q.query,
    )
    return probe.entity_matches(tenant, entity_id, query)


def match_change(
    index: Index, before: EntityDoc | None, after: EntityDoc | None, now: str
) -> list[tuple[Subscription, Match]]:
    """(subscription, match) for every candidate whose selectors and triggers fit."""
    doc = after if after is not None else before
    assert doc is not None
    changes = attribute_changes(before, after)
    changed = set().union(*changes.values())
    per_dataset: dict[tuple[str, ...], Changes] = {}
    out: list[tuple[Subscription, Match]] = []
    for sub in index.candidates(doc["id"], _types(doc), changed):
        if not sub.is_active or (sub.expires_at is not None and sub.expires_at <= now):
            continue
        seen = changes
        if sub.dataset_ids is not None:
            seen = per_dataset.get(sub.dataset_ids) or per_dataset.setdefault(
                sub.dataset_ids, dataset_changes(before, after, changes, sub.dataset_ids)
            )
        fired = fire(sub, before, after, seen)
        if fired is not None:
            out.append((sub, Match(doc, fired[0], fired[1], _previous(sub, before, after, seen))))
    return out


def _previous(
    sub: Subscription, before: EntityDoc | None, after: EntityDoc | None, seen: Changes
) -> Previous | None:
    """showChanges: the old values of the attributes the change updated or deleted."""
    if not sub.notification.show_changes or before is None or after is None:
        return None
    names = seen["updated"] | seen["deleted"]
    shown = sub.notification.attributes
    if shown is not None:
        names &= frozenset(shown)
    return previous_values(before, names, sub.dataset_ids) or None


def attribute_changes(before: EntityDoc | None, after: EntityDoc | None) -> Changes:
    """Attribute IRIs created, updated (instances differ) and deleted by one change."""
    old = (before or {}).get("attrs") or {}
    new = (after or {}).get("attrs") or {}
    return {
        "created": frozenset(new.keys() - old.keys()),
        "updated": frozenset(a for a in new.keys() & old.keys() if new[a] != old[a]),
        "deleted": frozenset(old.keys() - new.keys()),
    }


def fire(
    sub: Subscription,
    before: EntityDoc | None,
    after: EntityDoc | None,
    changes: Changes,
) -> tuple[Trigger, tuple[str, ...]] | None:
    """The trigger a change fires for `sub` and the watched attributes it changed, or None."""
    triggers = sub.notification_trigger
    wanted = None if sub.watched_attributes is None else frozenset(sub.watched_attributes)
    seen = {k: v if wanted is None else v & wanted for k, v in changes.items()}
    # with watchedAttributes or datasetId, entity triggers need a change they select
    anything = wanted is None and sub.dataset_ids is None
    if after is None:
        if "entityDeleted" in triggers and (anything or seen["deleted"]):
            return "entityDeleted", _sorted(seen["deleted"])
        return None
    if before is None and "entityCreated" in triggers and (anything or seen["created"]):
        return "entityCreated", _sorted(seen["created"])
    if before is not None and "entityUpdated" in triggers:
        every = seen["created"] | seen["updated"] | seen["deleted"]
        if every:
            return "entityUpdated", _sorted(every)
    for trigger, kind in _PER_ATTRIBUTE:
        if trigger in triggers and seen[kind]:
            return trigger, _sorted(seen[kind])
    return None


_PER_ATTRIBUTE: tuple[tuple[Trigger, str], ...] = (
    ("attributeCreated", "created"),
    ("attributeUpdated", "updated"),
    ("attributeDeleted", "deleted"),
)


def _types(doc: EntityDoc) -> tuple[str, ...]:
    types = doc.get("type", ())
    return (types,) if isinstance(types, str) else tuple(types)


def _sorted(names: frozenset[str]) -> tuple[str, ...]:
    return tuple(sorted(names))
