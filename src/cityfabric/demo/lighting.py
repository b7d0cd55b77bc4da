"""Street lighting: lamp models, streetlights, their groups and control cabinets, solar kits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cityfabric.demo.build import Gen, Lifecycle, draw_lifecycle, lifecycle_attrs
from cityfabric.demo.catalog import DEVICE_BY_KEY, LAMP_BY_KEY, LAMP_MODELS, LampModel
from cityfabric.demo.ngsi import Entity, date_prop, entity, geo, prop, rel
from cityfabric.demo.roads import StreetGrid

GROUP_SIZE = 18  # lamps per switching circuit, about
GROUPS_PER_CABINET = 4
# group programmes: switchingMode and the dimming the simulator applies (see physics.dimming)
PROGRAMS = {
    "dim50-after-midnight": ["night-ON", "night-LOW"],
    "full-night": ["night-ON"],
}


@dataclass(frozen=True, slots=True)
class Lamp:
    x: float
    y: float
    model: LampModel
    category: str  # Streetlight.locationCategory
    height: float
    where: str  # a readable place, for the name


def lamp_models(gen: Gen) -> tuple[dict[str, str], list[Entity]]:
    """One StreetlightModel entity per catalogue model; returns model key -> entity id."""
    ids: dict[str, str] = {}
    out: list[Entity] = []
    for m in LAMP_MODELS:
        eid = ids[m.key] = gen.ids.next("StreetlightModel")
        attrs = {
            "name": prop(m.name),
            "lampTechnology": prop(m.technology),
            "powerConsumption": prop(m.power, "WTT"),
            "maxPowerConsumption": prop(m.power, "WTT"),
            "minPowerConsumption": prop(round(m.power * (0.3 if m.dimmable else 1.0), 1), "WTT"),
            "luminousFlux": prop(m.flux, "LUM"),
            "colorTemperature": prop(m.color_temperature, "KEL"),
            "workingLife": prop(m.working_life, "HUR"),
            "lampBrandName": prop(m.brand),
            "lampManufacturerName": prop(m.manufacturer),
            "lanternModelName": prop(m.name),
            "columnMadeOf": prop("steel"),
            "category": prop(["lamppost"]),
        }
        out.append(entity("StreetlightModel", eid, attrs))
    return ids, out


def street_lamps(gen: Gen, grid: StreetGrid) -> list[Lamp]:
    """Lamps along every segment: both sides of arterials, staggered on one side elsewhere."""
    rng = gen.rng("street-lamps")
    n = len(grid.seg_ids)
    legacy = rng.random(n) < gen.city.legacy_share
    solar = (rng.random(n) < gen.city.solar_share) & ~grid.arterial & ~legacy
    lamps: list[Lamp] = []
    for k in range(n):
        x0, y0, x1, y1 = grid.x0[k], grid.y0[k], grid.x1[k], grid.y1[k]
        length = float(grid.length[k])
        ux, uy = (x1 - x0) / length, (y1 - y0) / length
        arterial = bool(grid.arterial[k])
        if legacy[k]:
            model = LAMP_BY_KEY["hps250" if arterial else "hps150"]
        elif solar[k]:
            model = LAMP_BY_KEY["solar30"]
        else:
            model = LAMP_BY_KEY["led90" if arterial else "led40"]
        half = 13.5 if arterial else 6.5
        sides = (1.0, -1.0) if arterial else ((1.0,) if k % 2 == 0 else (-1.0,))
        per_side = max(1, int(length // (34.0 if arterial else 40.0)))
        for side in sides:
            for m in range(per_side):
                s = (m + 0.5) * length / per_side
                x = float(x0 + ux * s - uy * half * side)
                y = float(y0 + uy * s + ux * half * side)
                lamps.append(
                    Lamp(x, y, model, "road", 12.0 if arterial else 8.0, grid.seg_names[k])
                )
    return lamps


def park_lamps(parks: list[tuple[str, tuple[float, float, float, float]]]) -> list[Lamp]:
    """Eight solar lamps around each park's path."""
    model = LAMP_BY_KEY["solar30"]
    out: list[Lamp] = []
    for name, (x0, y0, x1, y1) in parks:
        cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 3, (y1 - y0) / 3
        for a in np.linspace(0, 2 * np.pi, 8, endpoint=False):
            out.append(
                Lamp(
                    cx + rx * float(np.cos(a)), cy + ry * float(np.sin(a)), model, "park", 4.5, name
                )
            )
    return out


