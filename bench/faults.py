"""Fault detection on the demo city: precision, recall and delay per fault kind (issue 7).

    .venv/bin/python bench/faults.py [--city minsk] [--scale 0.2] [--days 30] [--seed 0]
                                     [--rate 3] [--start 2026-06-01]

The demo simulator runs in-process (one-minute steps) with its planned faults (`rate`
scales how many); the telemetry of the watched attributes is scored with the platform's own
code (`SeriesScorer` and `SeriesAlerts`, the worker's path) in one batch per series, and each
raised episode is a detection. A detection is a true positive when it falls in
[start, end + grace] of a labelled fault on that asset; recall counts the labels with a
detection in that window; the delay is the first such detection minus the fault's start.
PV panels are checked against the output expected from the city's WeatherObserved readings
(irradiance, temperature, wind), scaled by the median ratio of all the city's panels in the
same hour (`peer_reference`), as the platform could; lamps against the sun; the weather
station's thermometer against the panels' cell temperatures at night (the air's); each
air-quality station's background against the other stations'. Stuck meters whose frozen
value never differed from what the working meter reported are counted as "no visible
effect", and the recall of the other labels is shown beside the recall (which counts them
all).
Results go to bench/results/faults-<time>-seed<seed>.json and the console.
"""

from __future__ import annotations

import argparse
import json
import pickle
import platform
import statistics
import time
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from cityfabric.analytics.alerts import AlertOptions, SeriesAlerts
from cityfabric.analytics.anomaly_scoring import OUTLIER, ScoringOptions, SeriesScorer
from cityfabric.analytics.physics_checks import NIGHT_ELEVATION, Site
from cityfabric.analytics.physics_checks_pv import expected_pv, peer_reference
from cityfabric.analytics.physics_checks_sun import sun_at
from cityfabric.demo.assets import generate
from cityfabric.demo.faults import Fault, plan_faults
from cityfabric.demo.fleet import get, kind_of
from cityfabric.demo.simulator import Simulator
from cityfabric.demo.telemetry import BY_KIND

ROOT = Path(__file__).resolve().parents[1]
GRACE = 3600.0
TICK = 300.0  # how often communication loss is asked between readings (a worker cycle)
# asset kind -> (attribute, checks, fault kind a statistical detection stands for)
WATCH: dict[str, list[tuple[str, tuple[str, ...], str]]] = {
    "streetlight": [("powerConsumption", ("lamp", "silence"), "")],
    "pv": [("activePower", ("pv", "silence"), "")],
    "lamp_battery": [("batteryLevel", ("battery", "silence"), "battery_degradation")],
    "bench_battery": [("batteryLevel", ("battery", "silence"), "battery_degradation")],
    "electricity": [("numValue", ("spike", "stuck", "silence"), "spike")],
    "thermal": [("numValue", ("spike", "stuck", "silence"), "spike")],
    "crane_power": [("numValue", ("stuck", "silence"), "")],
    "air_quality": [
        ("no2", ("level", "silence"), "sensor_drift"),
        ("pm25", ("level",), "sensor_drift"),
        ("pm10", ("spike",), "spike"),
    ],
    "weather": [("temperature", ("reference", "silence"), "sensor_drift")],
    "traffic": [("intensity", ("spike", "silence"), "spike")],
}
for _kind, _tel in BY_KIND.items():  # every other kind: comm. loss on its first number
    _numeric = [m.attribute for m in _tel.measures if m.digits is not None]
    WATCH.setdefault(_kind, [(_numeric[0], ("silence",), "")])

Series = dict[tuple[str, str], list[tuple[float, float]]]


