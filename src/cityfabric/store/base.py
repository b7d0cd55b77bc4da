"""The narrow protocol every storage engine implements.

Engines know nothing of NGSI-LD semantics: they keep docs (see
`ngsild/model.py`), apply mutations computed by the services atomically, and
evaluate the query trees of `ngsild/query.py` and `ngsild/geo.py` in the
database. All writes go through `apply`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from cityfabric.ngsild.errors import NgsiLdError
from cityfabric.ngsild.geo import GeoQuery
from cityfabric.ngsild.model import EntityDoc, Instance
from cityfabric.ngsild.query import QExpr, ScopeExpr, TypeExpr
from cityfabric.ngsild.temporal import Aggregation, TimeFilter

DEFAULT_TENANT = ""

Mutation = Callable[[EntityDoc | None], EntityDoc | None]
"""Called by the engine with the current doc (None when the entity does not exist).

Returns the new doc, or None to delete the entity. Raising `NgsiLdError`
rejects this operation only: nothing is written for it and the error is
reported in its `WriteResult`. Mutations must be pure and must not mutate
their argument in place (copy first).
"""


@dataclass
class WriteResult:
    id: str
    error: NgsiLdError | None = None
    before: EntityDoc | None = None
    after: EntityDoc | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class EntityQuery:
    """Which entities to return; every filter is evaluated inside the database."""

    ids: tuple[str, ...] = ()
    id_pattern: str | None = None  # a regular expression searched in the id (re.search)
    types: TypeExpr | None = None  # expanded type IRIs
    attrs: tuple[str, ...] = ()  # entity must have at least one of these attribute IRIs
    q: QExpr | None = None  # expanded
    scope_q: ScopeExpr | None = None
    geo: GeoQuery | None = None
    limit: int = 20
    offset: int = 0
    count: bool = False


@dataclass
class QueryPage:
    docs: list[EntityDoc]
    count: int | None = None  # total matches when the query asked for count


@dataclass
class TypeSummary:
    type: str  # IRI
    count: int  # entities of that type
    attrs: dict[str, set[str]] = field(default_factory=dict)  # attribute IRI -> kinds seen


@dataclass
class AttributeSummary:
    name: str  # IRI
    count: int  # entities with it
    types: set[str] = field(default_factory=set)  # entity type IRIs that have it
    kinds: set[str] = field(default_factory=set)  # Property, Relationship, ...


@dataclass(frozen=True)
class HistoryQuery:
    """Which entities' history to return, which attributes, which instances or aggregates."""

    ids: tuple[str, ...] = ()
    id_pattern: str | None = None
    types: TypeExpr | None = None
    attrs: tuple[str, ...] = ()  # attribute IRIs; empty = all
    current: EntityQuery | None = None  # q / geoQ / scopeQ on the current entities
    time: TimeFilter = field(default_factory=TimeFilter)
    last_n: int | None = None
    max_instances: int = 10_000  # per attribute; more makes the answer partial
    aggregation: Aggregation | None = None
    use_rollups: bool = True
    with_series: bool = True  # False: the entities only
    limit: int = 20
    offset: int = 0
    count: bool = False


@dataclass
class SeriesHistory:
    """One attribute (one datasetId) of one entity over time."""

    attr: str  # IRI
    dataset_id: str | None
    instances: list[Instance] = field(default_factory=list)  # oldest first, instanceId set
    aggregates: dict[str, list[tuple[object, int, int]]] = field(default_factory=dict)
    kind: str = "Property"
    truncated: bool = False  # more instances matched than were returned
    first: int | None = None  # times (UTC ms) of the first and last returned instance
    last: int | None = None


@dataclass
class EntityHistory:
    id: str
    types: list[str]
    series: list[SeriesHistory] = field(default_factory=list)


@dataclass
class HistoryPage:
    entities: list[EntityHistory]
    count: int | None = None


@dataclass(frozen=True)
class ChangeQuery:
    """History recorded since a change-feed cursor, for one entity type and some attributes.

    The feed numbers every write transaction's series in commit order; `after` is the last
    number already consumed (0: from the oldest kept). Whole feed rows are taken until
    `max_instances` is reached (at least one row), so `ChangePage.cursor` is exact.
    """

    entity_type: str  # IRI
    attrs: tuple[str, ...]  # attribute IRIs
    after: int = 0
    before_ms: int | None = None  # only what was committed before this time (UTC ms)
    max_instances: int = 10_000


class Recorded(NamedTuple):
    """One recorded instance: observedAt (else modifiedAt) in UTC ms and its value."""

    ts: int
    value: object
    observed: bool  # the instance has an observedAt


@dataclass
class ChangedSeries:
    entity_id: str
    attr: str  # IRI
    dataset_id: str | None
    instances: list[Recorded] = field(default_factory=list)  # by time within each write


@dataclass
class ChangePage:
    series: list[ChangedSeries]
    cursor: int  # pass as `after` to continue
    more: bool  # more was recorded after `cursor` (within `before_ms`)


