"""showChanges (previous values, clause 5.2.14) and datasetId (instance selection).

Writer side, in the matcher: `dataset_changes` restricts a change to the attribute
instances of a subscription's datasetIds, and `previous_values` takes, for each
changed attribute that existed before, the value member of each old instance keyed
by datasetId ("@none" for the default instance). Both look at the changed
attributes only, and run only for subscriptions that ask for them.

Delivery side, in `payload.render_data`: `only_datasets` drops the other instances
from the entity, and `add_previous` writes previousValue, previousObject,
previousLanguageMap, previousValueList, previousObjectList, previousJson or
previousVocab (chosen by the kind the attribute had before) into the rendered
attributes. An attribute the change deleted is shown with the NGSI-LD Null
(`urn:ngsi-ld:null`) as its value beside its previous value.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any, Final, TypeAlias

from cityfabric.ngsild.model import VALUE_MEMBER, EntityDoc, Instance
from cityfabric.ngsild.render import Compact, View, pick_language

NONE: Final = "@none"  # the datasetId of the default instance
NULL: Final = "urn:ngsi-ld:null"

PREVIOUS: Final[dict[str, str]] = {
    "Property": "previousValue",
    "GeoProperty": "previousValue",
    "Relationship": "previousObject",
    "LanguageProperty": "previousLanguageMap",
    "ListProperty": "previousValueList",
    "ListRelationship": "previousObjectList",
    "JsonProperty": "previousJson",
    "VocabProperty": "previousVocab",
}
# how each kind writes the NGSI-LD Null (a deleted attribute)
_NULL_VALUE: Final[dict[str, Any]] = {
    "LanguageProperty": {NONE: NULL},
    "ListProperty": [NULL],
    "ListRelationship": [{"object": NULL}],
}
_VALUE_KEYS: Final = frozenset(VALUE_MEMBER.values())

Previous: TypeAlias = dict[str, dict[str, Instance]]
"""attribute IRI -> datasetId (or "@none") -> {"type": kind, <value member>: value}"""

Changes: TypeAlias = dict[str, frozenset[str]]
""""created" / "updated" / "deleted" -> attribute IRIs (see `matcher.attribute_changes`)"""


def dataset_of(inst: Instance) -> str:
    return str(inst.get("datasetId", NONE))


def _kept(instances: Iterable[Instance], wanted: Collection[str]) -> list[Instance]:
    return [i for i in instances if dataset_of(i) in wanted]


def dataset_changes(
    before: EntityDoc | None, after: EntityDoc | None, changes: Changes, ids: Collection[str]
) -> Changes:
    """`changes` counting only the instances whose datasetId is in `ids`."""
    old = (before or {}).get("attrs") or {}
    new = (after or {}).get("attrs") or {}
    out: dict[str, set[str]] = {"created": set(), "updated": set(), "deleted": set()}
    for iri in frozenset().union(*changes.values()):
        was, now = _kept(old.get(iri, ()), ids), _kept(new.get(iri, ()), ids)
        if now and not was:
            out["created"].add(iri)
        elif was and not now:
            out["deleted"].add(iri)
        elif was != now:
            out["updated"].add(iri)
    return {kind: frozenset(names) for kind, names in out.items()}


def previous_values(
    before: EntityDoc, names: Iterable[str], ids: Collection[str] | None = None
) -> Previous:
    """The old value of each attribute in `names` that existed before, per datasetId."""
    old = before.get("attrs") or {}
    out: Previous = {}
    for iri in names:
        values: dict[str, Instance] = {}
        for inst in old.get(iri, ()):
            member = VALUE_MEMBER.get(inst.get("type", ""))
            if member is not None and member in inst and (ids is None or dataset_of(inst) in ids):
                values[dataset_of(inst)] = {"type": inst["type"], member: inst[member]}
        if values:
            out[iri] = values
    return out


def only_datasets(doc: EntityDoc, ids: Collection[str]) -> EntityDoc:
    """A shallow copy of `doc` keeping the instances whose datasetId is in `ids`."""
    attrs = {}
    for iri, instances in doc["attrs"].items():
        kept = _kept(instances, ids)
        if kept:
            attrs[iri] = kept
    return {**doc, "attrs": attrs}


def add_previous(
    out: dict[str, Any], doc: EntityDoc, previous: Previous, compact: Compact, view: View
) -> None:
    """Write the previous values into `out`, the rendering of `doc` with `view`."""
    for iri, olds in previous.items():
        if view.attrs is not None and iri not in view.attrs:
            continue
        name = compact(iri)
        instances = doc["attrs"].get(iri)
        if instances is None:  # deleted by the change
            items = [_deleted(old, ds, compact, view) for ds, old in olds.items()]
        else:
            rendered = out[name] if len(instances) > 1 else [out[name]]
            items = [
                _attach(item, olds.get(dataset_of(inst)), compact, view)
                for item, inst in zip(rendered, instances, strict=True)
            ]
        out[name] = items[0] if len(items) == 1 else items


def _attach(item: Any, old: Instance | None, compact: Compact, view: View) -> Any:
    if old is None:  # this instance is new
        return item
    if not (isinstance(item, dict) and item.keys() & _VALUE_KEYS):
        item = {"value": item}  # a concise Property shown as its bare value
    else:
        item = dict(item)  # the rendering may share the stored instance
    member, value = _previous(old, compact, view, picked="lang" in item)
    item[member] = value
    return item


def _deleted(old: Instance, dataset: str, compact: Compact, view: View) -> dict[str, Any]:
    kind = old["type"]
    item: dict[str, Any] = {} if view.format == "concise" else {"type": kind}
    item[VALUE_MEMBER[kind]] = _NULL_VALUE.get(kind, NULL)
    if dataset != NONE:
        item["datasetId"] = dataset
    member, value = _previous(old, compact, view, picked=False)
    item[member] = value
    return item


def _previous(old: Instance, compact: Compact, view: View, *, picked: bool) -> tuple[str, Any]:
    """(member name, value) of an old instance as the view shows values."""
    kind = old["type"]
    value = old[VALUE_MEMBER[kind]]
    if kind == "LanguageProperty" and picked and view.lang is not None:
        return "previousValue", pick_language(value, view.lang)[0]  # shown as one language
    if kind == "ListRelationship":
        return PREVIOUS[kind], [{"object": o} for o in value]
    if kind == "VocabProperty":
        vocab = [compact(v) for v in value] if isinstance(value, list) else compact(value)
        return PREVIOUS[kind], vocab
    return PREVIOUS[kind], value
