"""Apply active faults to a simulation step: modifiers for the physics, then the readings."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import numpy as np

from cityfabric.demo.build import Bools
from cityfabric.demo.energy_models import Mods, Values
from cityfabric.demo.faults import PHYSICAL, Fault, FaultKind
from cityfabric.demo.telemetry import BY_KIND


class Injector:
    """Holds the planned faults and the state some need (a stuck value, a spike sent)."""

    def __init__(
        self, faults: Iterable[Fault], where: dict[str, tuple[str, int]], sizes: dict[str, int]
    ) -> None:
        self.sizes = sizes
        self.faults: list[tuple[Fault, str, int]] = []
        for f in faults:
            loc = where.get(f.asset_id)
            if loc is not None:  # a fault on an asset this simulator does not run
                self.faults.append((f, loc[0], loc[1]))
        self.faults.sort(key=lambda x: x[0].start)
        self.held: dict[int, dict[str, Any]] = {}
        self.fired: set[int] = set()
        # stuck meters whose frozen value differed, as reported, from the true one at least
        # once: a meter stuck at 0 while it reads 0 anyway changes nothing anyone can see
        self.visible: set[int] = set()
        self._now: list[tuple[int, Fault, str, int]] = []

    def begin(self, t: datetime) -> Mods:
        """Select the faults active at t and return the physical modifiers they set."""
        self._now = [(k, f, kind, i) for k, (f, kind, i) in enumerate(self.faults) if f.active(t)]
        mods: Mods = {}
        for _, f, kind, i in self._now:
            if f.kind not in PHYSICAL:
                continue
            if f.kind is FaultKind.LAMP_FAILURE:
                self._mod(mods, kind, "failed", False)[i] = True
            elif f.kind is FaultKind.DAY_BURNER:
                self._mod(mods, kind, "day_burner", False)[i] = True
            elif f.kind is FaultKind.PV_SOILING:
                self._mod(mods, kind, "clean", 1.0)[i] = 1.0 - f.magnitude * f.progress(t)
            elif f.kind is FaultKind.PV_SHADING:
                self._mod(mods, kind, "shade", 0.0)[i] = f.magnitude
                self._mod(mods, kind, "shade_azimuth", 180.0)[i] = f.azimuth or 180.0
            elif f.kind is FaultKind.BATTERY_DEGRADATION:
                self._mod(mods, kind, "capacity", 1.0)[i] = 1.0 - f.magnitude * f.progress(t)
        return mods

    def _mod(self, mods: Mods, kind: str, name: str, default: float | bool) -> np.ndarray[Any, Any]:
        key = (kind, name)
        if key not in mods:
            dtype = bool if isinstance(default, bool) else float
            mods[key] = np.full(self.sizes[kind], default, dtype=dtype)
        return mods[key]

    def readings(self, t: datetime, kind: str, values: Values, due: Bools) -> Bools | None:
        """Apply measurement faults to `values` in place; return the silenced assets, if any."""
        silent: Bools | None = None
        for k, f, fkind, i in self._now:
            if fkind != kind or f.kind in PHYSICAL:
                continue
            if f.kind is FaultKind.COMM_LOSS:
                if silent is None:
                    silent = np.zeros(len(due), dtype=bool)
                silent[i] = True
            elif f.kind is FaultKind.STUCK_METER:
                held = self.held.setdefault(k, {a: values[a][i] for a in f.attributes})
                for a, v in held.items():
                    if due[i] and k not in self.visible and _shown(kind, a, values[a][i], v):
                        self.visible.add(k)
                    values[a][i] = v
            elif f.kind is FaultKind.SENSOR_DRIFT:
                for a in f.attributes:  # offsets are positive: concentrations stay >= 0
                    values[a][i] += f.magnitude * f.progress(t)
            elif f.kind is FaultKind.SPIKE and due[i] and k not in self.fired:
                self.fired.add(k)
                for a in f.attributes:
                    values[a][i] = max(
                        values[a][i] * f.magnitude, values[a][i] + 10.0 * f.magnitude
                    )
        return silent

    def unseen(self) -> list[Fault]:
        """Stuck meters whose readings never differed from what a working meter reported."""
        return [
            f
            for k, (f, _, _) in enumerate(self.faults)
            if f.kind is FaultKind.STUCK_METER and k not in self.visible
        ]


def _shown(kind: str, attribute: str, true: float, held: float) -> bool:
    """Whether TRUE and HELD differ once rounded as the attribute is reported."""
    digits = next(m.digits for m in BY_KIND[kind].measures if m.attribute == attribute)
    return bool(round(float(true), digits or 0) != round(float(held), digits or 0))
