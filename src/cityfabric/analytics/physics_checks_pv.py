"""Photovoltaic output against what the site should give: failure, soiling and shading.

The expected output comes from the `Site`: from measured weather (global irradiance, air
temperature and wind of a nearby `WeatherObserved`) through `expected_pv`, the same chain of
models the demo city's physics uses (Erbs split, Hay-Davies plane of array, SAPM cell
temperature, PVWatts), or, without weather, from a clear sky, which only tells a dead panel.

- failure: no output while the site should give more than a tenth of the panel's peak;
- soiling: the ratio of measured to expected output, averaged over hours, falls slowly below
  the ratio the panel showed when it was learnt (clouds do not change the ratio);
- shading: the ratio dips sharply, for a quarter of an hour or at the same sun azimuth
  (so the same time) as the day before.

`peer_reference` sharpens the expectation with the site's other panels: the model's own
error (the irradiance split of a single pyranometer reading, a station a few minutes off)
is common to every panel of a city at the same hour, so dividing it out (the median
measured/expected ratio of all panels in that hour) leaves each panel's own losses, with a
spread of about 2 % an hour instead of 5-10 %.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
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


def peer_reference(
    panels: Mapping[str, tuple[FloatArray, FloatArray, FloatArray]], peaks: Mapping[str, float]
) -> dict[int, float]:
    """Per hour (Unix seconds // 3600), the median measured/expected ratio over every panel
    with a reading in that hour where it expects at least a quarter of its peak. PANELS:
    id -> (times, measured W, expected W). A few soiled or shaded panels move a median
    little; hours with readings of fewer than 3 panels get no factor."""
    by_hour: dict[int, list[float]] = {}
    seen: dict[int, set[str]] = {}
    for pid, (times, measured, expected) in panels.items():
        lit = expected >= 0.25 * peaks[pid]
        hours = (times[lit] // 3600).astype(np.int64).tolist()
        for hour, ratio in zip(hours, (measured[lit] / expected[lit]).tolist(), strict=True):
            by_hour.setdefault(hour, []).append(ratio)
            seen.setdefault(hour, set()).add(pid)
    return {h: float(np.median(v)) for h, v in by_hour.items() if len(seen[h]) >= 3}


def clear_sky_pv(sun: SunAt, peak: float) -> float:
    """A crude ceiling of a panel's output under a clear sky (no weather known), W."""
    return 0.8 * peak * clear_sky_ghi(sun) / 1000.0


class PvCheck:
    """Failure, soiling and shading of one panel from its output and the site's expectation.

    Soiling is judged on the energy ratio of the last 24 hours (measured over expected Wh,
    in hourly bins): a whole day weighs every sun position alike, so the model's errors
    that depend on the time of day and the panel's orientation cancel out day after day,
    which a ratio over a few hours does not do."""

    name = "pv"
    learn: Final = 2 * _DAY  # from the first daylight reading: the second day sets the ratio
    dip: Final = 0.55  # a reading under this share of the panel's ratio is a dip
    dip_run: Final = 3  # dips in a row that are a shadow, not a passing cloud's edge
    bin_degrees: Final = 10.0  # sun azimuth bins for "the same time each day"
    loss_floor: Final = 0.03  # a daily energy loss below this scores 0 ...
    loss_span: Final = 0.02  # ... and this much more scores 1

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        s = state or {}
        self.first: float | None = s.get("first")
        self.baseline = float(s.get("baseline", 0.0))
        self.learnt = int(s.get("learnt", 0))
        # hour of day -> [hour since the epoch, measured W summed, expected W summed]
        self.hours: dict[str, list[float]] = {k: list(v) for k, v in s.get("hours", {}).items()}
        self.dips: dict[str, float] = {k: float(v) for k, v in s.get("dips", {}).items()}
        self.run = int(s.get("run", 0))

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
        self.first = seconds if self.first is None else self.first
        ratio = min(value / expected, 2.0)
        learning = seconds - self.first < self.learn or self.learnt < 12
        if not learning and expected > 0.25 * site.peak:
            if ratio < self.dip * self.baseline:
                return self._dip(seconds, sun, ratio)  # shading: kept out of the day's energy
            self.run = 0
        day_ratio = self._add(seconds, value, expected)
        if learning:
            if seconds - self.first >= self.learn / 2:
                self.learnt += 1
                self.baseline += (day_ratio - self.baseline) / self.learnt
            return Finding(0.0, "pv_soiling", "")
        loss = 1.0 - day_ratio / self.baseline
        score = min(max((loss - self.loss_floor) / self.loss_span, 0.0), 1.0)
        return Finding(
            score, "pv_soiling", f"last 24 h: energy {loss:.0%} below the panel's usual share"
        )

    def _add(self, seconds: float, value: float, expected: float) -> float:
        """Add a reading to its hour's bin; the measured/expected energy of the last 24 h."""
        hour = math.floor(seconds / 3600.0)
        slot = self.hours.get(str(hour % 24))
        if slot is None or slot[0] != hour:
            slot = self.hours[str(hour % 24)] = [float(hour), 0.0, 0.0]
        slot[1] += value
        slot[2] += expected
        recent = [b for b in self.hours.values() if b[0] > hour - 24]
        return sum(b[1] for b in recent) / max(sum(b[2] for b in recent), 1e-9)

    def _dip(self, seconds: float, sun: SunAt, ratio: float) -> Finding:
        day = math.floor(seconds / _DAY)
        k = int(sun.azimuth // self.bin_degrees)
        before = [self.dips.get(str(b)) for b in (k - 1, k, k + 1)]
        self.dips[str(k)] = day
        self.run += 1
        share = ratio / self.baseline
        at = f"with the sun at {sun.azimuth:.0f}°"
        if any(d == day - 1 for d in before):
            return Finding(
                1.0, "pv_shading", f"output {share:.0%} of expected {at}, as the day before"
            )
        if self.run >= self.dip_run:
            return Finding(
                1.0, "pv_shading", f"output {share:.0%} of expected {at}, {self.run} readings"
            )
        return Finding(0.6, "pv_shading", f"output {share:.0%} of expected")

    def to_state(self) -> dict[str, Any]:
        return {
            "first": self.first,
            "baseline": self.baseline,
            "learnt": self.learnt,
            "hours": {k: list(v) for k, v in self.hours.items()},
            "dips": dict(self.dips),
            "run": self.run,
        }
