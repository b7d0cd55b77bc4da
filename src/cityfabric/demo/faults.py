"""Faults with ground truth: planned from a seed over a period, applied by the simulator.

Every fault is its own label: the entity whose telemetry shows it (`asset_id`), the
attributes affected, the kind, and the window [start, end). Physical faults change what
the asset does (a dark lamp draws nothing, its cabinet's load drops with it); measurement
faults change only what is reported; a communication loss sends nothing in the window.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

import numpy as np
import orjson

from cityfabric.demo.build import stream
from cityfabric.demo.fleet import kind_of
from cityfabric.demo.ngsi import iso
from cityfabric.demo.telemetry import BY_KIND


class FaultKind(StrEnum):
    LAMP_FAILURE = "lamp_failure"  # lamp commanded on but dark: draws nothing
    DAY_BURNER = "day_burner"  # lamp on while the sun is up
    PV_SOILING = "pv_soiling"  # panel output falls slowly against a clean panel
    PV_SHADING = "pv_shading"  # sharp dip while the sun is behind an obstacle, every day
    BATTERY_DEGRADATION = "battery_degradation"  # capacity fades: deeper cycles
    STUCK_METER = "stuck_meter"  # reading flat at its value when the fault began
    SENSOR_DRIFT = "sensor_drift"  # reading off by an offset that grows linearly
    SPIKE = "spike"  # one reading multiplied
    COMM_LOSS = "comm_loss"  # no updates at all


PHYSICAL: Final = frozenset(
    {
        FaultKind.LAMP_FAILURE,
        FaultKind.DAY_BURNER,
        FaultKind.PV_SOILING,
        FaultKind.PV_SHADING,
        FaultKind.BATTERY_DEGRADATION,
    }
)


@dataclass(frozen=True, slots=True)
class Fault:
    asset_id: str
    attributes: tuple[str, ...]
    kind: FaultKind
    start: datetime
    end: datetime
    magnitude: float = 0.0  # see FAULTS: loss, blocked share, offset or factor
    azimuth: float | None = None  # shading: bearing of the obstacle, degrees from north

    def active(self, t: datetime) -> bool:
        return self.start <= t < self.end

    def progress(self, t: datetime) -> float:
        """0 at the start of the window, 1 at its end."""
        return min(1.0, max(0.0, (t - self.start) / (self.end - self.start)))

    def label(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "asset_id": self.asset_id,
            "attributes": list(self.attributes),
            "kind": str(self.kind),
            "start": iso(self.start),
            "end": iso(self.end),
            "magnitude": self.magnitude,
        }
        if self.azimuth is not None:
            out["azimuth"] = self.azimuth
        return out


@dataclass(frozen=True, slots=True)
class FaultSpec:
    kind: FaultKind
    targets: tuple[tuple[str, tuple[str, ...]], ...]  # (asset kind, attributes shown)
    per_asset_day: float  # expected faults per eligible asset per simulated day
    days: tuple[float, float]  # duration range
    magnitude: tuple[float, float]  # range; meaning per kind (see Fault.magnitude)


_ALL = tuple((t.kind, t.attributes) for t in BY_KIND.values())
FAULTS: Final[tuple[FaultSpec, ...]] = (
    FaultSpec(
        FaultKind.LAMP_FAILURE, (("streetlight", ("powerConsumption",)),), 2e-4, (1, 7), (1, 1)
    ),
    FaultSpec(
        FaultKind.DAY_BURNER,
        (("streetlight", ("powerState", "illuminanceLevel", "powerConsumption")),),
        1e-4, (1, 4), (1, 1),
    ),
    FaultSpec(FaultKind.PV_SOILING, (("pv", ("activePower",)),), 2e-3, (10, 40), (0.25, 0.5)),
    FaultSpec(FaultKind.PV_SHADING, (("pv", ("activePower",)),), 1e-3, (5, 20), (0.8, 0.95)),
    FaultSpec(
        FaultKind.BATTERY_DEGRADATION,
        (("lamp_battery", ("batteryLevel",)), ("bench_battery", ("batteryLevel",))),
        1e-3, (10, 40), (0.5, 0.7),
    ),
    # only on meters of a live load: a building's electricity never stops (its base load
    # moves all the time); a heat meter reads 0 whenever there is no heating or cooling and
    # a crane its steady standby while idle, so frozen there it may change no reading at all
    FaultSpec(FaultKind.STUCK_METER, (("electricity", ("numValue",)),), 3e-4, (0.5, 3), (0, 0)),
    FaultSpec(
        FaultKind.SENSOR_DRIFT,
        (("air_quality", ("no2",)), ("air_quality", ("pm25",)), ("weather", ("temperature",))),
        3e-3, (7, 25), (0.8, 1.5),
    ),
    FaultSpec(
        FaultKind.SPIKE,
        (
            ("electricity", ("numValue",)), ("thermal", ("numValue",)),
            ("traffic", ("intensity",)), ("air_quality", ("pm10",)),
        ),
        2e-3, (15 / 1440, 15 / 1440), (4, 8),
    ),
    FaultSpec(FaultKind.COMM_LOSS, _ALL, 3e-4, (2 / 24, 1), (0, 0)),
)  # fmt: skip
# drift reached at the end of the window, per attribute, times the fault's magnitude
DRIFT_SCALE: Final = {"no2": 30.0, "pm25": 20.0, "temperature": 3.0}


def plan_faults(
    entities: Iterable[Mapping[str, Any]],
    seed: int,
    start: datetime,
    days: float,
    *,
    rate: float = 1.0,
) -> list[Fault]:
    """Faults over [start, start + days), deterministic for the seed; each asset gets at most
    one, and every kind that has eligible assets gets at least one. `rate` scales counts."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    by_kind: dict[str, list[str]] = {}
    grid_lamps: set[str] = set()
    for e in entities:
        kind = kind_of(e)
        by_kind.setdefault(kind, []).append(e["id"])
        if kind == "streetlight" and "refStreetlightGroup" in e:
            grid_lamps.add(e["id"])
    used: set[str] = set()
    out: list[Fault] = []
    period = timedelta(days=days)
    for spec in FAULTS:
        rng = stream(seed, "faults", spec.kind)
        pool = [
            (eid, attrs)
            for kind, attrs in spec.targets
            for eid in by_kind.get(kind, [])
            if spec.kind is not FaultKind.DAY_BURNER or eid in grid_lamps
        ]
        pool = [p for p in pool if p[0] not in used]
        if not pool:
            continue
        assets = len({eid for eid, _ in pool})
        count = min(len(pool), max(1, round(spec.per_asset_day * assets * days * rate)))
        for k in rng.choice(len(pool), size=count, replace=False).tolist():
            eid, attrs = pool[k]
            if eid in used:
                continue
            used.add(eid)
            out.append(_draw(spec, rng, eid, attrs, start, period))
    out.sort(key=lambda f: (f.start, f.asset_id))
    return out


