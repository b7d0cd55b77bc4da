"""Fitting many series at once with statsforecast: model choice, gap filling, intervals.

Pure numeric code (numpy in, numpy out) shared by the forecast service and
`bench/forecast.py`. statsforecast (and pandas) are imported inside the functions
that fit, so importing this module costs nothing at start-up.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from cityfabric.analytics.forecast_sun import Sky, is_solar, sun_forecast
from cityfabric.ngsild.temporal import DAY_MS

MODELS: Final = ("auto", "mstl", "ets", "arima", "naive")
MAX_ETS_SEASON: Final = 24  # statsforecast's ETS has no seasonal state beyond 24 periods
MAX_SEASON: Final = 1000  # longer seasons are left out (STL and seasonal state get too costly)
WEEKS_FOR_WEEKLY: Final = 3  # weeks of history before the weekly season is modelled
WEEKLY_ACF: Final = 0.2  # see has_weekly_cycle
SEASONS_NEEDED: Final = 2  # whole seasons of history a seasonal model needs
MIN_OBSERVED: Final = 0.5  # share of the periods that must hold a value
MAX_INTERPOLATED_GAP: Final = 3  # longer gaps take the value one season earlier
CALIBRATION_WINDOWS: Final = 2  # held-back seasons the intervals are calibrated on
CALIBRATION_SPAN: Final = 24  # periods per calibration window when there is no season

Floats = np.ndarray[Any, np.dtype[np.float64]]


class TooLittleHistory(ValueError):
    """The series is too short (or too sparse) for the chosen model."""


@dataclass(frozen=True)
class Series:
    """Values on the grid start_ms + k * step_ms; NaN where a period had no value."""

    key: str
    start_ms: int
    values: Floats
    site: tuple[float, float] | None = None  # (latitude, longitude) where it was measured


@dataclass(frozen=True)
class Forecast:
    key: str
    model: str
    times_ms: list[int]
    mean: Floats
    bands: dict[int, tuple[Floats, Floats]] = field(default_factory=dict)  # level -> (lo, hi)


def seasons_for(step_ms: int) -> tuple[int, ...]:
    """The daily and weekly season lengths in periods of `step_ms` (whole numbers only)."""
    out = []
    for span in (DAY_MS, 7 * DAY_MS):
        if span % step_ms == 0 and 2 <= span // step_ms <= MAX_SEASON:
            out.append(span // step_ms)
    return tuple(out)


def min_periods(step_ms: int) -> int:
    """The fewest periods with values any model is given: two of the shortest season."""
    seasons = seasons_for(step_ms)
    return SEASONS_NEEDED * seasons[0] if seasons else 14


def choose_model(
    requested: str, n: int, step_ms: int, *, weekly: bool = True
) -> tuple[str, tuple[int, ...]]:
    """(model, seasons) for a series of `n` periods: MSTL with the weekly season once there
    are three weeks (and, for `auto`, a `weekly` cycle), else AutoETS with the daily one
    (MSTL when a day is more than 24 periods)."""
    seasons = seasons_for(step_ms)
    usable = tuple(s for s in seasons if n >= SEASONS_NEEDED * s)
    if len(seasons) > 1 and (n < WEEKS_FOR_WEEKLY * seasons[1] or not weekly):
        usable = usable[:1]
    if n < min_periods(step_ms):
        raise TooLittleHistory(f"needs at least {min_periods(step_ms)} periods, has {n}")
    if requested != "auto":
        return requested, usable
    if not usable:
        return "ets", ()
    if len(usable) > 1 or usable[0] > MAX_ETS_SEASON:
        return "mstl", usable
    return "ets", usable


def fill_gaps(values: Floats, season: int) -> Floats:
    """Leading and trailing gaps cut; short gaps interpolated; long ones seasonally filled."""
    observed = np.flatnonzero(~np.isnan(values))
    if len(observed) == 0:
        return values[:0].copy()
    y = values[observed[0] : observed[-1] + 1].copy()
    missing = np.isnan(y)
    if not missing.any():
        return y
    idx = np.arange(len(y))
    linear = np.interp(idx, idx[~missing], y[~missing])
    run_id = np.cumsum(~missing)  # a gap's points share the count of values before them
    lengths = np.bincount(run_id[missing], minlength=run_id[-1] + 1)
    long_gap = missing & (lengths[run_id] > MAX_INTERPOLATED_GAP)
    y[missing & ~long_gap] = linear[missing & ~long_gap]
    for i in np.flatnonzero(long_gap):  # in time order, so filled values feed later ones
        y[i] = y[i - season] if season > 0 and i >= season else linear[i]
    return y


def _model(name: str, seasons: tuple[int, ...]) -> Any:
    from statsforecast.models import AutoARIMA, AutoETS, SeasonalNaive

    from cityfabric.analytics.forecast_mstl import FastMSTL

    main = seasons[0] if seasons else 1
    if name == "naive":
        return SeasonalNaive(season_length=main, alias="naive")
    if name == "arima":
        # the approximate likelihood and at most one seasonal AR/MA term: the full search
        # takes ~45 s for three weeks of hourly values, this one ~1.5 s
        return AutoARIMA(season_length=main, approximation=True, max_P=1, max_Q=1, alias="arima")
    if name == "ets":
        # ETS(A,N,A): on the benchmark series as accurate as the full AutoETS search, 15x faster
        if 1 < main <= MAX_ETS_SEASON:
            return AutoETS(season_length=main, model="ANA", alias="ets")
        return AutoETS(model="ZZN", alias="ets")
    if not seasons:
        raise TooLittleHistory("MSTL needs two whole days of history")
    # the trend of the deseasonalised series by simple exponential smoothing: as accurate as
    # the ZZN search on the benchmark, 2-3x faster
    trend = AutoETS(model="ANN")
    return FastMSTL(list(seasons), trend_forecaster=trend, stl_kwargs=_STL, alias="mstl")


# STL evaluates its loess smoothers at every `jump`-th point and interpolates between them;
# at about a tenth of each window the decomposition is ~10x faster and barely differs
_STL: Final = {"seasonal_jump": 2, "trend_jump": 20, "low_pass_jump": 10}


@dataclass(frozen=True)
class Prepared:
    series: Series
    y: Floats
    start_ms: int
    model: str
    seasons: tuple[int, ...]
    floor: float | None = None  # a series never below zero is not forecast below it
    # `auto` between the chosen model and these: the one with the smaller error over the
    # calibration windows (the last days of the history, refitted without them) is used
    alternatives: tuple[str, ...] = ()
    sky: Sky | None = None  # the clear sky at the site, for the `sun` model


def prepare(series: Series, step_ms: int, requested: str) -> Prepared:
    """The filled series and its model; TooLittleHistory when it cannot be fitted."""
    seasons = seasons_for(step_ms)
    values = series.values
    observed = int(np.count_nonzero(~np.isnan(values)))
    y = fill_gaps(values, seasons[0] if seasons else 0)
    if observed < min_periods(step_ms) or observed < MIN_OBSERVED * len(y):
        raise TooLittleHistory(
            f"needs at least {min_periods(step_ms)} periods with values "
            f"(and values in half the periods since the first), has {observed} of {len(y)}"
        )
    first = int(np.flatnonzero(~np.isnan(values))[0])
    weekly = requested != "auto" or has_weekly_cycle(y, seasons)
    model, used = choose_model(requested, len(y), step_ms, weekly=weekly)
    floor = 0.0 if float(np.min(y)) >= 0 else None
    # without a weekly cycle, ETS(A,N,A) and MSTL with the daily season both fit a day's
    # shape; which one follows a series better (traffic: ETS) is decided on the series' own
    # last days
    alternatives = ("mstl",) if requested == "auto" and model == "ets" and used else ()
    start_ms = series.start_ms + first * step_ms
    sky = _solar_sky(series, y, start_ms, step_ms) if requested == "auto" and used else None
    if sky is not None:  # solar output at a known site: the model that knows the sun
        model, used, alternatives = "sun", used[:1], ()
    return Prepared(series, y, start_ms, model, used, floor, alternatives, sky)


def _solar_sky(series: Series, y: Floats, start_ms: int, step_ms: int) -> Sky | None:
    """The clear sky over the series, when it has a site and looks like solar output."""
    if series.site is None:
        return None
    sky = Sky(*series.site, start_ms, step_ms)
    return sky if is_solar(y, sky.clear(len(y))) else None


def has_weekly_cycle(y: Floats, seasons: tuple[int, ...]) -> bool:
    """Whether the change from one day to the next repeats a week later: the lag-one-week
    autocorrelation of the day-on-day differences is at least WEEKLY_ACF. Office loads and
    taxi rides show it (0.4-0.8); solar output, which follows the weather, does not (~0)."""
    if len(seasons) < 2 or len(y) < WEEKS_FOR_WEEKLY * seasons[1]:
        return False
    day, week = seasons[0], seasons[1]
    d = y[day:] - y[:-day]
    d = d - d.mean()
    total = float(np.dot(d, d))
    return total > 0 and float(np.dot(d[:-week], d[week:])) / total >= WEEKLY_ACF


def fit_forecasts(
    series: Sequence[Series],
    *,
    step_ms: int,
    horizon: int,
    levels: Sequence[int] = (80, 95),
    model: str = "auto",
    n_jobs: int = 1,
) -> list[Forecast]:
    """Forecasts of every series (TooLittleHistory for the first that cannot be fitted)."""
    prepared = [prepare(s, step_ms, model) for s in series]
    return fit_prepared(prepared, step_ms=step_ms, horizon=horizon, levels=levels, n_jobs=n_jobs)


def fit_prepared(
    prepared: Sequence[Prepared],
    *,
    step_ms: int,
    horizon: int,
    levels: Sequence[int] = (80, 95),
    n_jobs: int = 1,
) -> list[Forecast]:
    """Forecasts in the order given; series sharing a model and seasons are fitted in one
    statsforecast call."""
    groups: dict[tuple[str, tuple[int, ...]], list[Prepared]] = {}
    for p in prepared:
        groups.setdefault((p.model, p.seasons), []).append(p)
    out: dict[str, Forecast] = {}
    for (name, seasons), members in groups.items():
        for chosen, factors, group in _select(members, name, seasons, levels, n_jobs):
            for f in _fit_group(group, chosen, seasons, step_ms, horizon, levels, n_jobs, factors):
                out[f.key] = f
    return [out[p.series.key] for p in prepared]


def _select(
    members: list[Prepared],
    name: str,
    seasons: tuple[int, ...],
    levels: Sequence[int],
    n_jobs: int,
) -> list[tuple[str, dict[int, Floats], list[Prepared]]]:
    """(model, calibration factors, series) groups: each series with the model of its own
    or its alternatives that erred least over the calibration windows (ties and series too
    short for the windows keep their own)."""
    factors, errors = _calibration(members, name, seasons, levels, n_jobs)
    alternatives = {a for p in members for a in p.alternatives}
    if not alternatives:
        return [(name, factors, members)]
    best = np.full(len(members), -1)
    best_error = errors.copy()
    candidates = sorted(alternatives)
    alt_factors = []
    for k, alt in enumerate(candidates):
        f_alt, e_alt = _calibration(members, alt, seasons, levels, n_jobs)
        alt_factors.append(f_alt)
        better = np.isfinite(e_alt) & ~(e_alt >= best_error)
        better &= np.array([alt in p.alternatives for p in members])
        best = np.where(better, k, best)
        best_error = np.where(better, e_alt, best_error)
    out = []
    for k, model in [(-1, name), *enumerate(candidates)]:
        idx = np.flatnonzero(best == k)
        if len(idx):
            chosen = factors if k < 0 else alt_factors[k]
            group_factors = {lv: v[idx] for lv, v in chosen.items()}
            out.append((model, group_factors, [members[i] for i in idx.tolist()]))
    return out


def _fit_group(
    members: list[Prepared],
    name: str,
    seasons: tuple[int, ...],
    step_ms: int,
    horizon: int,
    levels: Sequence[int],
    n_jobs: int,
    factors: dict[int, Floats],
) -> list[Forecast]:
    ys, skies = [p.y for p in members], [p.sky for p in members]
    mean, bands = _raw_fit(ys, name, seasons, horizon, levels, n_jobs, skies)
    out = []
    for i, p in enumerate(members):
        last = p.start_ms + (len(p.y) - 1) * step_ms
        times = [last + k * step_ms for k in range(1, horizon + 1)]
        off = _always_zero(p.y, seasons[0] if seasons else 0, horizon)
        raw = np.where(off, 0.0, mean[i])
        own = {}
        for lv, (lo, hi) in bands.items():
            f = factors[lv][i]
            lo_i, hi_i = _bound(lo[i], raw), _bound(hi[i], raw)
            own[lv] = (
                np.where(off, 0.0, _floored(raw - f * (raw - lo_i), p.floor)),
                np.where(off, 0.0, _floored(raw + f * (hi_i - raw), p.floor)),
            )
        out.append(Forecast(p.series.key, name, times, _floored(raw, p.floor), own))
    return out


def _always_zero(y: Floats, season: int, horizon: int) -> Any:
    """Per forecast step, whether the series was exactly 0 at that point of the season in
    every one of its (at least SEASONS_NEEDED) seasons: solar output at night, a lamp by
    day. A model with an additive season puts its level there too; the series will not."""
    if season < 2 or len(y) < SEASONS_NEEDED * season:
        return np.zeros(horizon, dtype=bool)
    tail = y[len(y) % season :].reshape(-1, season)  # whole seasons, aligned to the end
    zero = np.all(tail == 0.0, axis=0)
    return zero[np.arange(horizon) % season]


def _raw_fit(
    ys: Sequence[Floats],
    name: str,
    seasons: tuple[int, ...],
    horizon: int,
    levels: Sequence[int],
    n_jobs: int,
    skies: Sequence[Sky | None] = (),
) -> tuple[Floats, dict[int, tuple[Floats, Floats]]]:
    """The model's own mean and bands, one row per series (no flooring, no calibration)."""
    if name == "sun":
        return _sun_fit(ys, seasons, horizon, levels, n_jobs, skies)
    import pandas as pd
    import tqdm  # type: ignore[import-untyped]
    from statsforecast import StatsForecast

    # statsforecast wraps its loop in tqdm even when silent, and each tqdm starts a
    # monitor thread that outlives the fit; the monitor only tunes progress bars
    tqdm.tqdm.monitor_interval = 0

    frame = pd.DataFrame(
        {
            "unique_id": np.repeat(np.arange(len(ys)), [len(y) for y in ys]),
            "ds": np.concatenate([np.arange(len(y)) for y in ys]),
            "y": np.concatenate(list(ys)),
        }
    )
    engine = StatsForecast(models=[_model(name, seasons)], freq=1, n_jobs=n_jobs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = engine.forecast(df=frame, h=horizon, level=list(levels))
    result = result.sort_values(["unique_id", "ds"], kind="stable")
    shape = (len(ys), horizon)

    def column(suffix: str) -> Floats:
        values: Floats = result[name + suffix].to_numpy(dtype=float).reshape(shape)
        return values

    bands = {lv: (column(f"-lo-{lv}"), column(f"-hi-{lv}")) for lv in levels}
    return column(""), bands


def _sun_fit(
    ys: Sequence[Floats],
    seasons: tuple[int, ...],
    horizon: int,
    levels: Sequence[int],
    n_jobs: int,
    skies: Sequence[Sky | None],
) -> tuple[Floats, dict[int, tuple[Floats, Floats]]]:
    """`sun`: the mean of MSTL with the daily season (which follows the recent days) and the
    clear-sky forecast (which knows the sun), mean and bands alike."""
    day = seasons[0]
    mean, bands = _raw_fit(ys, "mstl", (day,), horizon, levels, n_jobs)
    for i, (y, sky) in enumerate(zip(ys, skies, strict=True)):
        if sky is None:
            raise TooLittleHistory("the sun model needs the series' site")
        sun_mean, sun_bands = sun_forecast(y, sky.clear(len(y) + horizon), day, horizon, levels)
        mean[i] = (mean[i] + sun_mean) / 2
        for lv, (lo, hi) in sun_bands.items():
            bands[lv][0][i] = (bands[lv][0][i] + lo) / 2
            bands[lv][1][i] = (bands[lv][1][i] + hi) / 2
    return mean, bands


def _calibration(
    members: list[Prepared],
    name: str,
    seasons: tuple[int, ...],
    levels: Sequence[int],
    n_jobs: int,
) -> tuple[dict[int, Floats], Floats]:
    """Per series and level, the factor that widens (or narrows) the model's own interval
    so that it held the wanted share of the last CALIBRATION_WINDOWS seasons of the
    series (split conformal): the model is fitted again on the history before each
    window, and the errors over the window, each divided by the interval's half-width
    at that step, give the factor as their conformal quantile. Series too short to lose
    those periods take the median factor of the others (1 when none has one). Also, per
    series, the mean absolute error over those windows (NaN for the series too short)."""
    span = seasons[0] if seasons else CALIBRATION_SPAN
    need = SEASONS_NEEDED * max(seasons) if seasons else 2 * CALIBRATION_SPAN
    usable = [i for i, p in enumerate(members) if len(p.y) - CALIBRATION_WINDOWS * span >= need]
    factors = {lv: np.ones(len(members)) for lv in levels}
    errors = np.full(len(members), np.nan)
    if not usable:
        return factors, errors
    absolute: list[list[Floats]] = [[] for _ in members]
    per_level: dict[int, list[list[Floats]]] = {lv: [[] for _ in members] for lv in levels}
    for w in range(1, CALIBRATION_WINDOWS + 1):
        cut = w * span
        ys = [members[i].y[:-cut] for i in usable]
        skies = [members[i].sky for i in usable]
        mean, bands = _raw_fit(ys, name, seasons, span, levels, n_jobs, skies)
        for row, i in enumerate(usable):
            actual = members[i].y[len(members[i].y) - cut : len(members[i].y) - cut + span]
            off = _always_zero(members[i].y[:-cut], span if seasons else 0, span)
            err = np.abs(actual - np.where(off, 0.0, mean[row]))  # as the forecast will be
            absolute[i].append(err[np.isfinite(err)])
            for lv, (lo, hi) in bands.items():
                half = (hi[row] - lo[row]) / 2
                ok = np.isfinite(half) & (half > 0) & np.isfinite(err)
                per_level[lv][i].append(err[ok] / half[ok])
    for lv in levels:
        got = np.full(len(members), np.nan)
        for i in usable:
            s = np.concatenate(per_level[lv][i])
            if len(s):
                got[i] = _conformal_quantile(s, lv / 100)
        known = got[np.isfinite(got)]
        fallback = float(np.median(known)) if len(known) else 1.0
        factors[lv] = np.where(np.isfinite(got), got, fallback)
    for i in usable:
        seen = np.concatenate(absolute[i])
        errors[i] = float(np.mean(seen)) if len(seen) else np.nan
    return factors, errors


def _conformal_quantile(scores: Floats, level: float) -> float:
    """The ceil((n + 1) * level)-th smallest of n scores (the largest when that is > n)."""
    ordered = np.sort(scores)
    k = min(len(ordered), math.ceil((len(ordered) + 1) * level))
    return float(ordered[k - 1])


def _bound(values: Floats, mean: Floats) -> Floats:
    # a model may answer NaN bands (a constant series); the mean is then the best bound
    return np.where(np.isfinite(values), values, mean)


def _floored(values: Floats, floor: float | None) -> Floats:
    return values if floor is None else np.maximum(values, floor)


def finite(values: Floats) -> list[float | None]:
    """JSON-safe floats (NaN and infinities become None)."""
    return [float(v) if math.isfinite(v) else None for v in values.tolist()]