def build_lighting(gen: Gen, lamps: list[Lamp], model_ids: dict[str, str]) -> list[Entity]:
    """Streetlights: grid lamps in groups under cabinets, solar lamps with a charge controller."""
    rng = gen.rng("lighting")
    n = len(lamps)
    ids = gen.ids.take("Streetlight", n)
    grid_idx = [i for i, lamp in enumerate(lamps) if not lamp.model.solar]
    solar_idx = [i for i, lamp in enumerate(lamps) if lamp.model.solar]
    groups = [grid_idx[i : i + GROUP_SIZE] for i in range(0, len(grid_idx), GROUP_SIZE)]
    group_ids = gen.ids.take("StreetlightGroup", len(groups))
    cabinets = [
        list(range(c, min(c + GROUPS_PER_CABINET, len(groups))))
        for c in range(0, len(groups), GROUPS_PER_CABINET)
    ]
    cabinet_ids = gen.ids.take("StreetlightControlCabinet", len(cabinets))
    ctrl_ids = dict(zip(solar_idx, gen.ids.take("Device", len(solar_idx)), strict=True))
    group_of = {i: g for g, members in enumerate(groups) for i in members}
    cabinet_of = {g: c for c, members in enumerate(cabinets) for g in members}
    legacy = np.array([lamp.model.technology != "LED" for lamp in lamps])
    life = _lamp_lifecycle(gen, rng, lamps, legacy)
    relamped = rng.integers(0, 4 * 365, size=n)
    out: list[Entity] = []
    for i, lamp in enumerate(lamps):
        attrs = {
            "name": prop(f"Lamp {i + 1}, {lamp.where}"),
            "location": geo(gen.frame.point(lamp.x, lamp.y)),
            "status": prop("ok"),
            "powerState": prop("off"),
            "illuminanceLevel": prop(0.0, "C62"),
            "powerConsumption": prop(0.0, "WTT"),
            "locationCategory": prop(lamp.category),
            "lanternHeight": prop(lamp.height, "MTR"),
        }
        if i in group_of:
            g = group_of[i]
            attrs["controllingMethod"] = prop("group")
            attrs["circuit"] = prop(f"C{cabinet_of[g] + 1}-{g + 1}")
            attrs["refStreetlightGroup"] = rel(group_ids[g])
        else:
            attrs["controllingMethod"] = prop("individual")
            attrs["refDevice"] = rel([ctrl_ids[i]])
        if legacy[i]:
            changed = np.datetime64(gen.as_of.replace(tzinfo=None), "D") - int(relamped[i])
            attrs["dateLastLampChange"] = date_prop(f"{changed}T09:00:00Z")
        attrs.update(
            lifecycle_attrs(
                gen, "Streetlight", life, i,
                model=model_ids[lamp.model.key], rated=(lamp.model.power, "WTT"),
            )
        )  # fmt: skip
        out.append(entity("Streetlight", ids[i], attrs))
    out += _groups(gen, rng, lamps, ids, groups, group_ids, cabinet_of, cabinet_ids)
    out += _cabinets(gen, rng, lamps, groups, cabinets, group_ids, cabinet_ids)
    out += _controllers(gen, rng, lamps, ids, ctrl_ids)
    return out


def _lamp_lifecycle(
    gen: Gen, rng: np.random.Generator, lamps: list[Lamp], legacy: np.ndarray
) -> Lifecycle:
    """LED lamps from the city's build years (2014 at the earliest), sodium ones older."""
    city = gen.city
    led = draw_lifecycle(
        gen,
        rng,
        len(lamps),
        service_life=25,
        cost=0.0,
        years=(max(city.built_from, 2014), city.built_to),
    )
    old = draw_lifecycle(
        gen,
        rng,
        len(lamps),
        service_life=20,
        cost=0.0,
        years=(city.built_from - 6, city.built_from + 4),
    )
    cost = np.array([lamp.model.cost for lamp in lamps]) * city.cost_factor
    cost *= rng.uniform(0.9, 1.1, size=len(lamps))
    life = np.array([lamp.model.service_life for lamp in lamps])
    return Lifecycle(
        installed=[
            o if lg else n for o, n, lg in zip(old.installed, led.installed, legacy, strict=True)
        ],
        age=np.where(legacy, old.age, led.age),
        service_life=life.tolist(),
        cost=np.round(cost, 0).tolist(),
        grade=[o if lg else n for o, n, lg in zip(old.grade, led.grade, legacy, strict=True)],
    )


