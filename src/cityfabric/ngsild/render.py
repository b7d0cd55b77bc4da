"""Stored docs out to the caller: compaction, representations, projection, languages.

Representations (GS CIM 009 clause 4.5): normalized, concise and simplified
(keyValues); `pick`/`omit`/`attrs` projection; `sysAttrs`; `lang` (clause 4.15);
and GeoJSON features (clause 4.5.16).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Literal

from cityfabric.ngsild.model import LOCATION, VALUE_MEMBER, EntityDoc, Instance

Compact = Callable[[str], str]
Format = Literal["normalized", "concise", "keyValues"]

_META_OUT = ("observedAt", "unitCode", "datasetId")
_SYS = ("createdAt", "modifiedAt")


@dataclass(frozen=True)
class View:
    """How to show an entity: representation and projection (attribute IRIs)."""

    format: Format = "normalized"
    sys_attrs: bool = False
    attrs: frozenset[str] | None = None  # keep only these attributes (pick/attrs)
    omit: frozenset[str] = field(default_factory=frozenset)
    entity_members: frozenset[str] | None = None  # pick/omit of id, type, scope
    lang: str | None = None


def render_entity(doc: EntityDoc, compact: Compact, view: View) -> dict[str, Any]:
    """The entity as the caller asked for it, compacted with `compact`.

    The result may share objects with `doc`: pass a doc nobody else uses (the
    store hands out fresh ones).
    """
    out: dict[str, Any] = {}
    members = view.entity_members
    if members is None or "id" in members:
        out["id"] = doc["id"]
    if members is None or "type" in members:
        types = [compact(t) for t in doc.get("type", [])]
        out["type"] = types[0] if len(types) == 1 else types
    if "scope" in doc and (members is None or "scope" in members):
        scope = doc["scope"]
        out["scope"] = scope[0] if len(scope) == 1 else scope
    if view.sys_attrs and view.format != "keyValues":
        out["createdAt"] = doc["createdAt"]
        out["modifiedAt"] = doc["modifiedAt"]
    for iri, instances in doc["attrs"].items():
        if (view.attrs is not None and iri not in view.attrs) or iri in view.omit:
            continue
        rendered = [render_instance(i, compact, view, doc["createdAt"]) for i in instances]
        out[compact(iri)] = rendered[0] if len(rendered) == 1 else rendered
    return out


_VERBATIM = frozenset(
    {
        "type",
        "value",
        "object",
        "languageMap",
        "valueList",
        "json",
        "observedAt",
        "unitCode",
        "datasetId",
    }
)


def render_instance(inst: Instance, compact: Compact, view: View, created: str) -> Any:
    """One attribute instance in the view's representation.

    `created` is the entity's createdAt, the default of the instance's
    timestamps (see model.py).
    """
    if view.format == "keyValues":
        return _simplified(inst, compact, view.lang)
    if not view.sys_attrs and view.lang is None and inst.keys() <= _VERBATIM:
        # the common case: nothing to compact or drop; docs are the caller's own copies
        return _concise(dict(inst)) if view.format == "concise" else inst
    if view.lang is not None and inst["type"] == "LanguageProperty":
        text, tag = pick_language(inst["languageMap"], view.lang)
        return _finish({"type": "Property", "value": text, "lang": tag}, view)
    out: dict[str, Any] = {}
    for key, value in inst.items():
        if key in _VERBATIM:
            out[key] = value
        elif key in _SYS:
            pass
        elif key == "objectList":
            out[key] = [{"object": o} for o in value]
        elif key in ("vocab", "objectType"):
            out[key] = _vocab_out(value, compact)
        else:  # a sub-attribute
            out[compact(key)] = render_instance(value, compact, view, created)
    if view.sys_attrs:
        out["createdAt"] = inst.get("createdAt", created)
        out["modifiedAt"] = inst.get("modifiedAt", created)
    return _finish(out, view)


def _finish(out: dict[str, Any], view: View) -> Any:
    return _concise(out) if view.format == "concise" else out


def _concise(attr: dict[str, Any]) -> Any:
    """Clause 4.5.3: drop what the members imply; a bare value when nothing else remains."""
    kind = attr.pop("type")
    if kind in ("Property", "GeoProperty") and len(attr) == 1 and "value" in attr:
        value = attr["value"]
        # a bare dict with "value"/"object"... would be read back as another kind
        if not (isinstance(value, dict) and set(value) & set(VALUE_MEMBER.values())):
            return value
    return attr


def _simplified(inst: Instance, compact: Compact, lang: str | None) -> Any:
    kind = inst["type"]
    value = _value_out(kind, inst[VALUE_MEMBER[kind]], compact)
    if kind == "LanguageProperty":
        if lang is not None:
            return pick_language(inst["languageMap"], lang)[0]
        return {"languageMap": value}
    if kind in ("ListRelationship", "JsonProperty", "VocabProperty"):
        return {VALUE_MEMBER[kind]: value}
    return value


def _value_out(kind: str, value: Any, compact: Compact) -> Any:
    if kind == "ListRelationship":
        return [{"object": o} for o in value]
    if kind == "VocabProperty":
        return _vocab_out(value, compact)
    return value


def _vocab_out(value: str | list[str], compact: Compact) -> str | list[str]:
    if isinstance(value, list):
        return [compact(v) for v in value]
    return compact(value)


def pick_language(language_map: dict[str, Any], lang: str) -> tuple[Any, str]:
    """Clause 4.15: the best match for `lang` (a tag, a list, '*' or quality values)."""
    wanted = [part.split(";")[0].strip() for part in lang.split(",") if part.strip()]
    for tag in wanted:
        if tag == "*":
            break
        if tag in language_map:
            return language_map[tag], tag
        for have in language_map:
            if have.split("-")[0].lower() == tag.split("-")[0].lower():
                return language_map[have], have
    if "@none" in language_map:
        return language_map["@none"], "@none"
    first = next(iter(language_map))
    return language_map[first], first


def render_feature(
    doc: EntityDoc, compact: Compact, view: View, geoproperty: str = LOCATION
) -> dict[str, Any]:
    """Clause 4.5.16: the entity as a GeoJSON Feature, its geometry from `geoproperty`."""
    body = render_entity(doc, compact, view)
    entity_id = body.pop("id", doc["id"])
    geometry = None
    instances = doc["attrs"].get(geoproperty)
    if instances:
        geometry = instances[0]["value"]
    return {"id": entity_id, "type": "Feature", "geometry": geometry, "properties": body}


def project(names: Collection[str] | None) -> frozenset[str] | None:
    return None if names is None else frozenset(names)
