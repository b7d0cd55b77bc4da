"""The entities an anomaly episode writes: Smart Data Models `Alert` and `Anomaly`.

Ids are stable per (entity, attribute), so a new episode of the same series replaces its
Alert and Anomaly rather than adding more; a clearing sets the Alert's `validTo` (the Alert
schema has no status member). Both use the `dataModel.Alert` @context, so subscriptions on
type `Alert` or `Anomaly` with that context deliver them with their short names.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

from cityfabric.analytics.alerts import Event
from cityfabric.ngsild.temporal import format_time

ALERT_CONTEXT: Final = "https://smart-data-models.github.io/dataModel.Alert/context.jsonld"
SOURCE: Final = "CityFabric anomaly detection"
# Common-Alert `category` by the asset's type; equipment faults have no category of their own
CATEGORY: Final = {
    "TrafficFlowObserved": "traffic",
    "WeatherObserved": "weather",
    "AirQualityObserved": "environment",
}
DEFAULT_CATEGORY: Final = "environment"


def _key(entity_id: str, attr: str) -> str:
    return hashlib.sha1(f"{entity_id}|{attr}".encode()).hexdigest()[:20]


def alert_id(entity_id: str, attr: str) -> str:
    return f"urn:ngsi-ld:Alert:anomaly-{_key(entity_id, attr)}"


def anomaly_id(entity_id: str, attr: str) -> str:
    return f"urn:ngsi-ld:Anomaly:{_key(entity_id, attr)}"


def _prop(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


def _when(seconds: float) -> dict[str, Any]:
    return _prop({"@type": "DateTime", "@value": format_time(round(seconds * 1000))})


def _short(iri: str) -> str:
    return iri.rstrip("/").rsplit("/", 1)[-1].rsplit("#", 1)[-1]


def alert_entity(
    entity_id: str, entity_type: str, attr: str, event: Event, location: object | None
) -> dict[str, Any]:
    """The Alert of a raised episode (replaces the previous episode's)."""
    f = event.finding
    score = f.score or 0.0
    name = _short(attr)
    entity: dict[str, Any] = {
        "id": alert_id(entity_id, attr),
        "type": "Alert",
        "category": _prop(CATEGORY.get(_short(entity_type), DEFAULT_CATEGORY)),
        "severity": _prop("high" if score >= 0.99 else "medium"),
        "alertSource": _prop(entity_id),
        "dateIssued": _when(event.seconds),
        "validFrom": _when(event.seconds),
        "description": _prop(f"{name} of {entity_id}: {f.reason or f.kind} [{f.kind}]"),
        "@context": [ALERT_CONTEXT],
    }
    if location is not None:
        entity["location"] = {"type": "GeoProperty", "value": location}
    return entity


def cleared_alert(entity_id: str, attr: str, event: Event) -> dict[str, Any]:
    """The merge that ends an Alert's validity when its series has recovered."""
    return {
        "id": alert_id(entity_id, attr),
        "type": "Alert",
        "validTo": _when(event.seconds),
        "@context": [ALERT_CONTEXT],
    }


def anomaly_entity(entity_id: str, attr: str, event: Event) -> dict[str, Any]:
    """The Anomaly of a raised episode: which property of which asset, when, and the reading."""
    f = event.finding
    breach: dict[str, Any] = {"dateObserved": format_time(round(event.seconds * 1000))}
    if event.value is not None:
        breach["measuredValue"] = event.value
    return {
        "id": anomaly_id(entity_id, attr),
        "type": "Anomaly",
        "anomalousProperty": _prop(_short(attr)),
        "dateDetected": _when(event.seconds),
        "detectedBy": {"type": "Relationship", "object": entity_id},
        "thresholdBreach": _prop([breach]),
        "description": _prop(f.reason or f.kind),
        "@context": [ALERT_CONTEXT],
    }
