"""Record a simulation run as arrays: one row per step, one column per asset of a kind."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from cityfabric.demo.simulator import Simulator, Update
from cityfabric.demo.telemetry import BY_KIND

_CODES = {"on": 1.0, "off": 0.0, "working": 0.0, "full": 1.0}


def _number(v: Any) -> float:
    if isinstance(v, str):
        return _CODES[v]
    return float(v)


@dataclass
class Recording:
    """Values by (kind, attribute) as [step, asset] arrays (NaN: not reported that step)."""

    sim: Simulator
    times: list[datetime] = field(default_factory=list)
    elevation: list[float] = field(default_factory=list)
    azimuth: list[float] = field(default_factory=list)
    hour: list[float] = field(default_factory=list)
    weekend: list[bool] = field(default_factory=list)
    temp: list[float] = field(default_factory=list)
    cloud: list[float] = field(default_factory=list)
    rows: dict[tuple[str, str], list[np.ndarray[Any, Any]]] = field(default_factory=dict)
    only: frozenset[str] | None = None  # record these assets only (the rest stay NaN)
    updates: int = 0

    def add(self, t: datetime, updates: Iterable[Update]) -> None:
        env = self.sim.env
        assert env is not None
        self.times.append(t)
        self.elevation.append(env.sun.elevation)
        self.azimuth.append(env.sun.azimuth)
        self.hour.append(env.hour)
        self.weekend.append(env.weekend)
        self.temp.append(env.wx.temp)
        self.cloud.append(env.wx.cloud)
        step = {
            (kind, attr): np.full(len(self.sim.ids(kind)), np.nan)
            for kind in self.sim.kinds
            for attr in BY_KIND[kind].attributes
        }
        for u in updates:
            self.updates += 1
            if self.only is not None and u.entity_id not in self.only:
                continue
            kind = self.sim.kind_of_id[u.entity_id]
            i = self.sim.index_of(u.entity_id)
            for attr, value in u.values.items():
                step[(kind, attr)][i] = _number(value)
        for key, row in step.items():
            self.rows.setdefault(key, []).append(row)

    def values(self, kind: str, attr: str) -> np.ndarray[Any, Any]:
        return np.vstack(self.rows[(kind, attr)])

    def series(self, entity_id: str, attr: str) -> np.ndarray[Any, Any]:
        kind = self.sim.kind_of_id[entity_id]
        return self.values(kind, attr)[:, self.sim.index_of(entity_id)]

    def mask(self, start: datetime, end: datetime) -> np.ndarray[Any, Any]:
        return np.array([start <= t < end for t in self.times])


def record(
    sim: Simulator,
    start: datetime,
    days: float,
    dt: timedelta,
    only: Iterable[str] | None = None,
) -> Recording:
    rec = Recording(sim, only=None if only is None else frozenset(only))
    for t, updates in sim.run(start, start + timedelta(days=days), dt):
        rec.add(t, updates)
    return rec
