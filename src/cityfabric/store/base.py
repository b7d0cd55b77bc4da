"""The narrow protocol every storage engine implements.

Engines know nothing of NGSI-LD semantics: they keep docs (see
`ngsild/model.py`), apply mutations computed by the services atomically, and
evaluate the query trees of `ngsild/query.py` and `ngsild/geo.py` in the
database. All writes go through `apply`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cityfabric.ngsild.errors import NgsiLdError
from cityfabric.ngsild.geo import GeoQuery
from cityfabric.ngsild.model import EntityDoc
from cityfabric.ngsild.query import QExpr, ScopeExpr, TypeExpr

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