KvItem = tuple[str, bytes | None]
"""(key, value) of the key/value side table; a None value deletes the key."""


class Store(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def tenant_exists(self, tenant: str) -> bool:
        """The default tenant ("") always exists; others once written to."""
        ...

    async def tenants(self) -> list[str]: ...

    async def get(self, tenant: str, entity_id: str) -> EntityDoc | None: ...

    async def apply(self, tenant: str, ops: Sequence[tuple[str, Mutation]]) -> list[WriteResult]:
        """Run the mutations in order and commit them; one result per op, in order.

        A later op on the same id sees the result of an earlier one. The call
        returns only once the transaction holding the successful ops is
        durable. The tenant is created by its first successful write.
        """
        ...

    async def query(self, tenant: str, query: EntityQuery) -> QueryPage:
        """Matching docs ordered by creation (stable for paging), limit/offset applied."""
        ...

    async def type_summaries(self, tenant: str) -> list[TypeSummary]: ...

    async def attribute_summaries(self, tenant: str) -> list[AttributeSummary]: ...

    # -- history (the temporal API) ----------------------------------------------------

    async def history(self, tenant: str, query: HistoryQuery) -> HistoryPage:
        """Entities with history, in the order they first got history, one page."""
        ...

    async def add_history(
        self,
        tenant: str,
        entity_id: str,
        types: list[str],
        instances: Sequence[tuple[str, Instance]],
        now: str,
    ) -> bool:
        """Append instances (attribute IRI, instance); True when the entity had no history."""
        ...

    async def delete_history(
        self, tenant: str, entity_id: str, attr: str | None = None, dataset_id: str | None = ""
    ) -> None:
        """Delete all of an entity's history, or one attribute's (dataset_id None: all)."""
        ...

    async def replace_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str, inst: Instance, now: str
    ) -> None: ...

    async def delete_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str
    ) -> None: ...

    async def set_retention(self, tenant: str, rules: dict[str, int]) -> None:
        """Raw history retention in ms per entity type IRI ("" = every other type)."""
        ...

    async def retention(self, tenant: str) -> dict[str, int]: ...

    async def expire_history(self, now: int, default_ms: int | None = None) -> int:
        """Delete raw instances past their retention; roll-ups stay. Returns how many."""
        ...

    async def history_changes(self, tenant: str, query: ChangeQuery) -> ChangePage:
        """The instances of the query's series recorded after its cursor (the change feed).

        Reads only the series that changed and only their rows written by those transactions.
        Feed rows older than the store's feed retention are pruned by `expire_history`.
        """
        ...

    # -- a small key/value side table (workers' state) --------------------------------

    async def kv_get_many(
        self, tenant: str, namespace: str, keys: Sequence[str]
    ) -> dict[str, bytes]:
        """The stored values of those keys that exist."""
        ...

    async def kv_put_many(self, tenant: str, namespace: str, items: Sequence[KvItem]) -> None:
        """Write (or, for None, delete) every item in one transaction."""
        ...

    async def kv_scan(
        self, tenant: str, namespace: str, prefix: str, after: str, limit: int
    ) -> list[tuple[str, bytes]]:
        """Up to `limit` items whose key starts with `prefix` and sorts after `after`, in key
        order (page by passing the last key as `after`)."""
        ...

    # -- subscriptions (the docs are opaque here: `notify` owns their format) ----------

    async def create_subscription(
        self,
        tenant: str,
        subscription_id: str,
        doc: bytes,
        types: frozenset[str] | None,
        attrs: frozenset[str] | None,
    ) -> None:
        """Store a new subscription with zeroed counters; AlreadyExists when the id is taken.

        `types` and `attrs` are the matcher's index keys (entity type IRIs, watched
        attribute IRIs; None: any). The tenant is created by its first write.
        """
        ...

    async def replace_subscription(
        self,
        tenant: str,
        subscription_id: str,
        doc: bytes,
        types: frozenset[str] | None,
        attrs: frozenset[str] | None,
        *,
        expected: bytes | None = None,
    ) -> bool:
        """Replace a subscription's doc and keys; its counters and list position stay.

        ResourceNotFound when it does not exist. With `expected`, write only if the stored
        doc is still `expected` (compare-and-set); returns whether it was written.
        """
        ...

    async def get_subscription(
        self, tenant: str, subscription_id: str
    ) -> tuple[bytes, SubscriptionCounters] | None: ...

    async def list_subscriptions(
        self, tenant: str, limit: int, offset: int, count: bool
    ) -> tuple[list[tuple[bytes, SubscriptionCounters]], int | None]:
        """One page in creation order, and the tenant's total when `count`."""
        ...

    async def delete_subscription(self, tenant: str, subscription_id: str) -> None:
        """Delete a subscription and its counters; ResourceNotFound when it does not exist."""
        ...

    async def subscriptions_version(self) -> int:
        """Grows with every subscription create, replace and delete in any tenant."""
        ...


