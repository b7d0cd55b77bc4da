"""Turn NGSI-LD entity and attribute payloads into the stored form, checking every rule.

Parsed instances carry no system timestamps: `ops.py` stamps them when they
differ from the entity's createdAt (see `model.py`).

Input may be normalized or concise (GS CIM 009 clause 4.5); names are expanded
with the request's @context (`Expand`). The result is the doc of
`ngsild/model.py`. Every violation raises `BadRequestData` with a detail that
names the offending member.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from cityfabric.ngsild.errors import BadRequestData
from cityfabric.ngsild.geojson import QUERY_GEOMETRIES, validate_geometry
from cityfabric.ngsild.model import (
    LOCATION,
    OBSERVATION_SPACE,
    OPERATION_SPACE,
    VALUE_MEMBER,
    EntityDoc,
    Instance,
)
from cityfabric.ngsild.query import validate_scope

Expand = Callable[[str], str]

MAX_ID_LENGTH = 512
MAX_NAME_LENGTH = 512
MAX_DEPTH = 8  # nesting of sub-attributes

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]+$")
# clause 4.6.2: attribute names are terms (letters, digits, underscore) or IRIs
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$")
_GEO_NAMES = frozenset({LOCATION, OBSERVATION_SPACE, OPERATION_SPACE})
_ENTITY_MEMBERS = frozenset({"id", "type", "scope", "@context", "createdAt", "modifiedAt"})
# members of an attribute in a payload that are neither its value nor sub-attributes
_IGNORED_INPUT = frozenset({"createdAt", "modifiedAt", "deletedAt", "instanceId", "lang"})
_GEO_TYPES = frozenset({*QUERY_GEOMETRIES, "GeometryCollection"})
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$")


_SECOND: tuple[int, str] = (0, "")  # the last second formatted, as now_iso is hot


def now_iso() -> str:
    """The current UTC time as NGSI-LD writes system timestamps (milliseconds, Z)."""
    global _SECOND
    t = time.time()
    sec = int(t)
    if _SECOND[0] != sec:
        _SECOND = (sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)))
    return f"{_SECOND[1]}.{int((t - sec) * 1000):03d}Z"


def is_uri(value: object) -> bool:
    return isinstance(value, str) and len(value) <= MAX_ID_LENGTH and bool(_URI.match(value))


def check_entity_id(value: object, *, where: str = "id") -> str:
    if not isinstance(value, str) or not is_uri(value):
        raise BadRequestData(
            f"{where} must be a URI such as 'urn:ngsi-ld:Streetlight:001', got {value!r}"
        )
    return value


_GOOD_NAMES: set[str] = set()  # names already checked (bounded)


def check_name(name: str, *, where: str = "attribute name") -> str:
    """A term or an IRI; NGSI-LD forbids the characters that break q and URLs."""
    if name in _GOOD_NAMES:
        return name
    if not name or len(name) > MAX_NAME_LENGTH:
        raise BadRequestData(f"{where} must be 1 to {MAX_NAME_LENGTH} characters")
    if _NAME.match(name) or is_uri(name):
        if len(_GOOD_NAMES) < 100_000:
            _GOOD_NAMES.add(name)
        return name
    raise BadRequestData(
        f"{where} {name!r} is not a valid NGSI-LD name: use letters, digits and '_' or a full IRI"
    )


def check_datetime(value: object, *, where: str) -> str:
    if isinstance(value, str) and _DATETIME.match(value):
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return value
    raise BadRequestData(f"{where} must be an ISO 8601 date-time such as 2026-01-01T00:00:00Z")


def parse_types(value: object, expand: Expand) -> list[str]:
    """The entity's "type": one name or a non-empty list, expanded, duplicates dropped."""
    raw = value if isinstance(value, list) else [value]
    names = [n for n in raw if isinstance(n, str)]
    if not names or len(names) != len(raw):
        raise BadRequestData("type must be a type name or a non-empty list of type names")
    out: list[str] = []
    for name in names:
        iri = expand(check_name(name, where="entity type"))
        if iri not in out:
            out.append(iri)
    return out


def parse_scope(value: object) -> list[str]:
    raw = value if isinstance(value, list) else [value]
    scopes = [s for s in raw if isinstance(s, str)]
    if len(scopes) != len(raw):
        raise BadRequestData("scope must be a scope string such as '/Madrid/Gran_Via' or a list")
    return [validate_scope(s) for s in scopes]