def simulate(
    args: argparse.Namespace,
) -> tuple[list[dict[str, Any]], list[Fault], Series, list[Fault]]:
    """The city, its faults, the watched series, and the stuck meters nobody could see."""
    start = datetime.fromisoformat(args.start).replace(tzinfo=UTC)
    entities = generate(args.city, args.scale, args.seed, as_of=start)
    faults = plan_faults(entities, args.seed, start, args.days, rate=args.rate)
    sim = Simulator(args.city, entities, args.seed, faults)
    wanted = {k: [(a, BY_KIND[k].attributes.index(a)) for a, _, _ in w] for k, w in WATCH.items()}
    wanted["weather"] += [(a, BY_KIND["weather"].attributes.index(a)) for a in
                          ("solarRadiation", "windSpeed")]  # fmt: skip
    wanted["pv"] += [("temperature", BY_KIND["pv"].attributes.index("temperature"))]
    series: Series = defaultdict(list)
    end = start + timedelta(days=args.days)
    for t, readings in sim.run_readings(start, end, timedelta(minutes=1)):
        seconds = t.timestamp()
        for r in readings:
            ids = sim.ids(r.kind)
            for attr, col in wanted.get(r.kind, []):
                values = r.columns[col].astype(float).tolist()
                for i, v in zip(r.assets.tolist(), values, strict=True):
                    series[(ids[i], attr)].append((seconds, v))
    return entities, faults, series, sim.injector.unseen()


