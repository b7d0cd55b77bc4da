"""The change hook: which subscriptions a group of entity changes notifies.

Runs on the store's writer thread, inside the transaction of the changes (see
`store.base.ChangeHook`), so its matches are queued atomically with them. Parsed
subscriptions are cached per tenant and reloaded when `subscriptions_version` moves.

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
  query compiler (not for deletions: the entity is gone);
- showChanges queues the previous values of the updated and deleted attributes
  (taken from the doc before the change, only for subscriptions that ask for them);
- inactive, expired and periodic (timeInterval) subscriptions are not matched
  (`periodic.py` notifies the latter); HTTP and MQTT endpoints alike are.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from cityfabric.ngsild.entity import now_iso
from cityfabric.ngsild.model import EntityDoc
from cityfabric.notify import codec
from cityfabric.notify.changes import Changes, Previous, dataset_changes, previous_values
from cityfabric.notify.index import Index
from cityfabric.notify.model import Subscription, Trigger
from cityfabric.notify.payload import Match
from cityfabric.store.base import Change, ChangeProbe, EntityQuery, OutboxRow

log = logging.getLogger(__name__)


def matchable(sub: Subscription) -> bool:
    """Whether changes can notify `sub` at all (activity and expiry are checked per change)."""
    return sub.time_interval is None


class Matcher:
    """`ChangeHook`: queue one outbox row per (matching subscription, change)."""

    def __init__(self, clock: Callable[[], str] = now_iso) -> None:
        self.clock = clock
        self._version = -1
        self._indexes: dict[str, Index] = {}

    def __call__(self, probe: ChangeProbe, changes: Sequence[Change]) -> list[OutboxRow]:
        version = probe.version()
        if version != self._version:
            self._indexes.clear()
            self._version = version
        now = self.clock()
        rows: list[OutboxRow] = []
        for tenant, entity_id, before, after in changes:
            index = self._index(probe, tenant)
            if index.size == 0 or (before is None and after is None):
                continue
            for sub, match in match_change(index, before, after, now):
                if _filters_pass(probe, tenant, entity_id, sub, after):
                    rows.append((tenant, sub.id, match.encode()))
        return rows

    def _index(self, probe: ChangeProbe, tenant: str) -> Index:
        index = self._indexes.get(tenant)
        if index is None:
            index = self._indexes[tenant] = Index()
            for sub_id, doc in probe.subscriptions(tenant):
                try:
                    sub = codec.from_json(doc)
                except Exception:  # one unreadable row must not stop the others
                    log.exception("subscription %s cannot be loaded", sub_id)
                    continue
                if matchable(sub):
                    index.add(sub)
        return index


def _filters_pass(
    probe: ChangeProbe, tenant: str, entity_id: str, sub: Subscription, after: EntityDoc | None
) -> bool:
    """q, geoQ and scopeQ, evaluated by the store on the entity as just written."""
    if sub.q is None and sub.geo_q is None and sub.scope_q is None:
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
