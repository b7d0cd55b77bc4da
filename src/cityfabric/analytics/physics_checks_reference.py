"""A sensor against an independent measure of the same quantity: drift.

A drifting sensor's own series cannot tell its drift from the weather (air temperature
warms for weeks on end by as much as a thermometer drifts); a second, independent measure
of the same quantity can. `Site.reference(seconds)` gives one where it exists, e.g. the air
temperature from the city's PV panels at night, when a panel's cell temperature is the air
temperature (SAPM with no irradiance). The check learns the usual offset between the two
(a calibration difference, a siting difference) from its first readings, then follows the
offset with a short moving average and scores its distance from the learnt one, in units
of the offset's own spread (at least `min_noise`).
"""

from __future__ import annotations

from statistics import median
from typing import Any, Final

from cityfabric.analytics.physics_checks import NO_EVIDENCE, Finding, Site

_MAD_SIGMA: Final = 1.4826


class ReferenceCheck:
    """The offset of a reading from its reference moving away from the learnt offset."""

    name = "reference"
    learn: Final = 48  # readings with a reference that set the usual offset
    memory: Final = 12  # readings the moving offset averages over
    min_noise: Final = 0.1  # the least spread of the offset assumed, in the series' units
    floor: Final = 4.0  # a moved offset below this many spreads scores 0 ...
    span: Final = 2.0  # ... and this many more score 1

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        s = state or {}
        self.learnt: list[float] = [float(v) for v in s.get("learnt", [])]
        self.recent: float | None = s.get("recent")

    def update(self, seconds: float, value: float, site: Site) -> Finding:
        reference = site.reference(seconds) if site.reference is not None else None
        if reference is None:
            return NO_EVIDENCE  # no reference now (by day, for a night-time one)
        offset = value - reference
        if len(self.learnt) < self.learn:
            self.learnt.append(offset)
            return Finding(0.0, "sensor_drift", "")
        usual, noise = self._baseline()
        alpha = 1.0 / self.memory
        self.recent = (
            offset if self.recent is None else self.recent + alpha * (offset - self.recent)
        )
        moved = self.recent - usual
        score = min(max((abs(moved) / noise - self.floor) / self.span, 0.0), 1.0)
        return Finding(
            score,
            "sensor_drift",
            f"{moved:+.2f} away from its reference's usual offset ({usual:+.2f})",
        )

    def _baseline(self) -> tuple[float, float]:
        usual = median(self.learnt)
        mad = median(abs(v - usual) for v in self.learnt)
        return usual, max(_MAD_SIGMA * mad, self.min_noise)

    def to_state(self) -> dict[str, Any]:
        return {"learnt": list(self.learnt), "recent": self.recent}
