"""Solar output against the clear sky: the sun's part of a PV forecast.

A day-ahead forecast of solar output cannot know tomorrow's clouds (the demo city's
cloudiness forgets itself within hours, and the panel sees nothing at night), but it can
know the sun: how much light a clear sky gives in each period at the site, which grows
through spring as days lengthen and the sun climbs. The forecast is that clear-sky
irradiance times the series' own clear-sky index at the same point of the day over its
last SUN_DAYS days (output over clear-sky irradiance, summed over those days, so a
panel's tilt, size and usual cloudiness are in the index and no panel data is needed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from cityfabric.analytics.physics_checks_sun import clear_sky_ghi_at

SUN_DAYS: Final = 7  # days of history the clear-sky index is taken over
SAMPLE_MS: Final = 900_000  # clear sky sampled every 15 minutes inside a period
DARK_SHARE: Final = 0.01  # see is_solar

Floats = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class Sky:
    """Where a series was measured and on which grid, to compute its clear sky."""

    latitude: float
    longitude: float
    start_ms: int
    step_ms: int

    def clear(self, n: int) -> Floats:
        """Mean clear-sky irradiance (W/m2) over each of the first `n` periods."""
        samples = max(1, min(12, self.step_ms // SAMPLE_MS))
        inside = (np.arange(samples) + 0.5) * (self.step_ms / samples)
        starts = self.start_ms + np.arange(n, dtype=float) * self.step_ms
        seconds = (starts[:, None] + inside[None, :]) / 1000.0
        ghi: Floats = clear_sky_ghi_at(seconds, self.latitude, self.longitude).mean(axis=1)
        return ghi


def is_solar(y: Floats, clear: Floats) -> bool:
    """Output only while the sun is up: the periods without a clear-sky sun hold under
    DARK_SHARE of the output, and none is below zero (solar panels; not lamps, loads or
    traffic). Not none at all: refraction lifts the sun a little before the formula does."""
    dark = clear[: len(y)] <= 0.0
    total = float(np.sum(y))
    if not dark.any() or total <= 0.0 or float(np.min(y)) < 0.0:
        return False
    return float(np.sum(y[dark])) < DARK_SHARE * total


def sun_forecast(
    y: Floats, clear: Floats, season: int, horizon: int, levels: Sequence[int]
) -> tuple[Floats, dict[int, tuple[Floats, Floats]]]:
    """(mean, level -> (lo, hi)) for the `horizon` periods after `y`; `clear` covers both.
    The bands hold the spread of the daily clear-sky index at each point of the day."""
    days = min(SUN_DAYS, len(y) // season)
    span = days * season
    past = y[len(y) - span :].reshape(days, season)
    sky = clear[len(y) - span : len(y)].reshape(days, season)
    total = sky.sum(axis=0)
    lit = total > 0.0
    index = np.where(lit, past.sum(axis=0) / np.where(lit, total, 1.0), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        daily = np.where(sky > 0.0, past / sky, index)  # each day's own index
    ahead = clear[len(y) : len(y) + horizon]
    point = np.arange(horizon) % season
    mean = ahead * index[point]
    bands = {}
    for lv in levels:
        tail = (1 - lv / 100) / 2
        lo, hi = np.quantile(daily - index, [tail, 1 - tail], axis=0)
        bands[lv] = (ahead * (index + lo)[point], ahead * (index + hi)[point])
    return mean, bands
