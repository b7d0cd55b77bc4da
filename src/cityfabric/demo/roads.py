"""The street grid: Road and RoadSegment entities, and the geometry other generators build on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cityfabric.demo.build import Bools, Floats, Gen, Ints, draw_lifecycle, lifecycle_attrs
from cityfabric.demo.cities import GridExtent
from cityfabric.demo.ngsi import Entity, entity, geo, prop, rel

ARTERIAL_EVERY = 4  # every fourth street is a six-lane arterial
_VEHICLES = ["car", "bus", "van", "lorry", "motorcycle", "bicycle"]


@dataclass
class StreetGrid:
    extent: GridExtent
    xs: Floats  # x of the north-south streets, metres
    ys: Floats  # y of the east-west streets, metres
    seg_ids: list[str]
    seg_names: list[str]
    x0: Floats
    y0: Floats
    x1: Floats
    y1: Floats
    arterial: Bools
    lanes: Ints
    speed: Floats  # km/h
    length: Floats  # metres

    def block(self, i: int, j: int) -> tuple[float, float, float, float]:
        return float(self.xs[i]), float(self.ys[j]), float(self.xs[i + 1]), float(self.ys[j + 1])


def _lane_usage(lanes: int) -> list[str]:
    return ["forward"] * (lanes // 2) + ["backward"] * (lanes // 2)


def _street_name(gen: Gen, k: int, north_south: bool) -> str:
    names = gen.city.streets
    base = names[k % len(names)]
    suffix = "" if k < len(names) else f" {k // len(names) + 1}"
    return f"{base} {'Avenue' if north_south else 'Road'}{suffix}"


def build_streets(gen: Gen) -> tuple[StreetGrid, list[Entity]]:
    """The grid's Roads (one per street) and RoadSegments (one per street between crossings)."""
    ext = gen.city.grid(gen.scale)
    xs = (np.arange(ext.cols + 1, dtype=float) - ext.cols / 2) * ext.block_x
    ys = (np.arange(ext.rows + 1, dtype=float) - ext.rows / 2) * ext.block_y
    streets: list[tuple[str, bool, list[tuple[float, float, float, float]]]] = []
    for j, y in enumerate(ys):
        runs = [(float(xs[i]), float(y), float(xs[i + 1]), float(y)) for i in range(ext.cols)]
        streets.append((_street_name(gen, j, False), j % ARTERIAL_EVERY == 0, runs))
    for i, x in enumerate(xs):
        runs = [(float(x), float(ys[j]), float(x), float(ys[j + 1])) for j in range(ext.rows)]
        streets.append((_street_name(gen, i, True), i % ARTERIAL_EVERY == 0, runs))
    road_ids = gen.ids.take("Road", len(streets))
    n_seg = sum(len(r) for _, _, r in streets)
    seg_ids = gen.ids.take("RoadSegment", n_seg)
    coords = np.array([run for _, _, runs in streets for run in runs], dtype=float)
    arterial = np.array([a for _, a, runs in streets for _ in runs], dtype=bool)
    grid = StreetGrid(
        extent=ext,
        xs=xs,
        ys=ys,
        seg_ids=seg_ids,
        seg_names=[f"{name} {m + 1}" for name, _, runs in streets for m in range(len(runs))],
        x0=coords[:, 0],
        y0=coords[:, 1],
        x1=coords[:, 2],
        y1=coords[:, 3],
        arterial=arterial,
        lanes=np.where(arterial, 6, 2).astype(np.int64),
        speed=np.where(arterial, 60.0, 40.0),
        length=np.hypot(coords[:, 2] - coords[:, 0], coords[:, 3] - coords[:, 1]),
    )
    roads = _roads(gen, streets, road_ids, seg_ids)
    return grid, roads + _segments(gen, grid, streets, road_ids)


def _roads(
    gen: Gen,
    streets: list[tuple[str, bool, list[tuple[float, float, float, float]]]],
    road_ids: list[str],
    seg_ids: list[str],
) -> list[Entity]:
    out: list[Entity] = []
    k = 0
    for rid, (name, arterial, runs) in zip(road_ids, streets, strict=True):
        length = sum(abs(r[2] - r[0]) + abs(r[3] - r[1]) for r in runs) / 1000
        attrs = {
            "name": prop(name),
            "roadClass": prop("MAJOR_CITY_ROAD" if arterial else "MINOR_CITY_ROAD"),
            "length": prop(round(length, 3), "KMT"),
            "responsible": prop(f"{gen.city.name} roads department"),
            "refRoadSegment": rel(seg_ids[k : k + len(runs)]),
        }
        k += len(runs)
        out.append(entity("Road", rid, attrs))
    return out


def _segments(
    gen: Gen,
    grid: StreetGrid,
    streets: list[tuple[str, bool, list[tuple[float, float, float, float]]]],
    road_ids: list[str],
) -> list[Entity]:
    rng = gen.rng("road-segments")
    n = len(grid.seg_ids)
    width = np.where(grid.arterial, 24.0, 10.0)
    life = draw_lifecycle(gen, rng, n, service_life=20, cost=90.0 * width * grid.length)
    out: list[Entity] = []
    k = 0
    for rid, (_, arterial, runs) in zip(road_ids, streets, strict=True):
        for x0, y0, x1, y1 in runs:
            a, b = gen.frame.lonlat(x0, y0), gen.frame.lonlat(x1, y1)
            attrs = {
                "name": prop(grid.seg_names[k]),
                "refRoad": rel(rid),
                "location": geo({"type": "LineString", "coordinates": [a, b]}),
                "startPoint": prop({"type": "Point", "coordinates": a}),
                "endPoint": prop({"type": "Point", "coordinates": b}),
                "allowedVehicleType": prop(_VEHICLES),
                "totalLaneNumber": prop(int(grid.lanes[k])),
                "laneUsage": prop(_lane_usage(int(grid.lanes[k]))),
                "length": prop(round(float(grid.length[k]) / 1000, 3), "KMT"),
                "width": prop(float(width[k]), "MTR"),
                "maximumAllowedSpeed": prop(float(grid.speed[k]), "KMH"),
                "roadClass": prop("MAJOR_CITY_ROAD" if arterial else "MINOR_CITY_ROAD"),
                "status": prop("open"),
            }
            attrs.update(lifecycle_attrs(gen, "RoadSegment", life, k, model="asphalt concrete"))
            out.append(entity("RoadSegment", grid.seg_ids[k], attrs))
            k += 1
    return out
