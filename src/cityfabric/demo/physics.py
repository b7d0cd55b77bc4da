"""The physics of the demo city's assets, vectorised over assets with numpy.

Photovoltaics use pvlib (Hay-Davies plane-of-array irradiance, SAPM cell temperature,
PVWatts DC with its temperature coefficient and system losses); lamps follow the sun's
elevation and their circuit's dimming programme; batteries integrate charge and load;
buildings respond to occupancy, daylight and the outdoor temperature; traffic follows
daily and weekly demand through a BPR speed-flow curve; pollutant concentrations relax
toward what emissions and the atmosphere's ventilation (wind times mixing height) allow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import numpy as np
from pvlib import irradiance, pvsystem, temperature  # type: ignore[import-untyped]

from cityfabric.demo.build import Bools, Floats, Ints
from cityfabric.demo.profiles import hourly
from cityfabric.demo.weather import Sun, Weather

ON_ELEVATION: Final = -1.0  # lamps are on while the sun is below this elevation, degrees
LOW_VOLTAGE_DISCONNECT: Final = 0.05  # a battery below this state of charge feeds no load
CHARGE_EFFICIENCY: Final = 0.95
# PVWatts system losses other than soiling and shading (mismatch, wiring, LID, ...), percent
PV_LOSSES: Final = float(pvsystem.pvwatts_losses(soiling=0, shading=0, availability=0))
SAPM: Final[dict[str, dict[str, float]]] = temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"]

# lamp programmes: index -> (level by local hour while dark)
PROGRAM_INDEX: Final = {"full-night": 0, "dim50-after-midnight": 1, "solar-adaptive": 2}
_PROGRAM_LEVEL: Final = np.array(
    [
        [1.0] * 24,
        [0.5] * 5 + [1.0] * 19,  # half power from midnight to 05:00
        [0.3] * 12 + [1.0] * 10 + [0.3] * 2,  # full until 22:00, then 30 % until dawn
    ]
)


@dataclass(frozen=True, slots=True)
class Env:
    """Everything shared by all assets at one step."""

    t: datetime  # UTC
    dt_h: float  # hours since the previous step
    sun: Sun
    wx: Weather
    hour: float  # local clock hour, 0..24
    weekend: bool
    doy: int  # local day of year
    school_holiday: bool

    @property
    def dark(self) -> bool:
        return self.sun.elevation < ON_ELEVATION


def lamp_levels(env: Env, program: Ints) -> Floats:
    """Commanded light level 0..1 of lamps on each programme (0 while the sun is up)."""
    if not env.dark:
        return np.zeros(len(program))
    levels: Floats = _PROGRAM_LEVEL[program, int(env.hour) % 24]
    return levels


def lamp_power(level: Floats, rated: Floats, dimmable: Bools) -> Floats:
    """Electric power, W: LED drivers scale with the level; sodium lamps are on or off."""
    on = level > 0.0
    return np.where(dimmable, rated * level, np.where(on, rated, 0.0))


def battery_step(
    soc: Floats, capacity_wh: Floats, pv_w: Floats, load_w: Floats, dt_h: float
) -> tuple[Floats, Floats]:
    """New state of charge (0..1) and the load actually served, W."""
    served = np.where(soc > LOW_VOLTAGE_DISCONNECT, load_w, 0.0)
    energy = (pv_w * CHARGE_EFFICIENCY - served / CHARGE_EFFICIENCY) * dt_h
    return np.clip(soc + energy / capacity_wh, 0.0, 1.0), served


def pv_output(
    env: Env,
    tilt: Floats,
    azimuth: Floats,
    peak_w: Floats,
    gamma: Floats,
    mount: str,
    clean: Floats | None = None,
    beam_blocked: Floats | None = None,
) -> tuple[Floats, Floats]:
    """DC power (W, 0..peak) and cell temperature (degC) of panels; `clean` is the share of
    light the soiling lets through, `beam_blocked` the share of direct sun a shade removes."""
    n = len(tilt)
    sun, wx = env.sun, env.wx
    if n == 0 or wx.ghi <= 0.0 or sun.zenith >= 90.0:
        return np.zeros(n), np.full(n, wx.temp)
    poa: Any = irradiance.get_total_irradiance(
        tilt, azimuth, sun.zenith, sun.azimuth, wx.dni, wx.ghi, wx.dhi,
        dni_extra=sun.dni_extra, model="haydavies",
    )  # fmt: skip
    direct = np.nan_to_num(np.asarray(poa["poa_direct"], dtype=float))
    diffuse = np.nan_to_num(np.asarray(poa["poa_diffuse"], dtype=float))
    if beam_blocked is not None:
        direct = direct * (1.0 - beam_blocked)
        diffuse = diffuse * (1.0 - 0.3 * beam_blocked)
    effective = direct + diffuse
    if clean is not None:
        effective = effective * clean
    p = SAPM[mount]
    cell = temperature.sapm_cell(effective, wx.temp, wx.wind, p["a"], p["b"], p["deltaT"])
    dc = pvsystem.pvwatts_dc(effective, cell, peak_w, gamma) * (1.0 - PV_LOSSES / 100.0)
    return np.clip(np.asarray(dc, dtype=float), 0.0, peak_w), np.asarray(cell, dtype=float)


# --- buildings -------------------------------------------------------------------------

COOLING_COP: Final = 3.0
HEATING_BELOW: Final = 14.0  # the heating season runs while the two-day mean is below, degC
COOLING_ABOVE: Final = 19.0


def building_loads(
    env: Env,
    area: Floats,
    occupancy: Floats,
    base_w: Floats,
    peak_w: Floats,
    u_value: Floats,
) -> tuple[Floats, Floats]:
    """Electric and thermal (heating + cooling) power of buildings, kW, both >= 0.

    `occupancy` is the fraction present, `u_value` the envelope loss per m2 of floor, W/K.
    """
    awake = 0.3 if env.hour < 6.0 else 1.0
    daylight = min(1.0, env.wx.ghi / 250.0)
    internal = area * (base_w + peak_w * occupancy * awake + 4.0 * occupancy * (1.0 - daylight))
    solar_gain = 0.004 * area * env.wx.ghi
    t_out = env.wx.temp
    heating = np.zeros(len(area))
    cooling = np.zeros(len(area))
    if env.wx.temp_slow < HEATING_BELOW:
        setpoint = np.where(occupancy > 0.1, 20.0, 17.0)
        loss = u_value * area * (setpoint - t_out)
        heating = np.maximum(0.0, loss - 0.7 * internal - solar_gain)
    elif env.wx.temp_slow > COOLING_ABOVE:
        gain = u_value * area * (t_out - 25.0) + 0.6 * internal + solar_gain
        cooling = np.where(occupancy > 0.05, np.maximum(0.0, gain), 0.0)
    thermal = (heating + cooling) / 1000.0
    electric = (internal + cooling / COOLING_COP) / 1000.0 + 0.04 * thermal
    return electric, thermal


# --- traffic and air ---------------------------------------------------------------------

TRAFFIC_WEEKDAY: Final = np.array(
    hourly(
        {
            0: 0.08,
            5: 0.1,
            7: 0.75,
            8: 1.0,
            9: 0.75,
            12: 0.6,
            16: 0.75,
            17.5: 0.95,
            19: 0.6,
            22: 0.25,
        }
    )
)
TRAFFIC_WEEKEND: Final = np.array(hourly({0: 0.12, 6: 0.1, 10: 0.5, 13: 0.65, 17: 0.6, 21: 0.3}))
LANE_CAPACITY: Final = 1800.0  # vehicles per hour per lane
VEHICLE_SPACE: Final = 6.5  # vehicle length plus loop length, m


def traffic_demand(env: Env) -> float:
    """Share of the peak-hour demand at this local time (0..1)."""
    profile = TRAFFIC_WEEKEND if env.weekend else TRAFFIC_WEEKDAY
    h = env.hour
    i = int(h) % 24
    return float(profile[i] + (profile[(i + 1) % 24] - profile[i]) * (h - int(h)))


def traffic_flow(flow_vph: Floats, capacity_vph: Floats, free_kmh: Floats) -> tuple[Floats, Floats]:
    """Mean speed (km/h) and occupancy (0..1) of a lane at a flow: a BPR-form speed-flow
    curve calibrated for signalised urban arterials (half the free speed at capacity)."""
    ratio = flow_vph / capacity_vph
    speed = free_kmh / (1.0 + 0.8 * ratio**4)
    occupancy = np.clip(flow_vph * VEHICLE_SPACE / (1000.0 * speed), 0.0, 1.0)
    return speed, occupancy


def dilution(env: Env) -> float:
    """How much worse than a breezy afternoon the atmosphere dilutes emissions (>= ~0.3)."""
    # convective mixing by day, mechanical mixing by the wind at any time
    mixing_height = 250.0 + 100.0 * env.wx.wind + 1.5 * env.wx.ghi + 10.0 * max(env.wx.temp, 0.0)
    return float((3.0 * 800.0 / (max(env.wx.wind, 0.5) * mixing_height)) ** 0.7)


def heating_share(env: Env) -> float:
    """0..1: how hard the city is heating (drives winter NO2 and PM)."""
    return min(1.0, max(0.0, HEATING_BELOW - env.wx.temp_slow) / 24.0)


def relax(current: Floats, target: Floats, dt_h: float, tau_h: float) -> Floats:
    """First-order approach of a concentration to its equilibrium."""
    return target + (current - target) * math.exp(-dt_h / tau_h)