def parse_entity(body: object, expand: Expand, *, now: str, need_type: bool = True) -> EntityDoc:
    """A whole entity payload (normalized or concise) in stored form, stamped with `now`."""
    if not isinstance(body, dict):
        raise BadRequestData("an entity must be a JSON object")
    doc: EntityDoc = {"id": check_entity_id(body.get("id"))}
    if "type" in body:
        doc["type"] = parse_types(body["type"], expand)
    elif need_type:
        raise BadRequestData(f"entity {doc['id']} has no type")
    if "scope" in body:
        doc["scope"] = parse_scope(body["scope"])
    doc["createdAt"] = now
    doc["modifiedAt"] = now
    doc["attrs"] = parse_attributes(
        {k: v for k, v in body.items() if k not in _ENTITY_MEMBERS}, expand
    )
    return doc


def parse_attributes(
    fragment: dict[str, Any], expand: Expand, *, allow_null: bool = False
) -> dict[str, list[Instance]]:
    """Attributes of a payload by expanded name; with `allow_null`, null marks a deletion.

    A deletion is recorded as an empty instance list (merge-patch semantics).
    """
    attrs: dict[str, list[Instance]] = {}
    for name, raw in fragment.items():
        if name in _ENTITY_MEMBERS:
            raise BadRequestData(f"{name!r} cannot be used as an attribute name")
        iri = expand(check_name(name))
        fast = _simple_instance(iri, raw)
        if fast is not None:
            attrs[iri] = [fast]
            continue
        if raw is None or _is_null_attr(raw):
            if not allow_null:
                raise BadRequestData(f"attribute {name!r} has no value (null)")
            attrs[iri] = []
            continue
        attrs[iri] = parse_attribute(name, iri, raw, expand)
    return attrs


def _simple_instance(iri: str, raw: object) -> Instance | None:
    """The common shapes (a plain Property or Relationship) without the general parser.

    Returns None whenever the general rules must decide, so the result is identical.
    """
    if type(raw) is not dict:
        return None
    if len(raw) != 2:
        return _telemetry(iri, raw)
    kind = raw.get("type")
    if kind == "Property":
        value = raw.get("value")
        if value is None or value == "urn:ngsi-ld:null" or iri in _GEO_NAMES:
            return None
        return {"type": "Property", "value": value}
    if kind == "Relationship":
        target = raw.get("object")
        if type(target) is not str or not is_uri(target):
            return None
        return {"type": "Relationship", "object": target}
    return None


_TELEMETRY_KEYS = frozenset({"type", "value", "observedAt", "unitCode"})
_SCALARS = (int, float, str, bool)


def _telemetry(iri: str, raw: dict[str, Any]) -> Instance | None:
    """A measured Property: a scalar value with observedAt and/or unitCode."""
    if raw.keys() - _TELEMETRY_KEYS or raw.get("type") != "Property" or iri in _GEO_NAMES:
        return None
    value = raw.get("value")
    if type(value) not in _SCALARS or value == "urn:ngsi-ld:null":
        return None
    inst: Instance = {"type": "Property", "value": value}
    if "observedAt" in raw:
        try:
            inst["observedAt"] = check_datetime(raw["observedAt"], where="observedAt")
        except BadRequestData:
            return None  # the general parser names the error
    if "unitCode" in raw:
        unit = raw["unitCode"]
        if not isinstance(unit, str) or not unit:
            return None
        inst["unitCode"] = unit
    return inst


def parse_attribute(name: str, iri: str, raw: object, expand: Expand) -> list[Instance]:
    """One attribute: an instance or a list of instances with distinct datasetIds."""
    if isinstance(raw, list) and raw and all(isinstance(i, dict) and _is_instance(i) for i in raw):
        instances = [parse_instance(name, iri, i, expand) for i in raw]
    else:
        instances = [parse_instance(name, iri, raw, expand)]
    seen: set[str | None] = set()
    for inst in instances:
        ds = inst.get("datasetId")
        if ds in seen:
            which = f"datasetId {ds}" if ds else "the default instance (no datasetId)"
            raise BadRequestData(f"attribute {name!r} repeats {which}")
        seen.add(ds)
    return instances


def _is_null_attr(raw: object) -> bool:
    # clause 4.5.0: "urn:ngsi-ld:null" deletes in merge operations
    if raw == "urn:ngsi-ld:null":
        return True
    if isinstance(raw, dict):
        member = VALUE_MEMBER.get(str(raw.get("type")), "value")
        return member in raw and raw[member] in (None, "urn:ngsi-ld:null")
    return False


def _is_instance(raw: dict[str, Any]) -> bool:
    return _type_of(raw) in VALUE_MEMBER or any(m in raw for m in VALUE_MEMBER.values())


def _type_of(raw: dict[str, Any]) -> str | None:
    """The "type" member when it is a string (clients send anything)."""
    kind = raw.get("type")
    return kind if isinstance(kind, str) else None


def _is_geometry(raw: object) -> bool:
    return (
        isinstance(raw, dict)
        and _type_of(raw) in _GEO_TYPES
        and ("coordinates" in raw or "geometries" in raw)
    )


