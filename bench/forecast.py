"""Forecast accuracy and fitting speed (issue #7, part 4).

    .venv/bin/python bench/forecast.py [--quick] [--model auto]

Accuracy: rolling-origin holdouts (day-ahead, 24 hourly steps, from each of the last
`ORIGINS` days of a series; each fit sees at most `WINDOW_DAYS` of history before its
origin). MASE is scaled the standard way: by the mean absolute error of the in-sample
one-season (24 h) naive forecast over the training window; the group figure is the mean
over series and origins. Seasonal naive's own holdout MASE is reported beside it.
Coverage is the share of held-out hours inside the 80% (and 95%) interval.

Series groups:
- NAB `nyc_taxi` (30-minute taxi passenger counts, hourly means);
- NAB `realTraffic`: the series whose hourly means have a lag-24 autocorrelation of at
  least 0.4 and values in at least 70% of the hours (the rest show no daily cycle);
- the demo city (Tianjin eco-city, seeds 0-2, scale 0.1, no faults) PV `activePower`
  and building electricity `numValue`, simulated in 15-minute steps, hourly means; each
  series carries its asset's location, as the forecast service reads it from the entity
  (solar output is then forecast with the clear sky at the site).

Fit time: 1,000 demo building electricity loads, 30 days of hourly means each, fitted
with the default (`auto`) model in one call, 24-hour horizon, 80/95% intervals; median
of 3 runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cityfabric.analytics.forecast_models import Forecast, Series, fit_forecasts

ROOT = Path(__file__).resolve().parents[1]
NAB = Path(os.environ.get("CITYFABRIC_SHARED_DATA", ROOT.parent / "shared" / "data")) / "nab"
HOUR_MS = 3_600_000
H = 24
SEASON = 24
ORIGINS = 7
WINDOW_DAYS = 42
TRAFFIC_ACF = 0.4
TRAFFIC_OBSERVED = 0.7
DEMO_START = datetime(2025, 3, 3, tzinfo=UTC)
TARGETS = {"mase": 1.0, "coverage80": (0.75, 0.85), "fit_seconds": 60.0}


def _hourly(path: Path) -> Series:
    raw = pd.read_csv(path, parse_dates=["timestamp"]).set_index("timestamp")["value"]
    hourly = raw.resample("1h").mean()
    start = int(hourly.index[0].tz_localize("UTC").timestamp() * 1000)
    return Series(path.stem, start, hourly.to_numpy(dtype=float))


def _acf(values: np.ndarray[Any, Any], lag: int) -> float:
    y = pd.Series(values).interpolate(limit_direction="both").to_numpy()
    d = y - y.mean()
    return float((d[:-lag] * d[lag:]).sum() / (d * d).sum())


def nab_groups() -> tuple[dict[str, list[Series]], dict[str, Any]]:
    taxi = _hourly(NAB / "data" / "realKnownCause" / "nyc_taxi.csv")
    traffic, screened = [], {}
    for path in sorted((NAB / "data" / "realTraffic").glob("*.csv")):
        s = _hourly(path)
        acf, observed = _acf(s.values, SEASON), float(np.mean(~np.isnan(s.values)))
        keep = acf >= TRAFFIC_ACF and observed >= TRAFFIC_OBSERVED
        screened[s.key] = {"acf24": round(acf, 3), "observed": round(observed, 3), "used": keep}
        if keep:
            traffic.append(s)
    return {"nab nyc_taxi": [taxi], "nab realTraffic": traffic}, screened


def demo_series(
    kind: str, attribute: str, days: int, seeds: Sequence[int], scale: float
) -> list[Series]:
    """Hourly means of one attribute of every asset of a kind in the demo city."""
    from cityfabric.demo.assets import generate
    from cityfabric.demo.simulator import Simulator
    from cityfabric.demo.telemetry import BY_KIND

    step, per_hour = timedelta(minutes=15), 4
    column = BY_KIND[kind].attributes.index(attribute)
    out: list[Series] = []
    for seed in seeds:
        assets = generate("tianjin-eco", scale, seed)
        sim = Simulator("tianjin-eco", assets, seed)
        ids = sim.ids(kind)
        sites = {a["id"]: _site(a) for a in assets}
        grid = np.full((days * 24 * per_hour, len(ids)), np.nan)
        end = DEMO_START + timedelta(days=days)
        for k, (_, readings) in enumerate(sim.run_readings(DEMO_START + step, end + step, step)):
            for r in readings:
                if r.kind == kind:
                    grid[k, r.assets] = r.columns[column]
        hourly = np.nanmean(grid.reshape(days * 24, per_hour, len(ids)), axis=1)
        start = int(DEMO_START.timestamp() * 1000)
        out += [
            Series(f"{seed}:{eid}", start, hourly[:, i], sites.get(eid))
            for i, eid in enumerate(ids)
        ]
    return out


def _site(entity: dict[str, Any]) -> tuple[float, float] | None:
    """(latitude, longitude) of an entity's Point location, as the forecast service reads it."""
    where = entity.get("location", {}).get("value", {})
    if where.get("type") != "Point":
        return None
    lon, lat = where["coordinates"][:2]
    return float(lat), float(lon)


