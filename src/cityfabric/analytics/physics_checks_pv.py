"""Photovoltaic output against what the site should give: failure, soiling and shading.

The expected output comes from the `Site`: from measured weather (global irradiance, air
temperature and wind of a nearby `WeatherObserved`) through `expected_pv`, the same chain of
models the demo city's physics uses (Erbs split, Hay-Davies plane of array, SAPM cell
temperature, PVWatts), or, without weather, from a clear sky, which only tells a dead panel.

- failure: no output while the site should give more than a tenth of the panel's peak;
- soiling: the ratio of measured to expected output, averaged over hours, falls slowly below
  the ratio the panel showed when it was learnt (clouds do not change the ratio);
- shading: the ratio dips sharply at the same sun azimuth (so the same time) on two days.
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np
from pvlib import irradiance, pvsystem, temperature  # type: ignore[import-untyped]

from cityfabric.analytics.physics_checks import NO_EVIDENCE, Finding, Site
from cityfabric.analytics.physics_checks_sun import SunAt, clear_sky_ghi
from cityfabric.analytics.types import FloatArray

PV_LOSSES: Final = float(pvsystem.pvwatts_losses(soiling=0, shading=0, availability=0))
_SAPM: Final = temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"]
_DAY: Final = 86400.0


def expected_pv(
    zenith: FloatArray,
    sun_azimuth: FloatArray,
    weather: tuple[FloatArray, FloatArray, FloatArray],
    panel: tuple[float, float, float, float],
    mount: str = "open_rack_glass_glass",
) -> FloatArray:
    """DC power (W) of a clean, unshaded panel (tilt, azimuth, peak W, gamma per K) under
    measured weather (global horizontal irradiance W/m2, air temperature degC, wind m/s)."""
    ghi, air_temp, wind = weather
    tilt, azimuth, peak, gamma = panel
    up = (zenith < 90.0) & (ghi > 0.0)
    split: Any = irradiance.erbs(ghi, zenith, 172)  # dni_extra: its order is enough here
    poa: Any = irradiance.get_total_irradiance(
        tilt, azimuth, zenith, sun_azimuth, split["dni"], ghi, split["dhi"],
        dni_extra=irradiance.get_extra_radiation(172), model="haydavies",
    )  # fmt: skip
    effective = np.nan_to_num(np.asarray(poa["poa_global"], dtype=float))
    p = _SAPM[mount]
    cell = temperature.sapm_cell(effective, air_temp, wind, p["a"], p["b"], p["deltaT"])
    dc = np.asarray(pvsystem.pvwatts_dc(effective, cell, peak, gamma), dtype=float)
    out: FloatArray = np.where(up, np.clip(dc * (1.0 - PV_LOSSES / 100.0), 0.0, peak), 0.0)
    return out


def clear_sky_pv(sun: SunAt, peak: float) -> float:
    """A crude ceiling of a panel's output under a clear sky (no weather known), W."""
    return 0.8 * peak * clear_sky_ghi(sun) / 1000.0


class PvCheck:
    """Failure, soiling and shading of one panel from its output and the site's expectation."""

    name = "pv"
    learn: Final = 400  # daylight readings that set the panel's own ratio (about 4 days)
    dip: Final = 0.55  # a reading under this share of the panel's ratio is a dip
    bin_degrees: Final = 10.0  # sun azimuth bins for "the same time each day"

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        s = state or {}
        self.baseline = float(s.get("baseline", 0.0))
        self.learnt = int(s.get("learnt", 0))
        self.recent = s.get("recent")
        self.dips: dict[str, float] = {k: float(v) for k, v in s.get("dips", {}).items()}

    def update(self, seconds: float, value: float, site: Site) -> Finding:
        sun = site.sun(seconds)
        if sun is None or site.expected is None or not site.peak:
            return NO_EVIDENCE
        expected = site.expected(seconds)
        if expected is None or expected < 0.1 * site.peak:
            return NO_EVIDENCE
        if value <= 0.005 * site.peak:
            return Finding(1.0, "pv_failure", f"no output in daylight (expected {expected:.0f} W)")
        if not site.expected_is_measured:
            return Finding(0.0, "pv_failure", "")
        ratio = min(value / expected, 2.0)
        if self.learnt < self.learn:
            self.learnt += 1
            self.baseline += (ratio - self.baseline) / self.learnt
            return Finding(0.0, "pv_soiling", "")
        if ratio < self.dip * self.baseline and expected > 0.25 * site.peak:
            return self._dip(seconds, sun, ratio)
        alpha = 1.0 / 72.0  # about six hours of five-minute daylight readings
        self.recent = ratio if self.recent is None else self.recent + alpha * (ratio - self.recent)
        loss = 1.0 - self.recent / self.baseline
        score = min(max((loss - 0.04) / 0.08, 0.0), 1.0)
        return Finding(score, "pv_soiling", f"output {loss:.0%} below the panel's usual share")

    def _dip(self, seconds: float, sun: SunAt, ratio: float) -> Finding:
        day = math.floor(seconds / _DAY)
        k = int(sun.azimuth // self.bin_degrees)
        before = [self.dips.get(str(b)) for b in (k - 1, k, k + 1)]
        self.dips[str(k)] = day
        share = ratio / self.baseline
        if any(d == day - 1 for d in before):
            at = f"with the sun at {sun.azimuth:.0f}°"
            return Finding(
                1.0, "pv_shading", f"output {share:.0%} of expected {at}, as the day before"
            )
        return Finding(0.6, "pv_shading", f"output {share:.0%} of expected")

    def to_state(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "learnt": self.learnt,
            "recent": self.recent,
            "dips": dict(self.dips),
        }