@dataclass(frozen=True)
class SubscriptionCounters:
    """A subscription's delivery counters and times (`notify.model.SubscriptionStatus`)."""

    times_sent: int = 0
    times_failed: int = 0
    last_notification: str | None = None
    last_success: str | None = None
    last_failure: str | None = None
    failure_reason: str | None = None


# -- the notification outbox (change hook, queue, delivery settlement) ----------------

Change = tuple[str, str, EntityDoc | None, EntityDoc | None]
"""(tenant, entity id, doc before, doc after) of one successful mutation; None: absent."""

OutboxRow = tuple[str, str, bytes]
"""(tenant, subscription id, payload) queued for delivery; the payload is opaque here."""


class ChangeProbe(Protocol):
    """What a change hook may read inside the writer's transaction (it sees the changes)."""

    def version(self) -> int:
        """The current `subscriptions_version` (reload cached subscriptions when it moves)."""
        ...

    def subscriptions(self, tenant: str) -> list[tuple[str, bytes]]:
        """Every subscription of the tenant: (id, doc bytes)."""
        ...

    def entity_matches(self, tenant: str, entity_id: str, query: EntityQuery) -> bool:
        """Whether the entity as just written matches q / geo / scope_q of `query`."""
        ...


ChangeHook = Callable[[ChangeProbe, Sequence[Change]], list[OutboxRow]]
"""Called by the writer after a group's entity changes, in the same transaction.

The rows it returns are queued in the outbox and committed with the changes. An
exception is logged and queues nothing for that group: the write itself is kept.
"""


class OutboxItem(NamedTuple):
    """One queued notification (one entity change for one subscription); a tuple: cheap to
    make by the thousand in the writer and to pickle for the delivery process."""

    oid: int
    tenant: str
    subscription_id: str
    payload: bytes
    attempts: int  # failed deliveries so far
    created_at: int  # UTC ms


@dataclass(frozen=True)
class DeliveryStatus:
    """Counter increments and latest times (None: unchanged) for one subscription."""

    tenant: str
    subscription_id: str
    sent: int = 0
    failed: int = 0
    last_notification: str | None = None
    last_success: str | None = None
    last_failure: str | None = None
    failure_reason: str | None = None


@dataclass
class Settlement:
    """The outcome of delivering claimed outbox rows, written in one transaction."""

    delivered: list[int] = field(default_factory=list)  # oids to delete
    retry: list[tuple[int, int]] = field(default_factory=list)  # (oid, next_at ms), +1 attempt
    defer: list[tuple[int, int]] = field(default_factory=list)  # (oid, next_at ms), not tried
    dropped: list[int] = field(default_factory=list)  # oids given up on
    statuses: list[DeliveryStatus] = field(default_factory=list)
    # new rows: (tenant, subscription id, payload, attempts, next_at ms, created_at ms)
    queue: list[tuple[str, str, bytes, int, int, int]] = field(default_factory=list)


@dataclass(frozen=True)
class Push:
    """Rows the change hook queues go in already claimed, until `claimed_until()` (ms on
    the delivery worker's clock, as leases of `due_notifications`), and `to` gets them
    (from the writing thread) once they are committed: the delivery worker of the process
    that wrote them sends them without claiming them first."""

    claimed_until: Callable[[], int]
    to: Callable[[list[OutboxItem]], None]

    def hand(self, items: list[OutboxItem]) -> None:
        """Give `to` the rows; should it fail, they are sent when their lease ends."""
        try:
            self.to(items)
        except Exception:
            logging.getLogger(__name__).exception(
                "%d queued notifications could not be handed over", len(items)
            )


class OutboxClaims(Protocol):
    """What a delivery worker needs of the outbox: matches queued, claimed and settled."""

    def set_change_hook(
        self,
        hook: ChangeHook | None,
        on_queued: Callable[[], None] | None = None,
        push: Push | None = None,
    ) -> None:
        """Install the hook; `on_queued` is called (from any thread) after a commit queued
        rows, unless `push` took them."""
        ...

    async def due_notifications(self, now_ms: int, limit: int, lease_ms: int) -> list[OutboxItem]:
        """Claim up to `limit` rows due at `now_ms`, oldest first: hidden for `lease_ms`.

        A row claimed by a process that dies becomes due again when its lease ends.
        """
        ...

    async def settle_notifications(self, settlement: Settlement) -> None:
        """Delete, reschedule or drop claimed rows, queue new ones and update the status
        counters, in one transaction."""
        ...


class OutboxStore(OutboxClaims, Protocol):
    """The engine side of at-least-once notification delivery."""

    async def queue_notifications(
        self,
        tenant: str,
        subscription_id: str,
        payloads: Sequence[bytes],
        *,
        last_notification: str | None,
        now_ms: int,
    ) -> bool:
        """Queue rows for one subscription (periodic notifications); whether they were.

        Only when none of its rows is queued and its last_notification is still
        `last_notification`, both checked in the transaction of the insert: several
        processes, or a slow endpoint, never get one period queued twice.
        """
        ...
