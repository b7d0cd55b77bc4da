"""Small builders of NGSI-LD normalized attributes, and each type's Smart Data Model @context."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

Attr = dict[str, Any]
Entity = dict[str, Any]

_SDM: Final = "https://smart-data-models.github.io/{}/context.jsonld"
# entity type -> its Smart Data Model domain; each URL is in src/cityfabric/data/contexts/index.json
DOMAIN: Final[dict[str, str]] = {
    "Streetlight": "dataModel.Streetlighting",
    "StreetlightGroup": "dataModel.Streetlighting",
    "StreetlightControlCabinet": "dataModel.Streetlighting",
    "StreetlightModel": "dataModel.Streetlighting",
    "Road": "dataModel.Transportation",
    "RoadSegment": "dataModel.Transportation",
    "TrafficFlowObserved": "dataModel.Transportation",
    "EVChargingStation": "dataModel.Transportation",
    "Building": "dataModel.Building",
    "Device": "dataModel.Device",
    "DeviceModel": "dataModel.Device",
    "DeviceMeasurement": "dataModel.Device",
    "PhotovoltaicDevice": "dataModel.GreenEnergy",
    "PhotovoltaicMeasurement": "dataModel.GreenEnergy",
    "AirQualityObserved": "dataModel.Environment",
    "WeatherObserved": "dataModel.Weather",
    "SeaportFacilities": "dataModel.Ports",
}
CONTEXT: Final[dict[str, str]] = {t: _SDM.format(d) for t, d in DOMAIN.items()}
# one shared list per type: generating 100,000 entities should not build 100,000 lists
_CONTEXT_LISTS: Final[dict[str, list[str]]] = {t: [url] for t, url in CONTEXT.items()}


def entity_id(entity_type: str, city: str, n: int) -> str:
    return f"urn:ngsi-ld:{entity_type}:{city}-{n}"


def type_of(eid: str) -> str:
    """The entity type named in a `urn:ngsi-ld:<Type>:...` id."""
    return eid.split(":", 3)[2]


def entity(entity_type: str, eid: str, attrs: Mapping[str, Attr]) -> Entity:
    """A normalized entity with its Smart Data Model @context (shared list: do not mutate)."""
    out: Entity = {"id": eid, "type": entity_type}
    out.update(attrs)
    out["@context"] = _CONTEXT_LISTS[entity_type]
    return out


def prop(value: Any, unit: str | None = None) -> Attr:
    if unit is None:
        return {"type": "Property", "value": value}
    return {"type": "Property", "value": value, "unitCode": unit}


def rel(target: str | list[str]) -> Attr:
    """A Relationship; a list of targets is the v1.8 multi-object form."""
    return {"type": "Relationship", "object": target}


def geo(geometry: Mapping[str, Any]) -> Attr:
    return {"type": "GeoProperty", "value": geometry}


def point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def iso(t: datetime) -> str:
    """UTC ISO 8601 with a Z, as NGSI-LD writes times (a naive time is taken as UTC)."""
    off = t.utcoffset()
    if off:
        t = t - off
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def date_prop(value: str | datetime) -> Attr:
    """A Property whose value is an NGSI-LD DateTime (`{"@type": "DateTime", "@value": ...}`)."""
    text = value if isinstance(value, str) else iso(value)
    return {"type": "Property", "value": {"@type": "DateTime", "@value": text}}


def money(amount: float, currency: str) -> Attr:
    """An amount of money: the number as value, the ISO 4217 currency as a sub-property."""
    return {
        "type": "Property",
        "value": amount,
        "currency": {"type": "Property", "value": currency},
    }


def value_of(attr: Any) -> Any:
    """The simplified (keyValues) value of one normalized attribute."""
    if isinstance(attr, list):
        return [value_of(a) for a in attr]
    if not isinstance(attr, dict):
        return attr
    if attr.get("type") == "Relationship":
        return attr["object"]
    value = attr.get("value")
    if isinstance(value, dict) and "@value" in value:
        return value["@value"]
    return value


def key_values(ent: Mapping[str, Any]) -> dict[str, Any]:
    """The keyValues projection that Smart Data Models' schemas describe."""
    out: dict[str, Any] = {}
    for name, attr in ent.items():
        if name == "@context":
            continue
        out[name] = attr if name in ("id", "type") else value_of(attr)
    return out
