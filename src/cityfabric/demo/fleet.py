"""Sort NGSI-LD entities into asset kinds and read the parameters the physics needs.

The simulator reads everything from the entities themselves (rated power, tilt, battery
capacity, relationships), so it runs on generated entities or on the same entities read
back from a broker.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from cityfabric.demo.build import Floats, Ints
from cityfabric.demo.ngsi import type_of, value_of

Ent = Mapping[str, Any]

_SIMPLE = {
    "Streetlight": "streetlight",
    "StreetlightGroup": "streetlight_group",
    "StreetlightControlCabinet": "cabinet",
    "PhotovoltaicMeasurement": "pv",
    "PhotovoltaicDevice": "bench",
    "AirQualityObserved": "air_quality",
    "WeatherObserved": "weather",
    "EVChargingStation": "ev_charger",
    "TrafficFlowObserved": "traffic",
}
_READINGS = {
    "electricityMeter": "electricity",
    "heatMeter": "thermal",
    "cranePowerMeter": "crane_power",
}


def take(values: np.ndarray[Any, Any], index: Ints, default: Any) -> np.ndarray[Any, Any]:
    """values[index] where index >= 0, else `default` (also when `values` is empty)."""
    if len(values) == 0:
        return np.full(len(index), default, dtype=values.dtype)
    return np.where(index >= 0, values[np.maximum(index, 0)], default)


def get(e: Ent, name: str, default: Any = None) -> Any:
    """The simplified value of attribute `name`, or `default`."""
    attr = e.get(name)
    return default if attr is None else value_of(attr)


def kind_of(e: Ent) -> str:
    """The asset kind of an entity: a TELEMETRY kind, or a static one (its type's name)."""
    t = e["type"]
    if t in _SIMPLE:
        return _SIMPLE[t]
    if t == "Device":
        if "batteryCapacity" in e:
            targets = get(e, "controlledAsset", [])
            lamp = bool(targets) and type_of(targets[0]) == "Streetlight"
            return "lamp_battery" if lamp else "bench_battery"
        return "crane" if "refSeaportFacilities" in e else "meter"
    if t == "DeviceMeasurement":
        return _READINGS.get(get(e, "deviceType", ""), "measurement")
    if t == "Building":
        return "park" if get(e, "category", []) == ["pavilion"] else "building"
    if t == "SeaportFacilities":
        return "berth" if "refSeaportFacilities" in e else "terminal"
    return str(t)


class Fleet:
    """Entities by kind and by id."""

    def __init__(self, entities: Iterable[Ent]) -> None:
        self.by_id: dict[str, Ent] = {}
        self.by_kind: dict[str, list[Ent]] = {}
        for e in entities:
            self.by_id[e["id"]] = e
            self.by_kind.setdefault(kind_of(e), []).append(e)

    def of(self, kind: str) -> list[Ent]:
        return self.by_kind.get(kind, [])

    def ids(self, kind: str) -> list[str]:
        return [e["id"] for e in self.of(kind)]

    def floats(self, kind: str, name: str, default: float = 0.0) -> Floats:
        return np.array([float(get(e, name, default)) for e in self.of(kind)], dtype=float)

    def index(self, kind: str) -> dict[str, int]:
        return {e["id"]: i for i, e in enumerate(self.of(kind))}

    def lookup(self, kind: str, ref: str, target_kind: str) -> Ints:
        """For each entity of `kind`, the index among `target_kind` of what `ref` points to
        (the first target of a multi-object Relationship), or -1."""
        where = self.index(target_kind)
        out = []
        for e in self.of(kind):
            target = get(e, ref)
            if isinstance(target, list):
                target = target[0] if target else None
            out.append(where.get(target, -1) if isinstance(target, str) else -1)
        return np.array(out, dtype=np.int64)
