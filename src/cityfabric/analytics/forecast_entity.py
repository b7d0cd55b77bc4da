"""Forecasts as NGSI-LD entities of type `Forecast`, so every API and the dashboard see them.

One entity per forecast series, `urn:ngsi-ld:Forecast:<entity id>:<attribute>`, written
with the core @context (like `DeadLetter`), so its type and attribute names are in the
NGSI-LD default vocabulary:

- `refEntity` (Relationship): the forecast entity;
- `attribute` (VocabProperty): the forecast attribute's IRI, compacted with the reader's
  @context;
- `model`, `frequency`, `horizon`, `levels`, `generatedAt` (Properties);
- `forecast` (JsonProperty): `{"times": [...], "mean": [...], "lo80": [...], "hi80": ...}`,
  arrays of the same length; a JsonProperty is kept verbatim, never expanded;
- `parameters` (JsonProperty): the requested model and history window, which scheduled
  re-forecasting runs again.
"""

from __future__ import annotations

import re
from typing import Any, Final

from cityfabric.analytics.forecast_models import Forecast, finite
from cityfabric.analytics.forecast_spec import ForecastSpec, parse_spec
from cityfabric.ngsild.errors import NgsiLdError
from cityfabric.ngsild.model import DEFAULT_VOCAB, EntityDoc
from cityfabric.ngsild.temporal import format_time

TYPE: Final = "Forecast"
TYPE_IRI: Final = DEFAULT_VOCAB + TYPE
PREFIX: Final = "urn:ngsi-ld:Forecast:"
_UNSAFE = re.compile(r"[^A-Za-z0-9._~:-]")


def _safe(text: str) -> str:
    return _UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), text)


def short_name(attr_iri: str) -> str:
    """The last segment of an attribute IRI (`.../activePower` -> `activePower`)."""
    return re.split(r"[/#:]", attr_iri.rstrip("/#"))[-1] or attr_iri


def forecast_id(entity_id: str, attr_iri: str) -> str:
    """`urn:ngsi-ld:Forecast:<entity id without urn:ngsi-ld:>:<attribute short name>`."""
    entity = entity_id.removeprefix("urn:ngsi-ld:")
    return f"{PREFIX}{_safe(entity)}:{_safe(short_name(attr_iri))}"


def _prop(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


def series_json(forecast: Forecast) -> dict[str, Any]:
    """The forecast arrays: times (ISO 8601 UTC), mean, then loNN/hiNN per level."""
    out: dict[str, Any] = {
        "times": [format_time(t) for t in forecast.times_ms],
        "mean": finite(forecast.mean),
    }
    for level, (lo, hi) in sorted(forecast.bands.items()):
        out[f"lo{level}"] = finite(lo)
        out[f"hi{level}"] = finite(hi)
    return out


def forecast_entity(
    forecast: Forecast, attr_iri: str, spec: ForecastSpec, generated_at: str
) -> dict[str, Any]:
    """The `Forecast` entity (normalized, core @context terms) of one series."""
    return {
        "id": forecast_id(forecast.key, attr_iri),
        "type": TYPE,
        "refEntity": {"type": "Relationship", "object": forecast.key},
        "attribute": {"type": "VocabProperty", "vocab": attr_iri},
        "model": _prop(forecast.model),
        "frequency": _prop(spec.frequency),
        "horizon": _prop(spec.horizon_text),
        "levels": _prop(list(spec.levels)),
        "generatedAt": _prop(generated_at),
        "forecast": {"type": "JsonProperty", "json": series_json(forecast)},
        "parameters": {
            "type": "JsonProperty",
            "json": {"model": spec.model, "history": spec.history},
        },
    }


def _first(doc: EntityDoc, name: str) -> dict[str, Any]:
    found = doc.get("attrs", {}).get(DEFAULT_VOCAB + name) or [{}]
    first: dict[str, Any] = found[0]
    return first


def stored_target(doc: EntityDoc) -> tuple[str, str, ForecastSpec] | None:
    """(entity id, attribute IRI, spec) of a stored forecast; None when it is not one of
    ours (an entity of type Forecast written by someone else)."""
    entity = _first(doc, "refEntity").get("object")
    attr = _first(doc, "attribute").get("vocab")
    params = _first(doc, "parameters").get("json") or {}
    body = {
        "attribute": attr,
        "frequency": _first(doc, "frequency").get("value"),
        "horizon": _first(doc, "horizon").get("value"),
        "levels": _first(doc, "levels").get("value"),
        "model": params.get("model") if isinstance(params, dict) else None,
        "history": params.get("history") if isinstance(params, dict) else None,
    }
    if not isinstance(entity, str) or not isinstance(attr, str):
        return None
    try:
        return entity, attr, parse_spec(body)
    except NgsiLdError:
        return None


def summary(doc: EntityDoc, compact: Any) -> dict[str, Any]:
    """A stored forecast as the forecasts endpoints answer it."""
    generated = _first(doc, "generatedAt").get("value")
    attr = _first(doc, "attribute").get("vocab")
    return {
        "id": doc["id"],
        "entity": _first(doc, "refEntity").get("object"),
        "attribute": compact(attr) if isinstance(attr, str) else attr,
        "model": _first(doc, "model").get("value"),
        "frequency": _first(doc, "frequency").get("value"),
        "horizon": _first(doc, "horizon").get("value"),
        "levels": _first(doc, "levels").get("value"),
        "generatedAt": generated,
        **(_first(doc, "forecast").get("json") or {}),
    }
