"""Stateful simulation of the energy assets: street lighting, solar benches, buildings.

Each model reads its assets' parameters from the entities once, keeps its state (battery
charge, meter registers, noise processes) and, per step, returns the values of every
telemetry attribute of every asset of its kinds. Physical faults arrive as modifiers
(`Mods`): a failed or day-burning lamp, a soiled or shaded panel, a worn battery.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cityfabric.demo import physics
from cityfabric.demo.build import Bools, Floats
from cityfabric.demo.fleet import Fleet, get, take
from cityfabric.demo.physics import Env
from cityfabric.demo.profiles import USE_INDEX, USES, WEEKDAY, WEEKEND, hourly

Values = dict[str, np.ndarray[Any, Any]]
Mods = dict[tuple[str, str], np.ndarray[Any, Any]]
_ON_OFF = np.array(["off", "on"])
_PARK_VISITS = np.array(hourly({0: 0.0, 6: 0.02, 8: 0.15, 12: 0.5, 16: 0.8, 19: 0.6, 22: 0.05}))
# A building's base load is never bit-steady: fans, fridge and chiller compressors cycling,
# servers and standby loads move it by a few percent within minutes, and a meter's 10 W
# resolution sees that, so a healthy meter's reading changes from one reading to the next
BASE_WOBBLE = 0.03  # standard deviation of the base load's fluctuation, share of it
BASE_TAU_H = 0.25  # its correlation time, hours


def ar_step(x: Floats, dt_h: float, tau_h: float, rng: np.random.Generator) -> Floats:
    phi = math.exp(-dt_h / tau_h)
    return phi * x + math.sqrt(1.0 - phi * phi) * rng.standard_normal(len(x))


class Lighting:
    kinds: tuple[str, ...] = ("streetlight", "streetlight_group", "cabinet", "lamp_battery")

    def __init__(self, fleet: Fleet) -> None:
        lamps = fleet.of("streetlight")
        self.rated = fleet.floats("streetlight", "powerRating")
        models = {e["id"]: get(e, "lampTechnology") for e in fleet.of("StreetlightModel")}
        self.dimmable = np.array(
            [models.get(get(e, "refStreetlightModel")) == "LED" for e in lamps]
        )
        self.group = fleet.lookup("streetlight", "refStreetlightGroup", "streetlight_group")
        groups = fleet.of("streetlight_group")
        self.group_program = np.array(
            [physics.PROGRAM_INDEX.get(get(g, "activeProgramId"), 0) for g in groups],
            dtype=np.int64,
        )
        solar = physics.PROGRAM_INDEX["solar-adaptive"]
        self.program = take(self.group_program, self.group, solar)
        group_cabinet = fleet.lookup("streetlight_group", "refStreetlightControlCabinet", "cabinet")
        self.cabinet = take(group_cabinet, self.group, -1)
        self.n_cabinets = len(fleet.of("cabinet"))
        self.energy = fleet.floats("cabinet", "energyConsumed")
        self.bat_lamp = fleet.lookup("lamp_battery", "controlledAsset", "streetlight")
        self.capacity = fleet.floats("lamp_battery", "batteryCapacity", 1000.0)
        self.soc = fleet.floats("lamp_battery", "batteryLevel", 0.8)
        self.peak = fleet.floats("lamp_battery", "pvPeakPower", 100.0)
        self.tilt = fleet.floats("lamp_battery", "surfaceTilt", 25.0)
        self.azimuth = fleet.floats("lamp_battery", "surfaceAzimuth", 180.0)

    def _solar(self, env: Env, level: Floats, power: Floats, mods: Mods) -> None:
        """Solar lamps run from their battery: dimmer when it runs low, dark when it is empty
        (updates `level` and `power` of those lamps in place)."""
        lamps = self.bat_lamp[self.bat_lamp >= 0]
        ok = self.bat_lamp >= 0
        low = self.soc[ok] < 0.3
        dimmed = np.where(low, np.minimum(level[lamps], 0.3), level[lamps])
        ratio = np.divide(dimmed, level[lamps], out=np.zeros(len(lamps)), where=level[lamps] > 0)
        level[lamps] = dimmed
        power[lamps] *= ratio
        pv, _ = physics.pv_output(
            env, self.tilt, self.azimuth, self.peak, np.full(len(self.peak), -0.004),
            "open_rack_glass_polymer",
        )  # fmt: skip
        capacity = self.capacity * mods.get(("lamp_battery", "capacity"), 1.0)
        load = np.zeros(len(self.soc))
        load[ok] = power[lamps]
        self.soc, served = physics.battery_step(self.soc, capacity, pv, load, env.dt_h)
        cut = served[ok] < load[ok]
        power[lamps] = served[ok]
        level[lamps] = np.where(cut, 0.0, level[lamps])

    def advance(self, env: Env, rng: np.random.Generator, mods: Mods) -> dict[str, Values]:
        level = physics.lamp_levels(env, self.program)
        burning: Bools | None = mods.get(("streetlight", "day_burner"))
        if burning is not None:
            level = np.where(burning & (level == 0.0), 1.0, level)
        power = physics.lamp_power(level, self.rated, self.dimmable)
        failed: Bools | None = mods.get(("streetlight", "failed"))
        if failed is not None:  # commanded on, but the lamp draws (and gives) nothing
            power = np.where(failed, 0.0, power)
        self._solar(env, level, power, mods)
        on_grid = self.cabinet >= 0
        cabinet_kw = (
            np.bincount(self.cabinet[on_grid], weights=power[on_grid], minlength=self.n_cabinets)
            / 1000.0
        )
        self.energy = self.energy + cabinet_kw * env.dt_h
        group_level = physics.lamp_levels(env, self.group_program)
        return {
            "streetlight": {
                "powerState": _ON_OFF[(level > 0.0).astype(int)],
                "illuminanceLevel": level,
                "powerConsumption": power,
            },
            "streetlight_group": {
                "powerState": _ON_OFF[(group_level > 0.0).astype(int)],
                "illuminanceLevel": group_level,
            },
            "cabinet": {"totalActivePower": cabinet_kw, "energyConsumed": self.energy.copy()},
            "lamp_battery": {"batteryLevel": self.soc.copy()},
        }


class Benches:
    """Solar park benches: panel output, phone charging and a night light from a battery."""

    kinds: tuple[str, ...] = ("pv", "bench_battery")
    PHONE_W = 7.5  # one phone charging
    NIGHT_LIGHT_W = 3.0  # seat light from dusk to 23:00
    STANDBY_W = 1.5  # controller and modem

    def __init__(self, fleet: Fleet) -> None:
        panels = [fleet.by_id.get(get(m, "refPhotovoltaicDevice", ""), {}) for m in fleet.of("pv")]
        self.peak = np.array([float(get(p, "NominalPower", 150.0)) for p in panels])
        self.tilt = np.array([float(get(p, "surfaceTilt", 10.0)) for p in panels])
        self.azimuth = np.array([float(get(p, "surfaceAzimuth", 180.0)) for p in panels])
        self.gamma = np.array(
            [float(get(p, "temperatureCoefficient", {}).get("Pmax", -0.004)) for p in panels]
        )
        where = fleet.index("bench_battery")
        self.battery = np.array(
            [where.get(get(p, "refDevice"), -1) for p in panels], dtype=np.int64
        )
        self.capacity = fleet.floats("bench_battery", "batteryCapacity", 500.0)
        self.soc = fleet.floats("bench_battery", "batteryLevel", 0.8)

    def advance(self, env: Env, rng: np.random.Generator, mods: Mods) -> dict[str, Values]:
        n = len(self.peak)
        clean = mods.get(("pv", "clean"))
        shade = mods.get(("pv", "shade"))
        if shade is not None:
            shade = _shade_now(shade, mods[("pv", "shade_azimuth")], env.sun.azimuth)
        pv, cell = physics.pv_output(
            env,
            self.tilt,
            self.azimuth,
            self.peak,
            self.gamma,
            "open_rack_glass_glass",
            clean,
            shade,
        )
        comfort = math.exp(-(((env.wx.temp - 22.0) / 11.0) ** 2)) * (1.0 - 0.7 * env.wx.cloud**3)
        visits = _PARK_VISITS[int(env.hour) % 24] * (1.4 if env.weekend else 1.0) * comfort
        phones = rng.binomial(2, min(0.95, 0.45 * visits), size=n) * self.PHONE_W
        light = self.NIGHT_LIGHT_W if env.dark and env.hour >= 12.0 and env.hour < 23.0 else 0.0
        load = phones + light + self.STANDBY_W
        b = self.battery
        capacity = self.capacity * mods.get(("bench_battery", "capacity"), 1.0)
        pv_b = np.zeros(len(self.soc))
        load_b = np.zeros(len(self.soc))
        np.add.at(pv_b, b[b >= 0], pv[b >= 0])
        np.add.at(load_b, b[b >= 0], load[b >= 0])
        self.soc, served = physics.battery_step(self.soc, capacity, pv_b, load_b, env.dt_h)
        fed = take(served > 0.0, b, True)
        return {
            "pv": {
                "activePower": pv,
                "temperature": cell + 273.15,
                "phoneChargingPower": np.where(fed, phones, 0.0),
            },
            "bench_battery": {"batteryLevel": self.soc.copy()},
        }


def _shade_now(blocked: Floats, centre: Floats, sun_azimuth: float) -> Floats:
    """A tree or wall blocks the beam while the sun is within 20 degrees of its bearing."""
    off = np.abs((sun_azimuth - centre + 180.0) % 360.0 - 180.0)
    return np.where(off < 20.0, blocked, 0.0)


class Buildings:
    kinds: tuple[str, ...] = ("building", "electricity", "thermal")

    def __init__(self, fleet: Fleet, rng: np.random.Generator) -> None:
        buildings = fleet.of("building")
        self.use = np.array(
            [USE_INDEX.get(get(b, "category", ["apartments"])[0], 0) for b in buildings],
            dtype=np.int64,
        )
        self.capacity = fleet.floats("building", "peopleCapacity", 50.0)
        floors = fleet.floats("building", "floorsAboveGround", 1.0)
        self.area = np.array([_footprint(get(b, "location")) for b in buildings]) * floors
        year = np.array([int(str(get(b, "dateInstalled", "2000"))[:4]) for b in buildings])
        self.u_value = np.clip(1.8 - 0.04 * (year - 1995), 0.8, 1.8)
        self.base = np.array([USES[u].base_load for u in self.use])
        self.peak = np.array([USES[u].peak_load for u in self.use])
        self.schools = np.array([USES[u].school_holidays for u in self.use])
        where = fleet.index("building")
        self.elec_of = self._buildings_of(fleet, "electricity", where)
        self.heat_of = self._buildings_of(fleet, "thermal", where)
        self.noise = rng.standard_normal(len(buildings))
        self.base_noise = rng.standard_normal(len(buildings))

    @staticmethod
    def _buildings_of(fleet: Fleet, kind: str, where: dict[str, int]) -> np.ndarray[Any, Any]:
        out = []
        for reading in fleet.of(kind):
            meter = fleet.by_id.get(get(reading, "refDevice", ""), {})
            assets = get(meter, "controlledAsset", []) if meter else []
            out.append(where.get(assets[0], -1) if assets else -1)
        return np.array(out, dtype=np.int64)

    def advance(self, env: Env, rng: np.random.Generator, mods: Mods) -> dict[str, Values]:
        table = WEEKEND if env.weekend else WEEKDAY
        h = env.hour
        i = int(h) % 24
        by_use = table[:, i] + (table[:, (i + 1) % 24] - table[:, i]) * (h - int(h))
        occupancy = by_use[self.use]
        if env.school_holiday:
            occupancy = np.where(self.schools, occupancy * 0.05, occupancy)
        self.noise = ar_step(self.noise, env.dt_h, 6.0, rng)
        occupancy = np.clip(occupancy * (1.0 + 0.08 * self.noise), 0.0, 1.0)
        self.base_noise = ar_step(self.base_noise, env.dt_h, BASE_TAU_H, rng)
        base = self.base * np.maximum(1.0 + BASE_WOBBLE * self.base_noise, 0.5)
        electric, thermal = physics.building_loads(
            env, self.area, occupancy, base, self.peak, self.u_value
        )
        return {
            "building": {"peopleOccupancy": np.round(occupancy * self.capacity)},
            "electricity": {"numValue": take(electric, self.elec_of, 0.0)},
            "thermal": {"numValue": take(thermal, self.heat_of, 0.0)},
        }


def _footprint(geometry: Any) -> float:
    """Area in m2 of a small lon/lat polygon (shoelace on a local projection)."""
    if not isinstance(geometry, dict) or geometry.get("type") != "Polygon":
        return 500.0
    ring = np.array(geometry["coordinates"][0], dtype=float)
    lat0 = math.radians(float(ring[:, 1].mean()))
    x = ring[:, 0] * 111_320.0 * math.cos(lat0)
    y = ring[:, 1] * 110_574.0
    return float(abs(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1])) / 2.0)
