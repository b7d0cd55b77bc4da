"""Physics-aware checks of one series, beside the statistical detector.

Each check reads one reading at a time (`update(seconds, value, site)`) and answers a
`Finding`: a score in 0..1 (None when the reading says nothing either way, e.g. a lamp's
zero power by day), the fault kind it points to and a reason for the Alert's description.
Each keeps a few numbers of state (`to_state`, `from_state` through `CHECKS`) so that the
platform's worker survives a restart. Adding a check is one row in `CHECKS`.

- `lamp`: a lamp drawing power while the sun is up (day-burner), or drawing nothing while it
  is dark and the lamp is scheduled on (a failed lamp).
- `flatline`: identical readings for much longer than the series ever stays flat (a stuck
  meter).
- `silence`: no reading for `k` times the series' usual interval (communication loss); asked
  with `silence(now)` between readings.
- `pv` (`physics_checks_pv.py`): panel output against the expected output of the site.
- `spike`, `stuck`, `battery`, `level`, `reference` (`physics_checks_series.py`,
  `physics_checks_reference.py`): a reading far from its rolling median (Hampel filter),
  repeats at hours when the series usually changes, a battery draining faster than it used
  to, a background level moving, a sensor moving away from an independent reference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import median
from typing import Any, Final, NamedTuple, Protocol

from cityfabric.analytics.physics_checks_sun import SunAt, sun_at

DAY_ELEVATION: Final = 3.0  # lamps switch off by about -1 degree; clear of that, it is day
NIGHT_ELEVATION: Final = -5.0  # and clearly night below this


class Finding(NamedTuple):
    score: float | None  # 0..1; None: this reading is no evidence either way
    kind: str  # the fault kind the check points to
    reason: str


NO_EVIDENCE: Final = Finding(None, "", "")


@dataclass(frozen=True)
class Site:
    """What a check may know of the asset beyond its readings."""

    latitude: float | None = None
    longitude: float | None = None
    peak: float | None = None  # PV: nominal power, W
    expected: Callable[[float], float | None] | None = None  # PV: expected power at a time
    expected_is_measured: bool = False  # PV: expected from measured weather, not a clear sky
    # an independent measure of the same quantity at a time (e.g. air temperature from the
    # night-time cell temperature of the city's PV panels), or None when there is none
    reference: Callable[[float], float | None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def sun(self, seconds: float) -> SunAt | None:
        if self.latitude is None or self.longitude is None:
            return None
        return sun_at(seconds, self.latitude, self.longitude)


class Check(Protocol):
    name: str

    def update(self, seconds: float, value: float, site: Site) -> Finding: ...

    def to_state(self) -> dict[str, Any]: ...


class LampCheck:
    """Lamp power against the sun: on in daylight, or dark at night while scheduled on."""

    name = "lamp"

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        pass  # each reading is judged on its own

    def update(self, seconds: float, value: float, site: Site) -> Finding:
        sun = site.sun(seconds)
        if sun is None:
            return NO_EVIDENCE
        if sun.elevation > DAY_ELEVATION:
            if value > 0.0:
                return Finding(
                    1.0,
                    "day_burner",
                    f"lamp draws {value:g} W in daylight (sun {sun.elevation:.0f}° up)",
                )
            return NO_EVIDENCE  # off by day: as it should be, but so is a failed lamp
        if sun.elevation < NIGHT_ELEVATION:
            if value <= 0.0:
                return Finding(
                    1.0, "lamp_failure",
                    f"lamp draws nothing at night (sun {-sun.elevation:.0f}° below the horizon)",
                )  # fmt: skip
            return Finding(0.0, "lamp_failure", "")
        return NO_EVIDENCE  # dusk and dawn: switching times vary

    def to_state(self) -> dict[str, Any]:
        return {}


class FlatlineCheck:
    """A run of identical readings far longer than any the series had (a stuck meter).

    Zero and non-zero runs are judged apart: a meter that idles at 0 for hours may still be
    stuck at a non-zero value after `min_run` readings."""

    name = "flatline"
    min_run: Final = 4
    factor: Final = 2.0  # the run must also be this many times the longest seen before
    warmup: Final = 48  # readings before the check judges

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        s = state or {}
        self.last: float | None = s.get("last")
        self.run = int(s.get("run", 0))
        self.longest = [int(v) for v in s.get("longest", [0, 0])]  # zero, non-zero
        self.seen = int(s.get("seen", 0))
        self.changes = int(s.get("changes", 0))

    def update(self, seconds: float, value: float, site: Site) -> Finding:
        self.seen += 1
        if value == self.last:
            self.run += 1
        else:
            if self.last is not None:
                self.changes += 1
                # a run that was itself flagged is no precedent (unless still learning)
                if self.seen <= self.warmup or not self._stuck():
                    k = 0 if self.last == 0.0 else 1
                    self.longest[k] = max(self.longest[k], self.run)
            self.last, self.run = value, 1
        if self.seen < self.warmup or self.changes < 0.5 * self.seen:
            return Finding(0.0, "stuck_meter", "")
        if self._stuck():
            return Finding(
                1.0,
                "stuck_meter",
                f"{self.run} identical readings ({value:g}) in a series that varies",
            )
        return Finding(0.0, "stuck_meter", "")

    def _stuck(self) -> bool:
        longest = self.longest[0 if self.last == 0.0 else 1]
        return self.run >= self.min_run and self.run > self.factor * longest

    def to_state(self) -> dict[str, Any]:
        return {
            "last": self.last,
            "run": self.run,
            "longest": list(self.longest),
            "seen": self.seen,
            "changes": self.changes,
        }


class SilenceCheck:
    """No reading for `k` times the usual interval: communication loss."""

    name = "silence"
    k: Final = 3.0
    gaps_kept: Final = 15

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        s = state or {}
        self.last: float | None = s.get("last")
        self.gaps: list[float] = [float(g) for g in s.get("gaps", [])]

    def update(self, seconds: float, value: float, site: Site) -> Finding:
        if self.last is not None and seconds > self.last:
            self.gaps = [*self.gaps, seconds - self.last][-self.gaps_kept :]
        self.last = seconds if self.last is None else max(self.last, seconds)
        return Finding(0.0, "comm_loss", "")

    def usual(self) -> float | None:
        return median(self.gaps) if len(self.gaps) >= 3 else None

    def silence(self, now: float) -> Finding:
        """At NOW (the data's clock), between readings: how long the series has been quiet."""
        usual = self.usual()
        if usual is None or self.last is None:
            return NO_EVIDENCE
        quiet = now - self.last
        if quiet <= self.k * usual:
            return NO_EVIDENCE  # quiet for a while is not yet evidence of either
        return Finding(
            1.0,
            "comm_loss",
            f"no reading for {quiet / 60:.0f} min (usually every {usual / 60:.0f} min)",
        )

    def to_state(self) -> dict[str, Any]:
        return {"last": self.last, "gaps": list(self.gaps)}


@dataclass(frozen=True)
class CheckSpec:
    make: Callable[[dict[str, Any] | None], Check]
    kinds: tuple[str, ...]  # fault kinds it can point to
    doc: str


def _pv(state: dict[str, Any] | None) -> Check:
    from cityfabric.analytics.physics_checks_pv import PvCheck

    return PvCheck(state)


def _reference(state: dict[str, Any] | None) -> Check:
    from cityfabric.analytics.physics_checks_reference import ReferenceCheck

    return ReferenceCheck(state)


def _series(name: str) -> Callable[[dict[str, Any] | None], Check]:
    def make(state: dict[str, Any] | None) -> Check:
        from cityfabric.analytics import physics_checks_series as series

        if name == "spike":
            return series.SpikeCheck(state)
        if name == "stuck":
            return series.StuckCheck(state)
        if name == "battery":
            return series.BatteryCheck(state)
        return series.LevelCheck(state)

    return make


CHECKS: Final[dict[str, CheckSpec]] = {
    "lamp": CheckSpec(LampCheck, ("day_burner", "lamp_failure"), "lamp power against the sun"),
    "flatline": CheckSpec(FlatlineCheck, ("stuck_meter",), "identical readings (stuck meter)"),
    "silence": CheckSpec(SilenceCheck, ("comm_loss",), "no readings (communication loss)"),
    "pv": CheckSpec(_pv, ("pv_failure", "pv_soiling", "pv_shading"), "PV output vs expected"),
    "spike": CheckSpec(_series("spike"), ("spike",), "far from the rolling median (Hampel)"),
    "stuck": CheckSpec(
        _series("stuck"), ("stuck_meter",), "repeats at hours the series usually changes"
    ),
    "battery": CheckSpec(
        _series("battery"), ("battery_degradation",), "discharge faster than it used to"
    ),
    "level": CheckSpec(_series("level"), ("sensor_drift",), "background level moving (drift)"),
    "reference": CheckSpec(
        _reference, ("sensor_drift",), "offset from an independent reference moving (drift)"
    ),
}
