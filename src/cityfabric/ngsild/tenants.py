"""Which tenants exist (clause 6.3.14), remembered once seen: tenants are never removed."""

from __future__ import annotations

from cityfabric.ngsild.errors import NonexistentTenant
from cityfabric.store.base import Store


class KnownTenants:
    """NonexistentTenant for a tenant nothing was ever written to; one store lookup per tenant."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._seen: set[str] = set()

    async def check(self, tenant: str) -> None:
        if tenant in self._seen:
            return
        if not await self.store.tenant_exists(tenant):
            raise NonexistentTenant(f"tenant {tenant!r} does not exist")
        self._seen.add(tenant)

    def add(self, tenant: str) -> None:
        """A tenant this process just wrote to."""
        self._seen.add(tenant)
