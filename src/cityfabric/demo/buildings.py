"""Blocks and buildings: each building with an electricity meter and most with a heat meter."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cityfabric.demo.build import Gen, draw_lifecycle, lifecycle_attrs
from cityfabric.demo.catalog import DEVICE_BY_KEY
from cityfabric.demo.ngsi import Entity, date_prop, entity, geo, iso, prop, rel
from cityfabric.demo.profiles import USE_BY_CATEGORY, USES, BuildingUse
from cityfabric.demo.roads import StreetGrid

PARK_SHARE = 0.07
SETBACK = 14.0  # metres from the kerb line to a building


@dataclass(frozen=True, slots=True)
class Plot:
    x0: float
    y0: float
    x1: float
    y1: float
    street: str  # the street it faces, for the address
    slender: float = 1.0  # a tall building covers this share of the plot, each way

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2


@dataclass
class BlockPlan:
    parks: list[Plot]
    plots: list[Plot]  # one building each


def plan_blocks(gen: Gen, grid: StreetGrid) -> BlockPlan:
    """Which blocks are parks, and the building plots on the others (one or two per block)."""
    rng = gen.rng("blocks")
    ext = grid.extent
    n = ext.blocks
    park = rng.random(n) < PARK_SHARE
    park[rng.integers(n)] = True  # every city has a park
    two = rng.random(n) < 0.7
    shrink = rng.uniform(0.6, 0.9, size=(n, 2, 2))
    tower = rng.uniform(0.45, 0.75, size=(n, 2))
    parks: list[Plot] = []
    plots: list[Plot] = []
    for b in range(n):
        i, j = b % ext.cols, b // ext.cols
        x0, y0, x1, y1 = grid.block(i, j)
        street = grid.seg_names[j * ext.cols + i]  # the east-west segment on its south side
        if park[b]:
            parks.append(Plot(x0 + 6, y0 + 6, x1 - 6, y1 - 6, street))
            continue
        x0, y0, x1, y1 = x0 + SETBACK, y0 + SETBACK, x1 - SETBACK, y1 - SETBACK
        cuts = [(x0, (x0 + x1) / 2 - 5), ((x0 + x1) / 2 + 5, x1)] if two[b] else [(x0, x1)]
        for k, (a, c) in enumerate(cuts):
            w, d = (c - a) * float(shrink[b, k, 0]), (y1 - y0) * float(shrink[b, k, 1])
            plots.append(Plot(a, y0, a + w, y0 + d, street, float(tower[b, k])))
    return BlockPlan(parks, plots)


def build_buildings(gen: Gen, plots: list[Plot]) -> list[Entity]:
    """Buildings of mixed use, their meters (Device) and meter readings (DeviceMeasurement)."""
    rng = gen.rng("buildings")
    n = len(plots)
    weights = np.array([u.weight for u in USES])
    uses = [USES[k] for k in rng.choice(len(USES), size=n, p=weights / weights.sum())]
    ids = gen.ids.take("Building", n)
    floors = [
        int(rng.integers(lo, hi + 1)) for lo, hi in (u.floors or gen.city.floors for u in uses)
    ]
    life = draw_lifecycle(gen, rng, n, service_life=60, cost=0.0)
    out: list[Entity] = []
    plots = [_fit(plot, f) for plot, f in zip(plots, floors, strict=True)]
    for i, (plot, use) in enumerate(zip(plots, uses, strict=True)):
        footprint = (plot.x1 - plot.x0) * (plot.y1 - plot.y0)
        area = footprint * floors[i]
        capacity = max(5, int(area / use.area_per_person))
        attrs = {
            "name": prop(f"{use.category.capitalize()} building {i + 1}, {plot.street}"),
            "category": prop([use.category]),
            "address": prop(_address(gen, plot, i)),
            "location": geo(gen.frame.rectangle(plot.x0, plot.y0, plot.x1, plot.y1)),
            "floorsAboveGround": prop(floors[i]),
            "floorsBelowGround": prop(1 if floors[i] > 3 else 0),
            "peopleCapacity": prop(capacity, "IE"),
            "peopleOccupancy": prop(0, "IE"),
            "openingHours": prop(list(use.opening_hours)),
        }
        cost = round(area * 1400.0 * gen.city.cost_factor * float(rng.uniform(0.85, 1.15)), 0)
        rated = (float(np.ceil(area * (use.base_load + use.peak_load) * 1.6 / 1000)), "KWT")
        attrs.update(lifecycle_attrs(gen, "Building", life, i, rated=rated))
        attrs["purchaseCost"]["value"] = cost
        out.append(entity("Building", ids[i], attrs))
    out += _meters(gen, rng, plots, uses, ids, life.installed)
    return out


def _fit(plot: Plot, floors: int) -> Plot:
    """Towers are slender: above six floors a building covers only part of its plot."""
    if floors <= 6:
        return plot
    w = min(40.0, (plot.x1 - plot.x0) * plot.slender)
    d = min(28.0, (plot.y1 - plot.y0) * plot.slender)
    return Plot(plot.x0, plot.y0, plot.x0 + w, plot.y0 + d, plot.street)


def _address(gen: Gen, plot: Plot, i: int) -> dict[str, str]:
    return {
        "streetAddress": f"{i % 90 + 1} {plot.street.rsplit(' ', 1)[0]}",
        "addressLocality": gen.city.name,
        "addressCountry": gen.city.country,
    }


def _meters(
    gen: Gen,
    rng: np.random.Generator,
    plots: list[Plot],
    uses: list[BuildingUse],
    building_ids: list[str],
    built: list[str],
) -> list[Entity]:
    """One electricity meter per building, and a heating/cooling meter where the use has one."""
    todo = [(i, "elec_meter") for i in range(len(plots))]
    todo += [(i, "heat_meter") for i, u in enumerate(uses) if u.heat_meter]
    todo.sort()
    n = len(todo)
    meter_ids = gen.ids.take("Device", n)
    reading_ids = gen.ids.take("DeviceMeasurement", n)
    elec = DEVICE_BY_KEY["elec_meter"]
    life = draw_lifecycle(gen, rng, n, service_life=elec.service_life, cost=elec.cost)
    calibrated = rng.integers(30, 3 * 365, size=n)
    as_of = np.datetime64(gen.as_of.replace(tzinfo=None), "D")
    out: list[Entity] = []
    for k, (i, key) in enumerate(todo):
        spec = DEVICE_BY_KEY[key]
        plot = plots[i]
        thermal = key == "heat_meter"
        where = gen.frame.point(*plot.centre)
        label = "Heating/cooling meter" if thermal else "Electricity meter"
        installed = max(life.installed[k], built[i])
        attrs = {
            "name": prop(f"{label} of building {i + 1}"),
            "location": geo(where),
            "deviceCategory": prop(list(spec.category)),
            "controlledProperty": prop(list(spec.controlled)),
            "controlledAsset": rel([building_ids[i]]),
            "serialNumber": prop(f"{'CU' if thermal else 'MX'}-{gen.city.key.upper()}-{k + 1:06d}"),
            "deviceState": prop("ok"),
            "dateLastCalibration": date_prop(f"{as_of - int(calibrated[k])}T10:00:00Z"),
        }
        attrs.update(lifecycle_attrs(gen, "Device", life, k, model=gen.device_models[key]))
        attrs["dateInstalled"] = date_prop(installed)
        attrs["expectedServiceLife"] = prop(spec.service_life, "ANN")
        out.append(entity("Device", meter_ids[k], attrs))
        reading = {
            "name": prop(f"{'Thermal' if thermal else 'Electric'} power of building {i + 1}"),
            "location": geo(where),
            "refDevice": rel(meter_ids[k]),
            "deviceType": prop("heatMeter" if thermal else "electricityMeter"),
            "controlledProperty": prop("thermalPower" if thermal else "power"),
            "measurementType": prop("average"),
            "unit": prop("KWT"),
            "numValue": prop(0.0, "KWT"),
            "dateObserved": date_prop(iso(gen.as_of)),
        }
        out.append(entity("DeviceMeasurement", reading_ids[k], reading))
    return out


def use_of(building: Entity) -> BuildingUse:
    """The use row of a generated Building."""
    return USE_BY_CATEGORY[building["category"]["value"][0]]
