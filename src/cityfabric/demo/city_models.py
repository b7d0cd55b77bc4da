"""Stateful simulation of traffic, EV charging, weather and air quality stations, the port."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cityfabric.demo import physics
from cityfabric.demo.cities import City
from cityfabric.demo.energy_models import Mods, Values, ar_step
from cityfabric.demo.fleet import Fleet, get, take
from cityfabric.demo.physics import Env
from cityfabric.demo.profiles import hourly

_EV_DEMAND = np.array(
    hourly({0: 0.1, 6: 0.15, 8: 0.6, 10: 0.4, 12: 0.5, 15: 0.4, 18: 0.8, 21: 0.5})
)
_EV_STATUS = np.array(["working", "full"])
MAX_SOCKETS = 8


class Mobility:
    kinds: tuple[str, ...] = ("traffic", "ev_charger")

    def __init__(self, fleet: Fleet, rng: np.random.Generator) -> None:
        segments = [fleet.by_id.get(get(c, "refRoadSegment", ""), {}) for c in fleet.of("traffic")]
        # a counter observes one lane (laneId): its capacity is one lane's
        self.capacity = np.full(len(segments), physics.LANE_CAPACITY)
        self.free = np.array(
            [float(get(s, "maximumAllowedSpeed", 50.0)) if s else 50.0 for s in segments]
        )
        self.busy_share = rng.uniform(0.5, 1.05, size=len(segments))
        self.noise = rng.standard_normal(len(segments))
        self.sockets = np.minimum(
            fleet.floats("ev_charger", "capacity", 2.0).astype(int), MAX_SOCKETS
        )
        power = fleet.floats("ev_charger", "ratedPower", 44.0)
        self.socket_kw = power / np.maximum(self.sockets, 1)
        self.fast = self.socket_kw > 30.0
        self.remaining = np.zeros((len(self.sockets), MAX_SOCKETS))  # minutes of charging left
        self.exists = np.arange(MAX_SOCKETS)[None, :] < self.sockets[:, None]

    def advance(self, env: Env, rng: np.random.Generator, mods: Mods) -> dict[str, Values]:
        demand = physics.traffic_demand(env)
        self.noise = ar_step(self.noise, env.dt_h, 3.0, rng)
        flow = np.maximum(0.0, demand * self.busy_share * self.capacity * (1.0 + 0.08 * self.noise))
        speed, occupancy = physics.traffic_flow(flow, self.capacity, self.free)
        counted = rng.poisson(flow * 5.0 / 60.0)
        return {
            "traffic": {
                "intensity": counted.astype(float),
                "occupancy": occupancy,
                "averageVehicleSpeed": speed,
                "congested": speed < 0.6 * self.free,
            },
            "ev_charger": self._charge(env, rng),
        }

    def _charge(self, env: Env, rng: np.random.Generator) -> Values:
        dt_min = env.dt_h * 60.0
        self.remaining = np.maximum(0.0, self.remaining - dt_min)
        rate = _EV_DEMAND[int(env.hour) % 24] * np.where(self.fast, 0.6, 0.3) * self.sockets
        arrivals = rng.poisson(rate * env.dt_h)
        durations = np.where(
            self.fast[:, None],
            rng.lognormal(math.log(30.0), 0.4, size=self.remaining.shape),
            rng.lognormal(math.log(120.0), 0.5, size=self.remaining.shape),
        )
        free = self.exists & (self.remaining <= 0.0)
        rank = np.cumsum(free, axis=1)
        take = free & (rank <= arrivals[:, None])
        self.remaining = np.where(take, durations, self.remaining)
        busy = self.remaining > 0.0
        taper = np.where(
            self.fast[:, None], 0.55 + 0.45 * np.minimum(1.0, self.remaining / 20.0), 0.95
        )
        power = (busy * taper).sum(axis=1) * self.socket_kw
        available = self.sockets - busy.sum(axis=1)
        return {
            "availableCapacity": available.astype(float),
            "status": _EV_STATUS[(available == 0).astype(int)],
            "powerConsumption": power,
        }


class Air:
    """Weather stations report the city's weather; air quality follows traffic and the air."""

    kinds: tuple[str, ...] = ("weather", "air_quality")

    def __init__(self, fleet: Fleet, city: City, rng: np.random.Generator) -> None:
        self.city = city
        self.offset = rng.normal(0.0, 0.4, size=len(fleet.of("weather")))  # siting, degC
        self.roadside = np.array(
            [get(s, "stationCategory") == "traffic" for s in fleet.of("air_quality")]
        )
        n = len(self.roadside)
        self.no2 = fleet.floats("air_quality", "no2", 20.0)
        self.pm25 = fleet.floats("air_quality", "pm25", 15.0)
        self.pm10 = fleet.floats("air_quality", "pm10", 25.0)
        self.o3 = fleet.floats("air_quality", "o3", 50.0)
        self.local = rng.uniform(0.8, 1.2, size=n)

    def advance(self, env: Env, rng: np.random.Generator, mods: Mods) -> dict[str, Values]:
        wx = env.wx
        n = len(self.offset)
        weather = {
            "temperature": wx.temp + self.offset + rng.normal(0.0, 0.1, n),
            "relativeHumidity": np.clip(wx.humidity + rng.normal(0.0, 0.01, n), 0.0, 1.0),
            "windSpeed": np.maximum(0.0, wx.wind + rng.normal(0.0, 0.2, n)),
            "windDirection": (wx.wind_from + rng.normal(0.0, 5.0, n)) % 360.0,
            "atmosphericPressure": wx.pressure + rng.normal(0.0, 0.2, n),
            "solarRadiation": np.maximum(0.0, wx.ghi * (1.0 + rng.normal(0.0, 0.02, n))),
        }
        return {"weather": weather, "air_quality": self._air(env, rng)}

    def _air(self, env: Env, rng: np.random.Generator) -> Values:
        wx = env.wx
        dil = physics.dilution(env)
        heat = physics.heating_share(env)
        traffic = physics.traffic_demand(env) * np.where(self.roadside, 1.0, 0.35) * self.local
        no2 = 8.0 + (35.0 * traffic + 8.0 * heat) * dil
        growth = 1.0 + 0.6 * max(0.0, wx.humidity - 0.7) / 0.3
        pm25 = (5.0 + (6.0 * traffic + self.city.climate.heating_pm25 * heat) * dil) * growth
        dry_wind = max(0.0, wx.wind - 3.0) * (1.0 if wx.humidity < 0.5 else 0.3)
        pm10 = pm25 * 1.45 + 4.0 + self.city.climate.dust * dry_wind * 3.0
        season = math.sin(2.0 * math.pi * (env.doy - 80) / 365.25)
        photo = 0.05 * wx.ghi * max(0.0, wx.temp - 5.0) / 20.0
        titration = 0.3 * (no2 - 8.0)
        o3 = np.maximum(5.0, 50.0 + 15.0 * season + photo / max(dil, 0.3) ** 0.3 - titration)
        self.no2 = physics.relax(self.no2, no2, env.dt_h, 1.0)
        self.pm25 = physics.relax(self.pm25, pm25, env.dt_h, 3.0)
        self.pm10 = physics.relax(self.pm10, pm10, env.dt_h, 2.0)
        self.o3 = physics.relax(self.o3, o3, env.dt_h, 1.5)
        n = len(self.no2)

        def measured(c: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
            return np.maximum(0.0, c * (1.0 + rng.normal(0.0, 0.03, n)))

        return {
            "no2": measured(self.no2),
            "pm25": measured(self.pm25),
            "pm10": measured(self.pm10),
            "o3": measured(self.o3),
        }


class Port:
    """Ships call at berths; the berth's cranes work while a ship is alongside."""

    kinds: tuple[str, ...] = ("berth", "crane_power")
    AUX_KW = 40.0  # drives on standby, lights, cabin
    STOP_WIND = 20.0  # m/s: cranes stop working above this wind

    def __init__(self, fleet: Fleet, rng: np.random.Generator) -> None:
        n = len(fleet.of("berth"))
        self.occupied = rng.random(n) < 0.5
        self.hours_left = rng.uniform(2.0, 24.0, size=n)
        cranes = fleet.index("crane")
        readings = fleet.of("crane_power")
        crane_of = [cranes.get(get(r, "refDevice", ""), -1) for r in readings]
        berth_of_crane = fleet.lookup("crane", "refSeaportFacilities", "berth")
        crane_idx = np.array(crane_of, dtype=np.int64)
        self.berth = take(berth_of_crane, crane_idx, -1)
        self.rated = take(fleet.floats("crane", "ratedPower", 2000.0), crane_idx, 2000.0)

    def advance(self, env: Env, rng: np.random.Generator, mods: Mods) -> dict[str, Values]:
        n = len(self.occupied)
        arrive = rng.random(n) < 1.0 - math.exp(-env.dt_h / 8.0)
        stay = rng.uniform(16.0, 40.0, size=n)
        self.hours_left -= env.dt_h
        departing = self.occupied & (self.hours_left <= 0.0)
        arriving = ~self.occupied & arrive
        self.occupied = (self.occupied & ~departing) | arriving
        self.hours_left = np.where(arriving, stay, self.hours_left)
        shift_change = (env.hour % 8.0) < 0.5
        crews_at_work = not shift_change and env.wx.wind < self.STOP_WIND
        working = take(self.occupied, self.berth, False) & crews_at_work
        cycle = rng.beta(2.0, 2.0, size=len(self.berth))
        power = self.AUX_KW + np.where(working, self.rated * (0.05 + 0.2 * cycle), 0.0)
        return {
            "berth": {"availableSpotNumber": (~self.occupied).astype(float)},
            "crane_power": {"numValue": power},
        }