def _scale(train: np.ndarray[Any, Any]) -> float:
    diffs = np.abs(train[SEASON:] - train[:-SEASON])
    return float(np.nanmean(diffs))


def holdouts(series: Sequence[Series]) -> list[tuple[Series, np.ndarray[Any, Any], float]]:
    """(training series, held-out values, MASE scale) for each origin of each series."""
    out = []
    for s in series:
        n = len(s.values)
        for k in range(ORIGINS, 0, -1):
            origin = n - k * H
            first = max(0, origin - WINDOW_DAYS * 24)
            if origin - first < 4 * SEASON:
                continue
            train = s.values[first:origin]
            scale = _scale(train)
            if not np.isfinite(scale) or scale == 0:
                continue
            start = s.start_ms + first * HOUR_MS
            out.append(
                (
                    Series(f"{s.key}@{origin}", start, train, s.site),
                    s.values[origin : origin + H],
                    scale,
                )
            )
    return out


def score(cases: list[tuple[Series, np.ndarray[Any, Any], float]], model: str) -> dict[str, Any]:
    """Mean MASE and interval coverage of `model` over the holdouts."""
    forecasts = fit_forecasts([c[0] for c in cases], step_ms=HOUR_MS, horizon=H, model=model)
    mase, mae, inside80, inside95, points = [], [], 0, 0, 0
    for (_, actual, scale), f in zip(cases, forecasts, strict=True):
        seen = ~np.isnan(actual)
        if not seen.any():
            continue
        mae.append(float(np.mean(np.abs(actual[seen] - f.mean[seen]))))
        mase.append(mae[-1] / scale)
        inside80 += _inside(actual, f, 80, seen)
        inside95 += _inside(actual, f, 95, seen)
        points += int(seen.sum())
    return {
        "mase": statistics.fmean(mase),
        "mae": mae,
        "coverage80": inside80 / points,
        "coverage95": inside95 / points,
        "holdouts": len(mase),
        "models": sorted({f.model for f in forecasts}),
    }


def _geomean_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x > 0 and y > 0]
    return float(np.exp(np.mean([np.log(x / y) for x, y in pairs])))


def _inside(actual: np.ndarray[Any, Any], f: Forecast, level: int, seen: Any) -> int:
    lo, hi = f.bands[level]
    return int(np.sum((actual[seen] >= lo[seen]) & (actual[seen] <= hi[seen])))


def accuracy(groups: dict[str, list[Series]], model: str) -> dict[str, Any]:
    out = {}
    for name, series in groups.items():
        cases = holdouts(series)
        started = time.perf_counter()
        chosen = score(cases, model)
        seconds = time.perf_counter() - started
        naive = score(cases, "naive")
        mae, naive_mae = chosen.pop("mae"), naive.pop("mae")
        out[name] = {
            "series": len(series),
            **chosen,
            # mean absolute error over all holdouts relative to seasonal naive's on the same
            # held-out days (no in-sample scaling): < 1 means better than seasonal naive
            "mae_vs_seasonal_naive": statistics.fmean(mae) / statistics.fmean(naive_mae),
            # the geometric mean over holdouts of the same ratio (Davydenko & Fildes 2013)
            "gmrae_vs_seasonal_naive": _geomean_ratio(mae, naive_mae),
            "naive_mase": naive["mase"],
            "naive_coverage80": naive["coverage80"],
            "relative_mase": chosen["mase"] / naive["mase"],
            "fit_seconds": seconds,
        }
        print(f"{name}: {json.dumps(out[name], default=str)}", file=sys.stderr)
    return out


def fit_time(model: str, runs: int, count: int) -> dict[str, Any]:
    loads: list[Series] = []
    seed = 0
    while len(loads) < count:
        loads += demo_series("electricity", "numValue", 30, [seed], 1.0)
        seed += 1
    loads = loads[:count]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        forecasts = fit_forecasts(loads, step_ms=HOUR_MS, horizon=H, model=model)
        times.append(time.perf_counter() - started)
    return {
        "series": len(loads),
        "points_per_series": len(loads[0].values),
        "runs": times,
        "median_seconds": statistics.median(times),
        "models": sorted({f.model for f in forecasts}),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", default="auto")
    parser.add_argument("--quick", action="store_true", help="accuracy only, no fit-time runs")
    parser.add_argument("--fit-series", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    groups, screened = nab_groups()
    groups["demo pv"] = demo_series("pv", "activePower", 49, [0, 1, 2], 0.1)
    groups["demo building load"] = demo_series("electricity", "numValue", 49, [0, 1, 2], 0.1)
    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "load_before": os.getloadavg()},
        "model": args.model,
        "targets": TARGETS,
        "realTraffic_screen": screened,
        "accuracy": accuracy(groups, args.model),
    }
    if not args.quick:
        result["fit_time"] = fit_time(args.model, args.runs, args.fit_series)
        print(f"fit time: {result['fit_time']}", file=sys.stderr)
    result["machine"]["load_after"] = os.getloadavg()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    out = ROOT / "bench" / "results" / f"forecast-{stamp}.json"
    if not args.quick:
        out.write_text(json.dumps(result, indent=2, default=str) + "\n")
        print(f"written {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
