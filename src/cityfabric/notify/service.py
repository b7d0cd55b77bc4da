"""Subscription operations of the NGSI-LD API (clause 5.8) over any `Store`.

Bodies are parsed and checked by `parse.py`; the store keeps each subscription as
opaque bytes (`codec.py`) beside the matcher's index keys (`model.watched`) and its
delivery counters. The API layer resolves the @context and renders with `render.py`.

A tenant is created by its first write (a subscription or an entity). Every other
operation on a tenant that does not exist answers NonexistentTenant.

PATCH reads, merges and writes back with compare-and-set, so two concurrent PATCHes
of one subscription both take effect (the later one is re-applied on the other's
result) instead of one silently undoing the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, NoReturn

from cityfabric.ngsild.entity import is_uri, now_iso
from cityfabric.ngsild.errors import (
    BadRequestData,
    InternalError,
    ResourceNotFound,
)
from cityfabric.ngsild.querybuild import DEFAULT_LIMIT, parse_page
from cityfabric.ngsild.tenants import KnownTenants
from cityfabric.notify import codec
from cityfabric.notify.members import Names
from cityfabric.notify.model import Subscription, SubscriptionStatus, watched
from cityfabric.notify.parse import parse_subscription, patch_subscription
from cityfabric.store.base import Store, SubscriptionCounters

PATCH_ATTEMPTS: Final = 16  # compare-and-set rounds before giving up on a contended PATCH

Found = tuple[Subscription, SubscriptionStatus]


@dataclass(frozen=True)
class Paging:
    """Which page of subscriptions to list (limit, offset) and whether to count them all."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0
    count: bool = False


def paging(limit: str | None, offset: str | None, count: bool) -> Paging:
    """The limit, offset and count parameters, checked as for entity queries."""
    return Paging(*parse_page(limit, offset, count), count)


def check_subscription_id(value: str) -> str:
    """`value` if it is a URI (the id in a request path), else BadRequestData."""
    if not is_uri(value):
        raise BadRequestData(
            f"a subscription id must be a URI such as 'urn:ngsi-ld:Subscription:001', got {value!r}"
        )
    return value


def status_of_counters(counters: SubscriptionCounters) -> SubscriptionStatus:
    """The store's counters row as the model's status."""
    return SubscriptionStatus(
        times_sent=counters.times_sent,
        times_failed=counters.times_failed,
        last_notification=counters.last_notification,
        last_success=counters.last_success,
        last_failure=counters.last_failure,
        failure_reason=counters.failure_reason,
    )


class SubscriptionService:
    """Create, read, list, patch and delete subscriptions; `clock` stamps and expires them."""

    def __init__(self, store: Store, clock: Callable[[], str] = now_iso) -> None:
        self.store = store
        self.clock = clock
        self._tenants = KnownTenants(store)

    async def create(self, tenant: str, body: object, ctx: Names) -> str:
        """Store a new subscription (clause 5.8.1); returns its id (generated when absent)."""
        sub = parse_subscription(body, ctx, now=self.clock())
        await self.store.create_subscription(tenant, sub.id, codec.to_json(sub), *watched(sub))
        self._tenants.add(tenant)
        return sub.id

    async def get(self, tenant: str, subscription_id: str) -> Found:
        """One subscription and its status (clause 5.8.3)."""
        check_subscription_id(subscription_id)
        found = await self.store.get_subscription(tenant, subscription_id)
        if found is None:
            await self._not_found(tenant, subscription_id)
        return codec.from_json(found[0]), status_of_counters(found[1])

    async def list(self, tenant: str, page: Paging) -> tuple[list[Found], int | None]:
        """One page of the tenant's subscriptions in creation order (clause 5.8.4)."""
        await self._check_tenant(tenant)
        rows, total = await self.store.list_subscriptions(
            tenant, page.limit, page.offset, page.count
        )
        return [(codec.from_json(doc), status_of_counters(c)) for doc, c in rows], total

    async def patch(self, tenant: str, subscription_id: str, body: object, ctx: Names) -> None:
        """Merge a fragment into a subscription (clause 5.8.2); the result is checked whole."""
        check_subscription_id(subscription_id)
        for _ in range(PATCH_ATTEMPTS):
            found = await self.store.get_subscription(tenant, subscription_id)
            if found is None:
                await self._not_found(tenant, subscription_id)
            sub = patch_subscription(codec.from_json(found[0]), body, ctx, now=self.clock())
            try:
                written = await self.store.replace_subscription(
                    tenant,
                    subscription_id,
                    codec.to_json(sub),
                    *watched(sub),
                    expected=found[0],
                )
            except ResourceNotFound:  # deleted since it was read
                await self._not_found(tenant, subscription_id)
            if written:
                return
        raise InternalError(
            f"subscription {subscription_id} kept changing while this update was applied; "
            "try again",
            status=503,
        )

    async def delete(self, tenant: str, subscription_id: str) -> None:
        """Delete a subscription (clause 5.8.5)."""
        check_subscription_id(subscription_id)
        try:
            await self.store.delete_subscription(tenant, subscription_id)
        except ResourceNotFound:
            await self._not_found(tenant, subscription_id)

    async def _check_tenant(self, tenant: str) -> None:
        await self._tenants.check(tenant)

    async def _not_found(self, tenant: str, subscription_id: str) -> NoReturn:
        """Raise ResourceNotFound, or NonexistentTenant when the tenant is unknown."""
        await self._check_tenant(tenant)
        raise ResourceNotFound(f"subscription {subscription_id} does not exist")