def _draw(
    spec: FaultSpec,
    rng: np.random.Generator,
    eid: str,
    attrs: tuple[str, ...],
    start: datetime,
    period: timedelta,
) -> Fault:
    length = timedelta(days=float(rng.uniform(*spec.days)))
    length = min(length, period * 0.6)
    grain = 15 if spec.kind is FaultKind.SPIKE else 1
    slack = int((period - length).total_seconds() // (60 * grain))
    begin = start + timedelta(minutes=grain * int(rng.integers(0, max(slack, 1))))
    if grain > 1:  # spikes start on a quarter hour
        begin -= timedelta(minutes=begin.minute % grain, seconds=begin.second)
    magnitude = float(rng.uniform(*spec.magnitude))
    if spec.kind is FaultKind.SENSOR_DRIFT:
        magnitude *= DRIFT_SCALE[attrs[0]]
    azimuth = float(rng.uniform(110.0, 250.0)) if spec.kind is FaultKind.PV_SHADING else None
    end = begin + timedelta(minutes=round(length.total_seconds() / 60))
    return Fault(eid, attrs, spec.kind, begin, end, round(magnitude, 3), azimuth)


def labels_json(faults: Iterable[Fault]) -> str:
    """The labels as a JSON array (one object per fault)."""
    return orjson.dumps([f.label() for f in faults], option=orjson.OPT_INDENT_2).decode()


def labels_csv(faults: Iterable[Fault]) -> str:
    """The labels as CSV: asset_id, attributes (;-joined), kind, start, end, magnitude, azimuth."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["asset_id", "attributes", "kind", "start", "end", "magnitude", "azimuth"])
    for f in faults:
        label = f.label()
        w.writerow(
            [
                f.asset_id,
                ";".join(f.attributes),
                label["kind"],
                label["start"],
                label["end"],
                f.magnitude,
                "" if f.azimuth is None else f.azimuth,
            ]
        )
    return buf.getvalue()


def faults_from_labels(labels: Iterable[Mapping[str, Any]]) -> list[Fault]:
    """Faults back from label dicts (as `Fault.label` or a parsed labels_json give them)."""
    return [
        Fault(
            str(d["asset_id"]),
            tuple(d["attributes"]),
            FaultKind(d["kind"]),
            datetime.fromisoformat(str(d["start"])),
            datetime.fromisoformat(str(d["end"])),
            float(d.get("magnitude", 0.0)),
            None if d.get("azimuth") is None else float(d["azimuth"]),
        )
        for d in labels
    ]
