"""Model choice, gap filling and the statsforecast fit on synthetic seasonal series."""

from __future__ import annotations

import numpy as np
import pytest

from cityfabric.analytics.forecast_models import (
    Series,
    TooLittleHistory,
    _conformal_quantile,
    choose_model,
    fill_gaps,
    fit_forecasts,
    has_weekly_cycle,
    seasons_for,
)

HOUR = 3_600_000
DAY = 24 * HOUR


def seasonal(days: int, seed: int, weekly: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(days * 24 + 24)  # one more day: the holdout
    y = 100 + 30 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 4, len(t))
    if weekly:
        y += 25 * ((t // 24) % 7 >= 5)  # weekends are higher
    return y


def test_seasons_follow_the_frequency() -> None:
    assert seasons_for(HOUR) == (24, 168)
    assert seasons_for(15 * 60_000) == (96, 672)
    assert seasons_for(DAY) == (7,)
    assert seasons_for(7 * 60_000) == ()  # a day is not a whole number of 7-minute periods


def test_model_choice() -> None:
    assert choose_model("auto", 10 * 24, HOUR) == ("ets", (24,))
    assert choose_model("auto", 21 * 24, HOUR) == ("mstl", (24, 168))
    assert choose_model("auto", 21 * 24, HOUR, weekly=False) == ("ets", (24,))
    assert choose_model("auto", 5 * 96, 15 * 60_000) == ("mstl", (96,))  # day > 24 periods
    assert choose_model("naive", 21 * 24, HOUR) == ("naive", (24, 168))
    with pytest.raises(TooLittleHistory, match="at least 48"):
        choose_model("auto", 47, HOUR)


def test_gaps_are_filled() -> None:
    y = np.array([np.nan, 1.0, np.nan, 3.0, 4.0, np.nan])
    assert fill_gaps(y, 2).tolist() == [1.0, 2.0, 3.0, 4.0]  # ends cut, the middle interpolated
    long = np.array([1.0, 2.0, 3.0, 4.0] + [np.nan] * 5 + [9.0])
    filled = fill_gaps(long, 2)
    assert filled[4:9].tolist() == [3.0, 4.0, 3.0, 4.0, 3.0]  # a season earlier


def _mase(days: int, weekly: bool, model: str) -> tuple[float, float]:
    """Mean absolute error of the model and of seasonal naive over the held-out day."""
    ys = [seasonal(days, seed, weekly) for seed in range(4)]
    train = [Series(f"s{i}", 0, y[:-24]) for i, y in enumerate(ys)]
    errors = {}
    for name in (model, "naive"):
        got = fit_forecasts(train, step_ms=HOUR, horizon=24, model=name)
        errors[name] = float(
            np.mean([np.abs(f.mean - y[-24:]) for f, y in zip(got, ys, strict=True)])
        )
    return errors[model], errors["naive"]


@pytest.mark.parametrize(("days", "weekly"), [(10, False), (28, True)])
def test_forecasts_beat_seasonal_naive(days: int, weekly: bool) -> None:
    model_error, naive_error = _mase(days, weekly, "auto")
    assert model_error < 0.8 * naive_error, (model_error, naive_error)


def test_intervals_are_ordered_and_cover_the_truth() -> None:
    y = seasonal(14, 7)
    (f,) = fit_forecasts([Series("s", 0, y[:-24])], step_ms=HOUR, horizon=24, levels=(50, 80, 95))
    lo50, hi50 = f.bands[50]
    lo80, hi80 = f.bands[80]
    lo95, hi95 = f.bands[95]
    assert np.all(lo95 <= lo80) and np.all(lo80 <= lo50) and np.all(lo50 <= f.mean)
    assert np.all(f.mean <= hi50) and np.all(hi50 <= hi80) and np.all(hi80 <= hi95)
    assert np.mean((y[-24:] >= lo95) & (y[-24:] <= hi95)) >= 0.8
    assert f.times_ms[0] == (len(y) - 24) * HOUR  # the period after the last one


def test_every_model_runs() -> None:
    series = [Series("s", 0, seasonal(22, 3))]
    for model in ("mstl", "ets", "arima", "naive"):
        (f,) = fit_forecasts(series, step_ms=HOUR, horizon=6, model=model)
        assert f.model == model and np.all(np.isfinite(f.mean))


def test_too_sparse_a_series_is_refused() -> None:
    y = seasonal(10, 1)
    y[::3] = np.nan
    y[1::3] = np.nan  # a third of the hours have values
    with pytest.raises(TooLittleHistory, match="half the periods"):
        fit_forecasts([Series("s", 0, y)], step_ms=HOUR, horizon=6)


def test_a_weekly_cycle_is_modelled_only_where_there_is_one() -> None:
    assert has_weekly_cycle(seasonal(28, 1, weekly=True), (24, 168))
    assert not has_weekly_cycle(seasonal(28, 1), (24, 168))
    assert not has_weekly_cycle(seasonal(14, 1, weekly=True), (24, 168))  # under 3 weeks
    (f,) = fit_forecasts([Series("s", 0, seasonal(28, 1))], step_ms=HOUR, horizon=3)
    assert f.model == "ets"


def test_a_series_never_below_zero_is_not_forecast_below_it() -> None:
    y = np.clip(seasonal(10, 2) - 100, 0, None)  # zero half the day, like solar power
    (f,) = fit_forecasts([Series("s", 0, y)], step_ms=HOUR, horizon=24)
    assert f.mean.min() == 0 and f.bands[95][0].min() == 0 and f.bands[95][1].max() > 0


def _varying_days(days: int, seed: int) -> np.ndarray:
    """A daily cycle whose amplitude changes from day to day, plus noise: the model's own
    intervals treat the shape as known and come out too narrow."""
    rng = np.random.default_rng(seed)
    t = np.arange(days * 24 + 24)
    amplitude = 30 * (1 + 0.35 * rng.standard_normal(days + 1))[t // 24]
    return 100 + amplitude * np.sin(2 * np.pi * t / 24) + rng.normal(0, 4, len(t))


def test_calibrated_80_percent_interval_covers_a_held_out_day() -> None:
    ys = [_varying_days(14, seed) for seed in range(30)]
    train = [Series(f"s{i}", 0, y[:-24]) for i, y in enumerate(ys)]
    got = fit_forecasts(train, step_ms=HOUR, horizon=24, levels=(80,))
    inside = [
        np.mean((y[-24:] >= f.bands[80][0]) & (y[-24:] <= f.bands[80][1]))
        for f, y in zip(got, ys, strict=True)
    ]
    assert 0.7 <= float(np.mean(inside)) <= 0.9, np.mean(inside)


def test_conformal_quantile() -> None:
    scores = np.arange(1.0, 49.0)  # 48 scores
    assert _conformal_quantile(scores, 0.8) == 40.0  # ceil(49 * 0.8) = 40th
    assert _conformal_quantile(scores[:5], 0.95) == 5.0  # more than there are: the largest


def solar(days: int, seed: int) -> np.ndarray:
    """Hourly output of a panel: zero at night, a daytime bump scaled by each day's sky."""
    rng = np.random.default_rng(seed)
    hours = np.arange(days * 24) % 24
    shape = np.clip(np.sin(np.pi * (hours - 5) / 14), 0.0, None)  # light from 5 h to 19 h
    sky = np.repeat(rng.uniform(0.3, 1.0, days), 24)
    return np.round(200 * shape * sky, 1)


def test_hours_that_were_always_zero_are_forecast_as_zero() -> None:
    y = solar(21, 0)
    (f,) = fit_forecasts([Series("pv", 0, y)], step_ms=HOUR, horizon=24, model="ets")
    night = np.clip(np.sin(np.pi * (np.arange(24) - 5) / 14), 0.0, None) == 0.0
    assert np.all(f.mean[night] == 0.0) and np.all(f.mean[~night][3:-3] > 0.0)
    for lo, hi in f.bands.values():
        assert np.all(lo[night] == 0.0) and np.all(hi[night] == 0.0)
    y[-22] = 5.0  # 2 h into the last day: once not zero, that hour is modelled again
    (g,) = fit_forecasts([Series("pv", 0, y)], step_ms=HOUR, horizon=24, model="ets")
    assert np.any(g.bands[80][1][night] > 0.0)


def test_auto_keeps_the_model_that_erred_least_on_the_last_days() -> None:
    from cityfabric.analytics.forecast_models import _calibration, prepare

    series = [Series(f"pv{k}", 0, solar(20, k)) for k in range(3)]  # under 3 weeks
    series += [Series(f"load{k}", 0, seasonal(19, k)) for k in range(3)]
    got = {f.key: f.model for f in fit_forecasts(series, step_ms=HOUR, horizon=24)}
    prepared = [prepare(s, HOUR, "auto") for s in series]
    assert all(p.model == "ets" and p.alternatives == ("mstl",) for p in prepared)
    _, ets = _calibration(prepared, "ets", (24,), (80,), 1)
    _, mstl = _calibration(prepared, "mstl", (24,), (80,), 1)
    want = {s.key: "mstl" if m < e else "ets" for s, e, m in zip(series, ets, mstl, strict=True)}
    assert got == want
    assert prepare(series[0], HOUR, "ets").alternatives == ()  # a model asked for is kept