def sites(entities: list[dict[str, Any]], series: Series) -> dict[str, Site]:
    """Locations, and for each panel its expected output under the measured weather, scaled
    by its peers' ratio in the same hour (`peer_reference`)."""
    by_id = {e["id"]: e for e in entities}
    weather = next(eid for (eid, a) in series if a == "solarRadiation")
    wx = {a: np.array(series[(weather, a)]) for a in ("solarRadiation", "temperature", "windSpeed")}
    out: dict[str, Site] = {}
    panels: dict[str, tuple[Any, Any, Any]] = {}
    peaks: dict[str, float] = {}
    for e in entities:
        loc = get(e, "location")
        if isinstance(loc, dict) and loc.get("type") == "Point":
            lon, lat = loc["coordinates"][:2]
            out[e["id"]] = Site(lat, lon)
        if kind_of(e) == "pv" and (e["id"], "activePower") in series:
            readings = np.array(series[(e["id"], "activePower")])
            out[e["id"]], expected = _pv_site(e, by_id, readings[:, 0], wx)
            panels[e["id"]] = (readings[:, 0], readings[:, 1], expected)
            peaks[e["id"]] = out[e["id"]].peak or 0.0
    out[weather] = replace(out[weather], reference=_night_air(series, out[weather]))
    for (eid, attr), _ in list(series.items()):  # air quality: the other stations' readings
        if _KINDS.get(eid) == "air_quality" and any(
            a == attr and "level" in c for a, c, _ in WATCH["air_quality"]
        ):
            out[f"{eid}#{attr}"] = replace(out[eid], reference=_peers(series, eid, attr))
    factor = peer_reference(panels, peaks)
    for pid, (times, _, expected) in panels.items():
        hours = (times // 3600).astype(np.int64).tolist()
        scaled = expected * np.array([factor.get(h, 1.0) for h in hours])
        table = dict(zip(times.tolist(), scaled.tolist(), strict=True))
        out[pid] = replace(out[pid], expected=table.get)
    return out


def _peers(series: Series, eid: str, attr: str) -> Any:
    """The median of the other stations' latest readings of ATTR (at most 20 minutes old)."""
    others = [np.array(rows) for (e, a), rows in series.items()
              if a == attr and e != eid and _KINDS.get(e) == _KINDS.get(eid)]  # fmt: skip
    table: dict[float, float] = {}
    for t, _ in series[(eid, attr)]:
        near = []
        for rows in others:
            k = int(np.searchsorted(rows[:, 0], t, side="right")) - 1
            if k >= 0 and t - rows[k, 0] <= 1200.0:
                near.append(float(rows[k, 1]))
        if near:
            table[t] = float(np.median(near))
    return table.get


def _night_air(series: Series, station: Site) -> Any:
    """At night, the air temperature from the city's panels: the median of their cell
    temperatures (K) over the 10 minutes before each of the station's readings."""
    cells = sorted(
        (t, v - 273.15) for (eid, a), rows in series.items() if a == "temperature"
        for t, v in rows if _KINDS.get(eid) == "pv"
    )  # fmt: skip
    times = np.array([t for t, _ in cells])
    values = np.array([v for _, v in cells])
    table: dict[float, float] = {}
    for t, _ in series[(next(e for e, a in series if a == "solarRadiation"), "temperature")]:
        sun = station.sun(t)
        if sun is None or sun.elevation > NIGHT_ELEVATION:
            continue
        lo, hi = np.searchsorted(times, [t - 600.0, t], side="right")
        if hi - lo >= 3:
            table[t] = float(np.median(values[lo:hi]))
    return table.get


def _pv_site(e: dict[str, Any], by_id: dict[str, Any], times: Any, wx: Any) -> tuple[Site, Any]:
    panel = by_id[get(e, "refPhotovoltaicDevice")]
    lon, lat = get(panel, "location")["coordinates"][:2]
    params = (
        float(get(panel, "surfaceTilt", 10.0)),
        float(get(panel, "surfaceAzimuth", 180.0)),
        float(get(panel, "NominalPower", 150.0)),
        float(get(panel, "temperatureCoefficient", {}).get("Pmax", -0.004)),
    )
    suns = [sun_at(t, lat, lon) for t in times.tolist()]
    zen = np.array([90.0 - s.elevation for s in suns])
    az = np.array([s.azimuth for s in suns])
    measured = []
    for name in ("solarRadiation", "temperature", "windSpeed"):  # latest reading at t
        at = np.clip(np.searchsorted(wx[name][:, 0], times, side="right") - 1, 0, None)
        measured.append(wx[name][at, 1])
    expected = expected_pv(zen, az, (measured[0], measured[1], measured[2]), params)
    return Site(lat, lon, params[2], expected_is_measured=True), expected


def detect(series: Series, site_of: dict[str, Site], args: argparse.Namespace) -> list[Any]:
    """Every raised episode: (asset, seconds, fault kind it points to)."""
    checks = {(k, a): (c, s) for k, w in WATCH.items() for a, c, s in w}
    kinds = {eid: kind for (eid, _) in series for kind in [_kind_of_id(eid, args)]}
    opts = ScoringOptions(warmup=args.warmup)
    alert_opts = AlertOptions(args.threshold, args.clear_threshold, args.clear_after)
    found = []
    for (eid, attr), readings in series.items():
        spec = checks.get((kinds[eid], attr))
        if spec is None:
            continue
        scorer, alerts = SeriesScorer(spec[0], opts), SeriesAlerts(alert_opts)
        site = site_of.get(f"{eid}#{attr}") or site_of.get(eid, Site())
        for t, v, kind in _with_ticks(readings, "silence" in spec[0]):
            if kind == "tick":
                events = alerts.step(t, {"silence": scorer.silence(t)}, None)
            else:
                events = alerts.step(t, scorer.update(t, v, site), v)
            for ev in events:
                if ev.what == "raised":
                    claimed = spec[1] if ev.finding.kind == OUTLIER else ev.finding.kind
                    found.append((eid, t, claimed))
    return found


def _with_ticks(readings: list[tuple[float, float]], ticks: bool) -> list[tuple[float, float, str]]:
    out = [(t, v, "reading") for t, v in readings]
    if ticks and readings:
        first, last = readings[0][0], readings[-1][0]
        out += [(first + TICK * k, 0.0, "tick") for k in range(1, int((last - first) / TICK))]
    return sorted(out, key=lambda x: (x[0], x[2] == "tick"))


_KINDS: dict[str, str] = {}


def _kind_of_id(eid: str, args: argparse.Namespace) -> str:
    return _KINDS.get(eid, "")


def evaluate(
    faults: list[Fault], found: list[Any], unseen: list[Fault] | None = None
) -> dict[str, dict[str, Any]]:
    """Per fault kind: precision, recall and delay; and recall over the labels that changed
    at least one reading (all but the `unseen` stuck meters), beside it, not instead."""
    hidden = {id(f) for f in faults if f in (unseen or [])}
    labels: dict[str, list[Fault]] = defaultdict(list)
    for f in faults:
        labels[f.asset_id].append(f)
    per: dict[str, dict[str, Any]] = defaultdict(lambda: {"tp": 0, "fp": 0, "delays": []})
    first: dict[int, float] = {}
    for eid, t, claimed in found:
        hit = [
            f for f in labels.get(eid, []) if f.start.timestamp() <= t <= f.end.timestamp() + GRACE
        ]
        per[claimed]["tp" if hit else "fp"] += 1
        for f in hit:
            first[id(f)] = min(first.get(id(f), t), t)
    for f in faults:
        row = per[str(f.kind)]
        row["labels"] = row.get("labels", 0) + 1
        row["unseen"] = row.get("unseen", 0) + (id(f) in hidden)
        row["seen_detected"] = row.get("seen_detected", 0) + (
            id(f) in first and id(f) not in hidden
        )
        if id(f) in first:
            row["detected"] = row.get("detected", 0) + 1
            row["delays"].append((first[id(f)] - f.start.timestamp()) / 3600.0)
    return {k: _summary(v) for k, v in sorted(per.items())}


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    tp, fp, n = row["tp"], row["fp"], row.get("labels", 0)
    return {
        "labels": n,
        "detected": row.get("detected", 0),
        "detections": tp + fp,
        "false_positives": fp,
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": row.get("detected", 0) / n if n else None,
        "unseen": row.get("unseen", 0),
        "recall_seen": (
            row.get("seen_detected", 0) / (n - row["unseen"]) if n - row.get("unseen", 0) else None
        ),
        "median_delay_h": statistics.median(row["delays"]) if row["delays"] else None,
    }


def table(results: dict[str, dict[str, Any]]) -> str:
    def fmt(v: Any, spec: str) -> str:
        return "-" if v is None else format(v, spec)

    lines = ["| fault kind | labels | detected | detections | false pos. | precision | recall "
             "| median delay (h) | no visible effect | recall of the rest |",
             "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for kind, r in results.items():
        lines.append(
            f"| {kind} | {r['labels']} | {r['detected']} | {r['detections']} | "
            f"{r['false_positives']} | {fmt(r['precision'], '.2f')} | {fmt(r['recall'], '.2f')} | "
            f"{fmt(r['median_delay_h'], '.2f')} | {r['unseen']} | {fmt(r['recall_seen'], '.2f')} |"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--city", default="minsk")
    p.add_argument("--scale", type=float, default=0.2)
    p.add_argument("--days", type=float, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rate", type=float, default=3.0)
    p.add_argument("--start", default="2026-06-01")
    p.add_argument("--warmup", type=int, default=2 * 96)
    p.add_argument("--threshold", type=float, default=0.9)
    p.add_argument("--clear-threshold", type=float, default=0.3)
    p.add_argument("--clear-after", type=int, default=4)
    p.add_argument("--cache", default="", help="pickle of the simulation: reuse, or write")
    args = p.parse_args()
    began = time.perf_counter()
    cache = Path(args.cache) if args.cache else None
    if cache is not None and cache.exists():  # a simulation saved by an earlier run
        entities, faults, series, unseen = pickle.loads(cache.read_bytes())
    else:
        entities, faults, series, unseen = simulate(args)
        if cache is not None:
            cache.write_bytes(pickle.dumps((entities, faults, dict(series), unseen)))
    _KINDS.update({e["id"]: kind_of(e) for e in entities})
    simulated = time.perf_counter() - began
    found = detect(series, sites(entities, series), args)
    results = evaluate(faults, found, unseen)
    print(table(results))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    out = ROOT / "bench" / "results" / f"faults-{stamp}-seed{args.seed}.json"
    doc = {"args": vars(args), "machine": platform.platform(), "results": results,
           "seconds": {"simulate": simulated, "total": time.perf_counter() - began},
           "faults": [f.label() for f in faults],
           "unseen": [f.label() for f in unseen]}  # fmt: skip
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
