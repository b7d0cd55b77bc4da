"""Entity operations of the NGSI-LD API (clause 5.6-5.7) over any `Store`.

Payloads are parsed and checked here, turned into mutations (`ops.py`) and
applied by the store. The API layer resolves the @context and renders docs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from cityfabric.ngsild import ops
from cityfabric.ngsild.entity import (
    check_entity_id,
    check_name,
    now_iso,
    parse_attributes,
    parse_entity,
    parse_instance,
)
from cityfabric.ngsild.errors import (
    BadRequestData,
    NgsiLdError,
    ResourceNotFound,
)
from cityfabric.ngsild.model import VALUE_MEMBER, EntityDoc, Instance
from cityfabric.ngsild.tenants import KnownTenants
from cityfabric.store.base import EntityQuery, Mutation, QueryPage, Store, WriteResult

MAX_BATCH = 10_000  # entities in one batch operation


class Names(Protocol):
    """What the service needs of an @context: term expansion."""

    def expand(self, term: str) -> str: ...


@dataclass
class BatchResult:
    """Clause 5.2.16 BatchOperationResult, plus which ids were newly created."""

    success: list[str] = field(default_factory=list)
    errors: list[tuple[str, NgsiLdError]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)


class EntityService:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._tenants = KnownTenants(store)

    async def check_tenant(self, tenant: str) -> None:
        await self._tenants.check(tenant)

    async def _one(self, tenant: str, entity_id: str, mutation: Mutation) -> WriteResult:
        result = (await self.store.apply(tenant, [(entity_id, mutation)]))[0]
        if result.error is not None:
            raise result.error
        return result

    async def create(self, tenant: str, body: object, ctx: Names) -> str:
        doc = parse_entity(body, ctx.expand, now=now_iso())
        await self._one(tenant, doc["id"], ops.create(doc))
        return str(doc["id"])

    async def get(self, tenant: str, entity_id: str) -> EntityDoc:
        check_entity_id(entity_id)
        doc = await self.store.get(tenant, entity_id)
        if doc is None:
            await self.check_tenant(tenant)
            raise ResourceNotFound(f"entity {entity_id} does not exist")
        return doc

    async def query(self, tenant: str, query: EntityQuery) -> QueryPage:
        await self.check_tenant(tenant)
        return await self.store.query(tenant, query)

    async def delete(self, tenant: str, entity_id: str) -> None:
        check_entity_id(entity_id)
        await self._one(tenant, entity_id, ops.delete())

    def _body_for(self, entity_id: str, body: object) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise BadRequestData("the payload must be a JSON object")
        if "id" in body and body["id"] != entity_id:
            raise BadRequestData(f"payload id {body['id']!r} differs from the URL's {entity_id}")
        return {**body, "id": entity_id}

    async def replace(self, tenant: str, entity_id: str, body: object, ctx: Names) -> None:
        check_entity_id(entity_id)
        doc = parse_entity(
            self._body_for(entity_id, body), ctx.expand, now=now_iso(), need_type=False
        )
        await self._one(tenant, entity_id, ops.replace(doc))

    async def merge(self, tenant: str, entity_id: str, body: object, ctx: Names) -> None:
        check_entity_id(entity_id)
        patch = self._partial(entity_id, body, ctx)
        await self._one(tenant, entity_id, ops.merge(patch, patch["modifiedAt"]))

    def _partial(self, entity_id: str, body: object, ctx: Names) -> EntityDoc:
        """A fragment of an entity (merge-patch): types, scope and attributes, nulls kept."""
        full = self._body_for(entity_id, body)
        now = now_iso()
        head = {k: v for k, v in full.items() if k in ("id", "type", "scope")}
        doc = parse_entity(head, ctx.expand, now=now, need_type=False)
        rest = {
            k: v
            for k, v in full.items()
            if k not in ("id", "type", "scope", "@context", "createdAt", "modifiedAt")
        }
        doc["attrs"] = parse_attributes(rest, ctx.expand, allow_null=True)
        return doc

    def _attrs(self, body: object, ctx: Names) -> dict[str, list[Instance]]:
        if not isinstance(body, dict):
            raise BadRequestData("the payload must be a JSON object of attributes")
        fragment = {k: v for k, v in body.items() if k not in ("@context", "id", "type")}
        if not fragment:
            raise BadRequestData("the payload has no attributes")
        return parse_attributes(fragment, ctx.expand)

    async def append(
        self, tenant: str, entity_id: str, body: object, ctx: Names, *, no_overwrite: bool
    ) -> ops.AttrOutcome:
        check_entity_id(entity_id)
        now = now_iso()
        outcome = ops.AttrOutcome()
        mutation = ops.append(
            entity_id, self._attrs(body, ctx), now, no_overwrite=no_overwrite, outcome=outcome
        )
        await self._one(tenant, entity_id, mutation)
        return outcome

    async def update_attrs(
        self, tenant: str, entity_id: str, body: object, ctx: Names
    ) -> ops.AttrOutcome:
        check_entity_id(entity_id)
        now = now_iso()
        outcome = ops.AttrOutcome()
        await self._one(
            tenant,
            entity_id,
            ops.update(entity_id, self._attrs(body, ctx), now, outcome=outcome),
        )
        return outcome

    async def patch_attribute(
        self, tenant: str, entity_id: str, attr: str, body: object, ctx: Names
    ) -> None:
        check_entity_id(entity_id)
        name = check_name(attr)
        iri = ctx.expand(name)
        if not isinstance(body, dict) or not body:
            raise BadRequestData(
                "the payload must be a non-empty JSON object (an attribute fragment)"
            )
        fragment = {k: v for k, v in body.items() if k != "@context"}
        dataset_id = fragment.get("datasetId")
        now = now_iso()

        def make(old: Instance) -> Instance:
            raw = dict(fragment)
            kind = raw.get("type", old["type"])
            member = VALUE_MEMBER.get(str(kind), "value")
            if member not in raw and kind == old["type"]:
                raw["type"] = old["type"]
                raw[member] = old[VALUE_MEMBER[old["type"]]]
            return parse_instance(name, iri, raw, ctx.expand)

        await self._one(
            tenant, entity_id, ops.patch_attribute(entity_id, iri, make, dataset_id, now)
        )

    async def replace_attribute(
        self, tenant: str, entity_id: str, attr: str, body: object, ctx: Names
    ) -> None:
        check_entity_id(entity_id)
        name = check_name(attr)
        iri = ctx.expand(name)
        if not isinstance(body, dict):
            raise BadRequestData("the payload must be a JSON object (an attribute)")
        raw = {k: v for k, v in body.items() if k != "@context"}
        now = now_iso()
        inst = parse_instance(name, iri, raw, ctx.expand)
        await self._one(tenant, entity_id, ops.replace_attribute(entity_id, iri, inst, now))

    async def delete_attribute(
        self,
        tenant: str,
        entity_id: str,
        attr: str,
        ctx: Names,
        *,
        dataset_id: str | None,
        delete_all: bool,
    ) -> None:
        check_entity_id(entity_id)
        iri = ctx.expand(check_name(attr))
        if dataset_id is not None:
            check_entity_id(dataset_id, where="datasetId")
        await self._one(
            tenant,
            entity_id,
            ops.delete_attribute(entity_id, iri, dataset_id, delete_all, now_iso()),
        )

    # -- batch operations (clause 5.6.7 - 5.6.10, 5.6.20) --------------------------------

    async def batch(
        self,
        tenant: str,
        kind: Literal["create", "upsert", "update", "merge", "delete"],
        items: Sequence[tuple[object, Names]],
        *,
        upsert_mode: Literal["replace", "update"] = "replace",
        no_overwrite: bool = False,
    ) -> BatchResult:
        """Run a batch; each item comes with the @context it is to be read with."""
        result = BatchResult()
        planned: list[tuple[str, Mutation]] = []
        now = now_iso()
        for item, ctx in items:
            try:
                planned.append(self._plan(kind, item, ctx, now, upsert_mode, no_overwrite))
            except NgsiLdError as err:
                result.errors.append((_safe_id(item), err))
        for res in await self.store.apply(tenant, planned) if planned else []:
            if res.error is not None:
                result.errors.append((res.id, res.error))
            else:
                result.success.append(res.id)
                if res.before is None and res.after is not None:
                    result.created.append(res.id)
        return result

    def _plan(
        self,
        kind: str,
        item: object,
        ctx: Names,
        now: str,
        upsert_mode: Literal["replace", "update"],
        no_overwrite: bool,
    ) -> tuple[str, Mutation]:
        if kind == "delete":
            return check_entity_id(item), ops.delete()
        if kind == "merge":
            patch = self._partial(_item_id(item), item, ctx)
            return patch["id"], ops.merge(patch, now)
        doc = parse_entity(item, ctx.expand, now=now, need_type=kind != "update")
        if kind == "create":
            return doc["id"], ops.create(doc)
        if kind == "upsert":
            return doc["id"], ops.upsert(doc, upsert_mode)
        outcome = ops.AttrOutcome()
        return doc["id"], ops.append(
            doc["id"], doc["attrs"], now, no_overwrite=no_overwrite, outcome=outcome
        )


def check_batch(body: object) -> list[Any]:
    """The items of a batch payload: a non-empty JSON array within the size limit."""
    if not isinstance(body, list):
        raise BadRequestData("a batch operation takes a JSON array")
    if not body:
        raise BadRequestData("the batch is empty")
    if len(body) > MAX_BATCH:
        raise BadRequestData(
            f"a batch holds at most {MAX_BATCH} entities, got {len(body)}", status=413
        )
    return body


def _item_id(item: object) -> str:
    if isinstance(item, dict):
        return str(check_entity_id(item.get("id")))
    return str(check_entity_id(item))


def _safe_id(item: object) -> str:
    """The id to report an error against, whatever the item is."""
    value = item.get("id") if isinstance(item, dict) else item
    return value if isinstance(value, str) else ""
