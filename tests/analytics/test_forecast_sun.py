"""The clear-sky forecast of solar output, and `auto` choosing it for solar series at a site."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from cityfabric.analytics.forecast_models import Series, fit_forecasts
from cityfabric.analytics.forecast_sun import Sky, is_solar, sun_forecast
from cityfabric.analytics.physics_checks_sun import clear_sky_ghi, clear_sky_ghi_at, sun_at

HOUR = 3_600_000
SITE = (39.12, 117.71)  # Tianjin eco-city
START = int(datetime(2025, 3, 3, tzinfo=UTC).timestamp() * 1000)


def _panel(days: int, seed: int, sky: Sky | None = None) -> np.ndarray:
    """Hourly output of a panel whose clear-sky index is drawn afresh each day (the clouds)."""
    sky = sky or Sky(*SITE, START, HOUR)
    clear = sky.clear(days * 24)
    index = np.random.default_rng(seed).uniform(0.02, 0.12, days)
    return np.asarray(clear * np.repeat(index, 24))


def test_clear_sky_in_numpy_matches_the_scalar_formulas() -> None:
    seconds = START / 1000 + np.arange(0, 3 * 86400, 1234.5)
    scalar = [clear_sky_ghi(sun_at(t, *SITE)) for t in seconds]
    np.testing.assert_allclose(clear_sky_ghi_at(seconds, *SITE), scalar, atol=1e-9)


def test_period_means_of_the_clear_sky() -> None:
    clear = Sky(*SITE, START, HOUR).clear(48)
    assert clear[np.arange(48) % 24 == 16].tolist() == [0.0, 0.0]  # midnight local (UTC+8)
    assert 600 < clear[4] < 800  # local noon in March
    assert clear[24 + 4] > clear[4]  # the sun climbs day by day in spring


def test_solar_output_is_told_from_other_series() -> None:
    sky = Sky(*SITE, START, HOUR)
    clear = sky.clear(10 * 24)
    panel = _panel(10, 1)
    assert is_solar(panel, clear)
    lamp = np.where(clear > 0, 0.0, 50.0)  # on at night
    load = 100 + 0.1 * clear
    assert not is_solar(lamp, clear)
    assert not is_solar(load, clear)
    assert not is_solar(np.zeros(len(clear)), clear)


def test_a_steady_index_gives_the_clear_sky_ahead() -> None:
    sky = Sky(*SITE, START, HOUR)
    clear = sky.clear(10 * 24 + 5 + 30)
    y = 0.2 * clear[: 10 * 24 + 5]  # ends mid-day: the forecast must keep the hour of day
    mean, bands = sun_forecast(y, clear, 24, 30, [80])
    np.testing.assert_allclose(mean, 0.2 * clear[len(y) : len(y) + 30], atol=1e-9)
    lo, hi = bands[80]
    assert np.all(lo <= mean + 1e-9) and np.all(mean <= hi + 1e-9)


def test_auto_uses_the_sun_for_solar_output_at_a_site() -> None:
    days, origins = 28, 8
    clear = Sky(*SITE, START, HOUR).clear(days * 24)
    index = np.random.default_rng(5).uniform(0.02, 0.12, days)
    y = clear * np.repeat(index, 24)
    cuts = [(days - k) * 24 for k in range(origins, 0, -1)]
    with_site = [Series(f"pv{c}", START, y[:c], SITE) for c in cuts]
    without = Series("pv-nowhere", START, y[: cuts[-1]])
    *suns, other = fit_forecasts([*with_site, without], step_ms=HOUR, horizon=24, levels=[80])
    assert {f.model for f in suns} == {"sun"} and other.model != "sun"
    ahead = clear[cuts[-1] :]
    assert np.all(suns[-1].mean[ahead == 0] == 0) and np.all(suns[-1].mean[ahead > 50] > 0)
    # the clouds of the next day are unknown; knowing the sun beats repeating yesterday
    sun_mae = np.mean([np.abs(f.mean - y[c : c + 24]) for f, c in zip(suns, cuts, strict=True)])
    naive_mae = np.mean([np.abs(y[c - 24 : c] - y[c : c + 24]) for c in cuts])
    assert sun_mae < 0.9 * naive_mae
