"""The NGSI-LD write operations as pure mutations of stored docs (clause 5.6).

Each function returns a `store.base.Mutation`: the store calls it with the
current doc inside its write transaction, so read-modify-write is atomic.
Operations that report per-attribute outcomes fill an `AttrOutcome`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from cityfabric.ngsild.errors import AlreadyExists, ResourceNotFound
from cityfabric.ngsild.model import INSTANCE_KEYS, EntityDoc, Instance
from cityfabric.store.base import Mutation

PatchMaker = Callable[[Instance], Instance]


@dataclass
class AttrOutcome:
    """Attributes (IRIs) an operation changed, and those it left alone with the reason."""

    updated: list[str] = field(default_factory=list)
    not_updated: list[tuple[str, str]] = field(default_factory=list)


def _missing(entity_id: str) -> ResourceNotFound:
    return ResourceNotFound(f"entity {entity_id} does not exist")


def _copy(doc: EntityDoc) -> EntityDoc:
    out = dict(doc)
    out["attrs"] = dict(doc["attrs"])
    return out


def _touch(doc: EntityDoc, now: str) -> EntityDoc:
    doc["modifiedAt"] = now
    return doc


def create(new: EntityDoc) -> Mutation:
    def mutate(cur: EntityDoc | None) -> EntityDoc:
        if cur is not None:
            raise AlreadyExists(f"entity {new['id']} already exists")
        return new

    return mutate


def delete() -> Mutation:
    def mutate(cur: EntityDoc | None) -> None:
        if cur is None:
            raise ResourceNotFound("entity does not exist")
        return None

    return mutate


def replace(new: EntityDoc) -> Mutation:
    """PUT /entities/{id}: everything but the id and createdAt is replaced."""

    def mutate(cur: EntityDoc | None) -> EntityDoc:
        if cur is None:
            raise _missing(new["id"])
        out = _renewed(new, cur)
        out.setdefault("type", cur["type"])
        return out

    return mutate


def upsert(new: EntityDoc, mode: Literal["replace", "update"]) -> Mutation:
    """Batch upsert: create, or replace (default) / update the existing entity."""

    def mutate(cur: EntityDoc | None) -> EntityDoc:
        if cur is None:
            return new
        if mode == "replace":
            return _renewed(new, cur)
        doc = _copy(cur)
        _merge_types(doc, new)
        for iri, instances in new["attrs"].items():
            put(doc, iri, instances, new["modifiedAt"])
        return _touch(doc, new["modifiedAt"])

    return mutate


def _merge_types(doc: EntityDoc, new: EntityDoc) -> None:
    for t in new.get("type", []):
        if t not in doc["type"]:
            doc["type"] = [*doc["type"], t]
    if "scope" in new:
        doc["scope"] = new["scope"]


def merge(patch: EntityDoc, now: str) -> Mutation:
    """PATCH /entities/{id} (merge-patch): add or merge attributes; empty lists delete."""

    def mutate(cur: EntityDoc | None) -> EntityDoc:
        if cur is None:
            raise _missing(patch["id"])
        doc = _copy(cur)
        _merge_types(doc, patch)
        for iri, instances in patch["attrs"].items():
            if not instances:
                doc["attrs"].pop(iri, None)
                continue
            put(doc, iri, instances, now, merge=True)
        return _touch(doc, now)

    return mutate


def append(
    entity_id: str,
    attrs: dict[str, list[Instance]],
    now: str,
    *,
    no_overwrite: bool,
    outcome: AttrOutcome,
) -> Mutation:
    """POST /entities/{id}/attrs: add attributes, overwriting unless `no_overwrite`."""

    def refuse(have: set[str | None], instances: list[Instance]) -> str | None:
        if no_overwrite and any(i.get("datasetId") in have for i in instances):
            return "attribute exists and noOverwrite is set"
        return None

    return _put_each(entity_id, attrs, now, outcome, refuse)


def update(
    entity_id: str, attrs: dict[str, list[Instance]], now: str, *, outcome: AttrOutcome
) -> Mutation:
    """PATCH /entities/{id}/attrs: replace existing attributes only."""

    def refuse(have: set[str | None], instances: list[Instance]) -> str | None:
        if not have or any(i.get("datasetId") not in have for i in instances):
            return "attribute (or its datasetId) does not exist"
        return None

    return _put_each(entity_id, attrs, now, outcome, refuse)


Refusal = Callable[[set[str | None], list[Instance]], str | None]


def _put_each(
    entity_id: str,
    attrs: dict[str, list[Instance]],
    now: str,
    outcome: AttrOutcome,
    refuse: Refusal,
) -> Mutation:
    """Put each attribute unless `refuse` (given the datasetIds it has) gives a reason."""

    def mutate(cur: EntityDoc | None) -> EntityDoc:
        if cur is None:
            raise _missing(entity_id)
        doc = _copy(cur)
        for iri, instances in attrs.items():
            have = {i.get("datasetId") for i in doc["attrs"].get(iri, [])}
            reason = refuse(have, instances)
            if reason is not None:
                outcome.not_updated.append((iri, reason))
                continue
            put(doc, iri, instances, now)
            outcome.updated.append(iri)
        return _touch(doc, now)

    return mutate


def patch_attribute(
    entity_id: str, iri: str, make: PatchMaker, dataset_id: str | None, now: str
) -> Mutation:
    """PATCH /entities/{id}/attrs/{attrId}: merge a fragment into one instance.

    `make(existing)` builds the new instance from the fragment and the existing
    instance (so a fragment may carry only metadata or only a value).
    """

    def mutate(cur: EntityDoc | None) -> EntityDoc:
        if cur is None:
            raise _missing(entity_id)
        new = make(_find(cur, iri, dataset_id))
        doc = _copy(cur)
        put(doc, iri, [new], now, merge=True)
        return _touch(doc, now)

    return mutate


def replace_attribute(entity_id: str, iri: str, new: Instance, now: str) -> Mutation:
    """PUT /entities/{id}/attrs/{attrId}: replace one instance (same datasetId)."""

    def mutate(cur: EntityDoc | None) -> EntityDoc:
        if cur is None:
            raise _missing(entity_id)
        _find(cur, iri, new.get("datasetId"))
        doc = _copy(cur)
        put(doc, iri, [new], now)
        return _touch(doc, now)

    return mutate


def delete_attribute(
    entity_id: str, iri: str, dataset_id: str | None, delete_all: bool, now: str
) -> Mutation:
    """DELETE /entities/{id}/attrs/{attrId}: one instance, or all with deleteAll."""

    def mutate(cur: EntityDoc | None) -> EntityDoc:
        if cur is None:
            raise _missing(entity_id)
        doc = _copy(cur)
        if delete_all:
            if iri not in cur["attrs"]:
                raise ResourceNotFound(f"entity {entity_id} has no attribute {iri}")
            del doc["attrs"][iri]
        else:
            _find(cur, iri, dataset_id)
            rest = [i for i in cur["attrs"][iri] if i.get("datasetId") != dataset_id]
            if rest:
                doc["attrs"][iri] = rest
            else:
                del doc["attrs"][iri]
        return _touch(doc, now)

    return mutate


def _find(doc: EntityDoc, iri: str, dataset_id: str | None) -> Instance:
    instances: list[Instance] = doc["attrs"].get(iri, [])
    for inst in instances:
        if inst.get("datasetId") == dataset_id:
            return inst
    which = f" with datasetId {dataset_id}" if dataset_id else ""
    raise ResourceNotFound(f"entity {doc['id']} has no attribute {iri}{which}")


def put(
    doc: EntityDoc, iri: str, instances: list[Instance], now: str, *, merge: bool = False
) -> None:
    """Put instances of `iri` into `doc` (a copy) at time `now`.

    The instance with the same datasetId is replaced (or merge-patched with
    `merge`), keeping its createdAt; the others are added.
    """
    created = doc["createdAt"]
    out = list(doc["attrs"].get(iri, []))
    index = {i.get("datasetId"): n for n, i in enumerate(out)}
    for new in instances:
        inst = fresh(new, now, created)
        n = index.get(inst.get("datasetId"))
        if n is None:
            index[inst.get("datasetId")] = len(out)
            out.append(inst)
        elif merge:
            out[n] = merge_instance(out[n], inst, now)
        else:
            out[n] = _replaced(out[n], inst, now)
    doc["attrs"][iri] = out


def fresh(inst: Instance, now: str, created: str) -> Instance:
    """An instance (and its sub-attributes) made at `now` in an entity created at `created`.

    Timestamps equal to the entity's createdAt are left out (see model.py).
    """
    if now == created:
        return inst
    out = {k: (v if k in INSTANCE_KEYS else fresh(v, now, created)) for k, v in inst.items()}
    out["createdAt"] = now
    out["modifiedAt"] = now
    return out


def _replaced(old: Instance, new: Instance, now: str) -> Instance:
    out = dict(new)
    if "createdAt" in old:
        out["createdAt"] = old["createdAt"]
    else:
        out.pop("createdAt", None)
    out["modifiedAt"] = now
    return out


def _renewed(new: EntityDoc, cur: EntityDoc) -> EntityDoc:
    """`new` replacing `cur`: same createdAt, every attribute instance made now."""
    now, created = new["modifiedAt"], cur["createdAt"]
    out = dict(new)
    out["createdAt"] = created
    out["attrs"] = {
        iri: [fresh(i, now, created) for i in instances] for iri, instances in new["attrs"].items()
    }
    return out


def merge_instance(old: Instance, new: Instance, now: str) -> Instance:
    """Merge-patch of one instance: new members win, sub-attributes merge recursively."""
    if old.get("type") != new.get("type"):
        return _replaced(old, new, now)
    out = copy.copy(old)
    for key, value in new.items():
        if key == "createdAt":
            continue
        if key not in INSTANCE_KEYS and isinstance(old.get(key), dict):
            out[key] = merge_instance(old[key], value, now)
        else:
            out[key] = value
    out["modifiedAt"] = now
    return out