def _infer_kind(name: str, raw: object, iri: str) -> tuple[str, dict[str, Any]]:
    """The attribute kind; concise input (clause 4.5.3) is inferred from its members."""
    if isinstance(raw, dict):
        kind = raw.get("type")
        if isinstance(kind, str) and kind in VALUE_MEMBER:
            return kind, raw
        if _is_geometry(raw):
            return "GeoProperty", {"value": raw}
        for k, member in VALUE_MEMBER.items():
            if k == "GeoProperty" or member not in raw:
                continue
            if kind is not None:
                raise BadRequestData(
                    f"attribute {name!r} has unknown type {kind!r}; use one of "
                    + ", ".join(sorted(VALUE_MEMBER))
                )
            if member == "value" and _is_geometry(raw["value"]):
                return "GeoProperty", raw
            return k, raw
    if iri in _GEO_NAMES:
        return "GeoProperty", {"value": raw}
    return "Property", {"value": raw}


def parse_instance(name: str, iri: str, raw: object, expand: Expand, *, depth: int = 0) -> Instance:
    """One attribute instance in stored form, with its sub-attributes."""
    if depth > MAX_DEPTH:
        raise BadRequestData(f"attribute {name!r} nests sub-attributes deeper than {MAX_DEPTH}")
    kind, body = _infer_kind(name, raw, iri)
    member = VALUE_MEMBER[kind]
    if member not in body:
        raise BadRequestData(f"{kind} {name!r} needs a {member!r} member")
    inst: Instance = {"type": kind, member: _parse_value(kind, name, body[member], expand)}
    if iri in _GEO_NAMES and kind != "GeoProperty":
        raise BadRequestData(f"{name!r} must be a GeoProperty")
    for key, val in body.items():
        if key in ("type", member) or key in _IGNORED_INPUT:
            continue
        if key == "observedAt":
            inst["observedAt"] = check_datetime(val, where=f"{name}.observedAt")
        elif key == "unitCode":
            if not isinstance(val, str) or not val:
                raise BadRequestData(f"{name}.unitCode must be a non-empty string (UN/CEFACT code)")
            inst["unitCode"] = val
        elif key == "datasetId":
            inst["datasetId"] = check_entity_id(val, where=f"{name}.datasetId")
        elif key == "objectType" and kind in ("Relationship", "ListRelationship"):
            inst["objectType"] = _vocab(val, f"{name}.objectType", expand)
        elif key in VALUE_MEMBER.values():
            raise BadRequestData(f"{kind} {name!r} cannot also have a {key!r} member")
        else:
            sub_iri = expand(check_name(key, where=f"sub-attribute name of {name!r}"))
            inst[sub_iri] = parse_instance(f"{name}.{key}", sub_iri, val, expand, depth=depth + 1)
    return inst


def _parse_value(kind: str, name: str, value: object, expand: Expand) -> object:
    if value is None:
        raise BadRequestData(f"{kind} {name!r} has a null value")
    if kind == "GeoProperty":
        return validate_geometry(value, where=name)
    if kind == "Relationship":
        # clause 4.5.2 (v1.8): object is a URI or an array of URIs
        if isinstance(value, list) and value:
            return [check_entity_id(v, where=f"{name}.object") for v in value]
        return check_entity_id(value, where=f"{name}.object")
    if kind == "ListRelationship":
        return _object_list(name, value)
    if kind == "LanguageProperty":
        return _language_map(name, value)
    if kind == "ListProperty":
        if not isinstance(value, list):
            raise BadRequestData(f"ListProperty {name!r} needs a valueList array")
        return value
    if kind == "VocabProperty":
        return _vocab(value, f"{name}.vocab", expand)
    return value


def _object_list(name: str, value: object) -> list[str]:
    if not isinstance(value, list):
        raise BadRequestData(f"ListRelationship {name!r} needs an objectList array")
    out = []
    for item in value:
        target = item.get("object") if isinstance(item, dict) else item
        out.append(check_entity_id(target, where=f"{name}.objectList"))
    return out


def _language_map(name: str, value: object) -> dict[str, Any]:
    if not isinstance(value, dict) or not value:
        raise BadRequestData(f"LanguageProperty {name!r} needs a languageMap object")
    for tag, text in value.items():
        ok = isinstance(text, str) or (
            isinstance(text, list) and all(isinstance(t, str) for t in text)
        )
        if not ok or not (tag == "@none" or re.match(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$", tag)):
            raise BadRequestData(
                f"LanguageProperty {name!r}: languageMap maps language tags to strings"
            )
    return value


def _vocab(value: object, where: str, expand: Expand) -> str | list[str]:
    if isinstance(value, str):
        return expand(check_name(value, where=where))
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return [expand(check_name(v, where=where)) for v in value]
    raise BadRequestData(f"{where} must be a term or a list of terms")
