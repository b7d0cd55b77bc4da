"""Physical bounds and behaviour of the simulated city (clean runs, no faults)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from cityfabric.demo import physics
from cityfabric.demo.cities import get_city
from cityfabric.demo.fleet import get
from cityfabric.demo.physics import Env
from cityfabric.demo.weather import Sun, SunModel, Weather
from tests.demo.recording import Recording

Arr = np.ndarray[Any, Any]


def _env(temp: float = 10.0, ghi: float = 0.0, wind: float = 3.0, hour: float = 12.0) -> Env:
    sun = Sun(30.0 if ghi else -20.0, 60.0 if ghi else 110.0, 180.0, ghi, 1361.0, 2.0)
    wx = Weather(0.3, ghi, ghi * 0.7, ghi * 0.3, temp, temp, 0.6, wind, 90.0, 1010.0)
    return Env(datetime(2025, 3, 5, tzinfo=UTC), 0.25, sun, wx, hour, False, 64, False)


def _elevation(rec: Recording) -> Arr:
    return np.array(rec.elevation)


def test_sun_position_and_clear_sky_at_the_port_city() -> None:
    sun = SunModel(get_city("tianjin-eco"))
    lon = get_city("tianjin-eco").longitude
    noon = datetime(2025, 6, 21, tzinfo=UTC) + timedelta(hours=12 - lon / 15)
    s = sun(noon.replace(second=0, microsecond=0))
    assert abs(s.elevation - (90 - 39.1167 + 23.44)) < 0.6
    assert 850 < s.ghi_clear < 1100 and abs(s.azimuth - 180) < 3
    night = sun(noon + timedelta(hours=12))
    assert night.elevation < 0 and night.ghi_clear == 0.0


def test_no_pv_output_at_night_nor_above_rated_power(
    summer: Recording, winter: Recording, port_city: list[dict[str, Any]]
) -> None:
    by_id = {e["id"]: e for e in port_city}
    for rec in (summer, winter):
        power = rec.values("pv", "activePower")
        dark = _elevation(rec) <= 0.0
        assert np.all(power[dark] == 0.0)
        assert np.all(power >= 0.0)
        assert np.nanmax(power) > 0.0
    rated = np.array(
        [
            get(by_id[get(by_id[eid], "refPhotovoltaicDevice")], "NominalPower")
            for eid in summer.sim.ids("pv")
        ]
    )
    power = summer.values("pv", "activePower")
    assert np.all(power <= rated[None, :])
    noon = _elevation(summer) > 60
    assert np.nanmean(power[noon]) > 0.3 * rated.mean()


def test_lamps_follow_the_sun_and_their_dimming_programme(
    summer: Recording, winter: Recording
) -> None:
    for rec in (summer, winter):
        elev = _elevation(rec)
        state = rec.values("streetlight", "powerState")
        power = rec.values("streetlight", "powerConsumption")
        solar = np.zeros(state.shape[1], dtype=bool)
        battery_of = {}
        for j, eid in enumerate(rec.sim.ids("lamp_battery")):
            battery_of[rec.sim.index_of(_lamp_of(rec, eid))] = j
        solar[list(battery_of)] = True
        night, day = elev < -6.0, elev > 3.0
        assert np.all(state[np.ix_(night, ~solar)] == 1.0)
        assert np.all(power[np.ix_(night, ~solar)] > 0.0)
        assert np.all(state[day] == 0.0) and np.all(power[day] == 0.0)
        # a solar lamp is dark at night only when its battery is empty
        soc = rec.values("lamp_battery", "batteryLevel")
        for lamp, j in battery_of.items():
            off = night & (state[:, lamp] == 0.0)
            assert np.all(soc[off, j] <= 0.1)
        # dim50-after-midnight circuits: half level from local midnight to 05:00
        level = rec.values("streetlight", "illuminanceLevel")
        group = rec.values("streetlight_group", "illuminanceLevel")
        small_hours = night & (np.array(rec.hour) < 4.5)
        evening = night & (np.array(rec.hour) > 18.0)
        assert set(np.unique(group[small_hours])) <= {0.5, 1.0}
        assert 0.5 in set(np.unique(group[small_hours]))
        assert np.all(group[evening] == 1.0)
        assert np.all(level[np.ix_(evening, ~solar)] == 1.0)


def _lamp_of(rec: Recording, battery_id: str) -> str:
    lamps = rec.sim.ids("streetlight")
    index = rec.sim.index_of(battery_id)
    model = next(m for m in rec.sim.models if "lamp_battery" in m.kinds)
    return lamps[int(model.bat_lamp[index])]  # type: ignore[attr-defined]


def test_batteries_stay_between_empty_and_full(summer: Recording, winter: Recording) -> None:
    for rec in (summer, winter):
        for kind in ("lamp_battery", "bench_battery"):
            soc = rec.values(kind, "batteryLevel")
            assert np.all((soc >= 0.0) & (soc <= 1.0))
            assert np.any(np.diff(soc, axis=0) > 0) and np.any(np.diff(soc, axis=0) < 0)
    winter_soc = winter.values("lamp_battery", "batteryLevel")
    assert winter_soc[-1].mean() < summer.values("lamp_battery", "batteryLevel")[-1].mean()


def test_loads_and_counts_are_physical(summer: Recording, winter: Recording) -> None:
    for rec in (summer, winter):
        for kind, attr in [
            ("electricity", "numValue"),
            ("thermal", "numValue"),
            ("cabinet", "totalActivePower"),
            ("ev_charger", "powerConsumption"),
            ("pv", "phoneChargingPower"),
            ("traffic", "intensity"),
            ("building", "peopleOccupancy"),
            ("air_quality", "no2"),
            ("air_quality", "pm25"),
            ("air_quality", "pm10"),
            ("air_quality", "o3"),
        ]:
            assert np.all(rec.values(kind, attr) >= 0.0), (kind, attr)
        for kind, attr in [("traffic", "occupancy"), ("weather", "relativeHumidity")]:
            v = rec.values(kind, attr)
            assert np.all((v >= 0.0) & (v <= 1.0)), (kind, attr)
        energy = rec.values("cabinet", "energyConsumed")
        assert np.all(np.diff(energy, axis=0) >= -0.01)  # a register only counts up
        free = rec.values("ev_charger", "availableCapacity")
        power = rec.values("ev_charger", "powerConsumption")
        model = next(m for m in rec.sim.models if "ev_charger" in m.kinds)
        sockets: Arr = model.sockets  # type: ignore[attr-defined]
        assert np.all((free >= 0) & (free <= sockets[None, :])) and len(np.unique(free)) > 1
        assert np.all(power[free == sockets[None, :]] == 0.0)
        assert np.all(power[free < sockets[None, :]] > 0.0)
        full = rec.values("ev_charger", "status") == 1.0
        assert np.all(free[full] == 0)
    crane = summer.values("crane_power", "numValue")
    assert crane.min() >= 40.0 and crane.max() > 200.0
    berths = summer.values("berth", "availableSpotNumber")
    assert set(np.unique(berths)) <= {0.0, 1.0}


def test_cabinet_draws_what_its_lamps_draw(summer: Recording) -> None:
    model = next(m for m in summer.sim.models if "cabinet" in m.kinds)
    cabinet_of_lamp: Arr = model.cabinet  # type: ignore[attr-defined]
    lamps = summer.values("streetlight", "powerConsumption")
    cabinets = summer.values("cabinet", "totalActivePower")
    on_grid = cabinet_of_lamp >= 0
    for step in range(0, len(summer.times), 7):
        expected = np.bincount(
            cabinet_of_lamp[on_grid], weights=lamps[step, on_grid], minlength=cabinets.shape[1]
        )
        assert np.allclose(cabinets[step], expected / 1000.0, atol=0.01)


def test_traffic_has_rush_hours_and_quiet_nights(summer: Recording) -> None:
    hour, weekend = np.array(summer.hour), np.array(summer.weekend)
    counts = summer.values("traffic", "intensity").sum(axis=1)
    rush = counts[(~weekend) & (hour >= 7.5) & (hour < 9.0)].mean()
    night = counts[(hour >= 2.0) & (hour < 4.0)].mean()
    assert rush > 4 * night
    speed = summer.values("traffic", "averageVehicleSpeed")
    assert speed[(~weekend) & (hour >= 7.5) & (hour < 9.0)].mean() < speed[hour < 4.0].mean()


def test_buildings_follow_occupancy_and_the_weather(summer: Recording, winter: Recording) -> None:
    hour, weekend = np.array(summer.hour), np.array(summer.weekend)
    elec = summer.values("electricity", "numValue").sum(axis=1)
    assert elec[(~weekend) & (hour >= 10) & (hour < 16)].mean() > elec[hour < 5].mean()
    people = summer.values("building", "peopleOccupancy")
    assert np.all(people <= np.nanmax(people, axis=0)[None, :])
    heat = winter.values("thermal", "numValue").sum(axis=1)
    assert np.corrcoef(heat, np.array(winter.temp))[0, 1] < -0.3
    # the model itself: colder means more heat, more people mean more electricity
    area = np.array([1000.0, 1000.0])
    args = (np.array([5.0, 5.0]), np.array([15.0, 15.0]), np.array([1.0, 1.0]))
    e_empty, h_cold = physics.building_loads(_env(temp=-10), area, np.array([0.0, 0.0]), *args)
    e_full, h_mild = physics.building_loads(_env(temp=5), area, np.array([1.0, 1.0]), *args)
    assert np.all(h_cold > h_mild) and np.all(e_full > e_empty)
    e_hot, c_hot = physics.building_loads(_env(temp=33, ghi=800), area, np.ones(2), *args)
    e_hot_cool = e_hot - e_full
    assert np.all(c_hot > 0) and np.all(e_hot_cool > 0)  # chillers run on electricity


def test_a_healthy_electricity_meter_moves_from_one_reading_to_the_next(summer: Recording) -> None:
    """Base loads (fans, compressors, standby) move by a few percent, and the meter's 10 W
    resolution sees it: no meter holds one value for an hour, even in an empty building."""
    elec = summer.values("electricity", "numValue")  # one reading per meter every 15 min
    assert not np.isnan(elec).any()
    same = elec[1:] == elec[:-1]
    assert same.mean() < 0.01
    assert not (same[2:] & same[1:-1] & same[:-2]).any()  # four equal readings in a row
    hour = np.array(summer.hour[1:])
    step = np.abs(np.diff(elec, axis=0)) / elec[1:]
    assert 0.005 < np.median(step[(hour >= 1) & (hour < 5)]) < 0.05  # a few percent at night


def test_air_quality_follows_traffic_and_wind(summer: Recording) -> None:
    assert physics.dilution(_env(wind=1.0)) > physics.dilution(_env(wind=6.0))
    no2 = summer.values("air_quality", "no2")
    model = next(m for m in summer.sim.models if "air_quality" in m.kinds)
    roadside: Arr = model.roadside  # type: ignore[attr-defined]
    assert no2[:, roadside].mean() > no2[:, ~roadside].mean()
    pm10, pm25 = summer.values("air_quality", "pm10"), summer.values("air_quality", "pm25")
    assert np.all(pm10 >= pm25 * 0.9)


def test_weather_is_persistent_and_seasonal(summer: Recording, winter: Recording) -> None:
    cloud = np.array(summer.cloud)
    assert np.corrcoef(cloud[:-1], cloud[1:])[0, 1] > 0.9
    assert np.mean(summer.temp) > np.mean(winter.temp) + 15
    temp = summer.values("weather", "temperature")[:, 0]
    hour = np.array(summer.hour)
    assert temp[(hour >= 13) & (hour < 17)].mean() > temp[(hour >= 3) & (hour < 6)].mean()


@pytest.mark.parametrize("bad", [datetime(2025, 1, 1), None])
def test_times_must_be_aware(summer: Recording, bad: datetime | None) -> None:
    with pytest.raises(ValueError):
        if bad is None:
            summer.sim.step(datetime(2025, 1, 1, tzinfo=UTC), timedelta(0))
        else:
            summer.sim.step(bad, timedelta(minutes=1))