def _groups(
    gen: Gen,
    rng: np.random.Generator,
    lamps: list[Lamp],
    lamp_ids: list[str],
    groups: list[list[int]],
    group_ids: list[str],
    cabinet_of: dict[int, int],
    cabinet_ids: list[str],
) -> list[Entity]:
    full_night = rng.random(len(groups)) < 0.15
    out: list[Entity] = []
    for g, members in enumerate(groups):
        first = lamps[members[0]]
        program = "full-night" if full_night[g] else "dim50-after-midnight"
        attrs = {
            "name": prop(f"Lighting circuit C{cabinet_of[g] + 1}-{g + 1}, {first.where}"),
            "location": geo(gen.frame.point(first.x, first.y)),
            "powerState": prop("off"),
            "illuminanceLevel": prop(0.0, "C62"),
            "refStreetlightControlCabinet": rel(cabinet_ids[cabinet_of[g]]),
            "refStreetlight": rel([lamp_ids[i] for i in members]),
            "switchingMode": prop(PROGRAMS[program]),
            "activeProgramId": prop(program),
            "circuitId": prop(f"C{cabinet_of[g] + 1}-{g + 1}"),
        }
        out.append(entity("StreetlightGroup", group_ids[g], attrs))
    return out


def _cabinets(
    gen: Gen,
    rng: np.random.Generator,
    lamps: list[Lamp],
    groups: list[list[int]],
    cabinets: list[list[int]],
    group_ids: list[str],
    cabinet_ids: list[str],
) -> list[Entity]:
    life = draw_lifecycle(gen, rng, len(cabinets), service_life=30, cost=6500.0)
    out: list[Entity] = []
    for c, members in enumerate(cabinets):
        first = lamps[groups[members[0]][0]]
        load = sum(lamps[i].model.power for g in members for i in groups[g]) / 1000
        attrs = {
            "name": prop(f"Lighting cabinet C{c + 1}, {first.where}"),
            "location": geo(gen.frame.point(first.x + 3.0, first.y + 3.0)),
            "refStreetlightGroup": rel([group_ids[g] for g in members]),
            "workingMode": prop("automatic"),
            "features": prop(["astronomicalClock", "individualControl"]),
            "cupboardMadeOf": prop("metal"),
            "brandName": prop("Gridbox"),
            "manufacturerName": prop("Gridbox Controls"),
            "serialNumber": prop(f"GBX-{gen.city.key.upper()}-{c + 1:05d}"),
            "compliantWith": prop(["IEC 61439-5", "IP55"]),
            "totalActivePower": prop(0.0, "KWT"),
            "energyConsumed": prop(0.0, "KWH"),
            "dateMeteringStarted": date_prop(life.installed[c]),
        }
        rated = (float(np.ceil(load * 1.3)), "KWT")
        attrs.update(
            lifecycle_attrs(
                gen, "StreetlightControlCabinet", life, c, model="Gridbox LC-4", rated=rated
            )
        )
        out.append(entity("StreetlightControlCabinet", cabinet_ids[c], attrs))
    return out


def _controllers(
    gen: Gen,
    rng: np.random.Generator,
    lamps: list[Lamp],
    lamp_ids: list[str],
    ctrl_ids: dict[int, str],
) -> list[Entity]:
    """The charge controller, panel and battery of each solar lamp, as one Device."""
    n = len(ctrl_ids)
    spec = DEVICE_BY_KEY["solar_ctrl"]
    life = draw_lifecycle(gen, rng, n, service_life=spec.service_life, cost=spec.cost)
    peak = rng.choice([80.0, 100.0, 120.0], size=n)
    capacity = rng.choice([768.0, 1024.0, 1280.0], size=n)
    tilt = rng.uniform(15, 35, size=n).round(0)
    azimuth = rng.uniform(150, 210, size=n).round(0)
    out: list[Entity] = []
    for k, (i, eid) in enumerate(ctrl_ids.items()):
        lamp = lamps[i]
        attrs = {
            "name": prop(f"Solar kit of lamp {i + 1}, {lamp.where}"),
            "location": geo(gen.frame.point(lamp.x, lamp.y)),
            "deviceCategory": prop(list(spec.category)),
            "controlledProperty": prop(list(spec.controlled)),
            "controlledAsset": rel([lamp_ids[i]]),
            "serialNumber": prop(f"HMP-{gen.city.key.upper()}-{k + 1:06d}"),
            "deviceState": prop("ok"),
            "batteryLevel": prop(0.8, "C62"),
            "batteryCapacity": prop(float(capacity[k]), "WHR"),
            "surfaceTilt": prop(float(tilt[k]), "DD"),
            "surfaceAzimuth": prop(float(azimuth[k]), "DD"),
            "pvPeakPower": prop(float(peak[k]), "WTT"),
        }
        # rated power of the kit: what its 20 A controller passes at 12.8 V
        model = gen.device_models[spec.key]
        attrs.update(lifecycle_attrs(gen, "Device", life, k, model=model, rated=(256.0, "WTT")))
        out.append(entity("Device", eid, attrs))
    return out
