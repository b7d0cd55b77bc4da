"""Observation points: weather and air-quality stations, traffic counters, EV charging stations."""

from __future__ import annotations

import numpy as np

from cityfabric.demo.build import Gen, draw_lifecycle, lifecycle_attrs
from cityfabric.demo.buildings import Plot
from cityfabric.demo.ngsi import Entity, date_prop, entity, geo, iso, prop, rel
from cityfabric.demo.roads import StreetGrid


def _block_points(grid: StreetGrid, rng: np.random.Generator, n: int) -> list[tuple[float, float]]:
    """`n` distinct points near block corners, 12 m into the block."""
    ext = grid.extent
    picks = rng.choice(ext.blocks, size=min(n, ext.blocks), replace=False)
    return [
        (float(grid.xs[b % ext.cols]) + 12.0, float(grid.ys[b // ext.cols]) + 12.0) for b in picks
    ]


def build_sensors(gen: Gen, grid: StreetGrid, plots: list[Plot]) -> list[Entity]:
    blocks = grid.extent.blocks
    out = _weather(gen, grid, max(1, blocks // 120))
    weather_id = out[0]["id"]
    out += _air_quality(gen, grid, max(2, blocks // 20), weather_id)
    out += _traffic(gen, grid)
    out += _chargers(gen, plots, max(2, blocks // 6))
    return out


def _stamp(gen: Gen) -> dict[str, object]:
    return date_prop(iso(gen.as_of))


def _weather(gen: Gen, grid: StreetGrid, n: int) -> list[Entity]:
    rng = gen.rng("weather-stations")
    ids = gen.ids.take("WeatherObserved", n)
    life = draw_lifecycle(gen, rng, n, service_life=12, cost=9000.0)
    out: list[Entity] = []
    for k, (x, y) in enumerate(_block_points(grid, rng, n)):
        attrs = {
            "name": prop(f"{gen.city.name} weather station {k + 1}"),
            "location": geo(gen.frame.point(x, y)),
            "dateObserved": _stamp(gen),
            "temperature": prop(10.0, "CEL"),
            "relativeHumidity": prop(0.6, "C62"),
            "windSpeed": prop(2.0, "MTS"),
            "windDirection": prop(gen.city.climate.wind_from, "DD"),
            "atmosphericPressure": prop(1013.0, "A97"),
            "solarRadiation": prop(0.0, "D54"),
        }
        attrs.update(lifecycle_attrs(gen, "WeatherObserved", life, k, model="Vaisala-class AWS"))
        out.append(entity("WeatherObserved", ids[k], attrs))
    return out


def _air_quality(gen: Gen, grid: StreetGrid, n: int, weather_id: str) -> list[Entity]:
    rng = gen.rng("air-quality-stations")
    ids = gen.ids.take("AirQualityObserved", n)
    life = draw_lifecycle(gen, rng, n, service_life=10, cost=15000.0)
    out: list[Entity] = []
    for k, (x, y) in enumerate(_block_points(grid, rng, n)):
        category = "traffic" if k % 2 == 0 else "background"
        attrs = {
            "name": prop(f"{gen.city.name} air quality station {k + 1} ({category})"),
            "location": geo(gen.frame.point(x, y)),
            "dateObserved": _stamp(gen),
            "typeofLocation": prop("outdoor"),
            "stationCategory": prop(category),
            "refWeatherObserved": rel(weather_id),
            "no2": prop(20.0, "GQ"),
            "pm25": prop(15.0, "GQ"),
            "pm10": prop(25.0, "GQ"),
            "o3": prop(50.0, "GQ"),
            "reliability": prop(0.9),
        }
        attrs.update(lifecycle_attrs(gen, "AirQualityObserved", life, k, model="AQM-65 class"))
        out.append(entity("AirQualityObserved", ids[k], attrs))
    return out


def _traffic(gen: Gen, grid: StreetGrid) -> list[Entity]:
    """An inductive-loop counter on every third arterial segment, one lane direction each."""
    rng = gen.rng("traffic-counters")
    segs = np.flatnonzero(grid.arterial)[::3]
    n = len(segs)
    ids = gen.ids.take("TrafficFlowObserved", n)
    life = draw_lifecycle(gen, rng, n, service_life=10, cost=4500.0)
    out: list[Entity] = []
    for k, s in enumerate(segs.tolist()):
        x = (grid.x0[s] + grid.x1[s]) / 2
        y = (grid.y0[s] + grid.y1[s]) / 2
        attrs = {
            "name": prop(f"Traffic counter {k + 1}, {grid.seg_names[s]}"),
            "location": geo(gen.frame.point(float(x), float(y))),
            "refRoadSegment": rel(grid.seg_ids[s]),
            "laneId": prop(1),
            "laneDirection": prop("forward" if k % 2 == 0 else "backward"),
            "dateObserved": _stamp(gen),
            "intensity": prop(0, "C62"),
            "occupancy": prop(0.0, "C62"),
            "averageVehicleSpeed": prop(0.0, "KMH"),
            "congested": prop(False),
        }
        attrs.update(
            lifecycle_attrs(gen, "TrafficFlowObserved", life, k, model="Loop counter LC-2")
        )
        out.append(entity("TrafficFlowObserved", ids[k], attrs))
    return out


def _chargers(gen: Gen, plots: list[Plot], n: int) -> list[Entity]:
    rng = gen.rng("ev-chargers")
    n = min(n, len(plots))
    ids = gen.ids.take("EVChargingStation", n)
    picks = rng.choice(len(plots), size=n, replace=False)
    fast = rng.random(n) < 0.25
    sockets = np.where(fast, rng.integers(2, 5, size=n), rng.integers(2, 7, size=n))
    life = draw_lifecycle(
        gen, rng, n, service_life=10, cost=np.where(fast, 30000.0, 6000.0) * sockets,
        years=(max(gen.city.built_from, 2016), gen.city.built_to),
    )  # fmt: skip
    out: list[Entity] = []
    for k, p in enumerate(picks.tolist()):
        plot = plots[p]
        per_socket = 60.0 if fast[k] else 22.0
        cap = int(sockets[k])
        attrs = {
            "name": prop(f"EV charging station {k + 1}, {plot.street}"),
            "location": geo(gen.frame.point(plot.x0 - 6.0, plot.y0 - 6.0)),
            "capacity": prop(cap),
            "socketNumber": prop(cap),
            "availableCapacity": prop(cap),
            "allowedVehicleType": prop(["car"]),
            "socketType": prop(["CCS/SAE"] if fast[k] else ["Type2"]),
            "chargeType": prop(["other"]),
            "status": prop("working"),
            "operator": prop(f"{gen.city.name} e-mobility"),
            "openingHours": prop("Mo-Su 00:00-24:00"),
            "voltage": prop(400.0, "VLT"),
            "amperage": prop(round(per_socket * cap * 1000 / 400.0, 1), "AMP"),
            "powerConsumption": prop(0.0, "KWT"),
        }
        model = "DC fast charger 60 kW" if fast[k] else "AC wallbox 22 kW"
        rated = (per_socket * cap, "KWT")
        attrs.update(lifecycle_attrs(gen, "EVChargingStation", life, k, model=model, rated=rated))
        out.append(entity("EVChargingStation", ids[k], attrs))
    return out
