"""Sun and weather at a city: pvlib solar geometry and clear sky, and a persistent weather process.

The sun comes from pvlib (NREL SPA in numpy; Ineichen clear sky with the Linke turbidity
climatology pvlib ships, so nothing is downloaded). The weather is a set of seeded AR(1)
processes whose time constants give it persistence: cloudiness (hours), temperature
anomaly (days), dew point, wind and pressure. All-sky irradiance follows from cloudiness
by Kasten-Czeplak, split into beam and diffuse by Erbs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd
from pvlib import atmosphere, clearsky, irradiance, solarposition  # type: ignore[import-untyped]

from cityfabric.demo.cities import City

_PHI = NormalDist()
_CLOUD_SPREAD = 1.6  # latent-to-cloud gain: weather is mostly clear or mostly overcast


@dataclass(frozen=True, slots=True)
class Sun:
    elevation: float  # apparent, degrees
    zenith: float  # apparent, degrees
    azimuth: float  # degrees east of north
    ghi_clear: float  # W/m2
    dni_extra: float  # W/m2
    airmass: float  # relative; nan below the horizon


class SunModel:
    """Solar position and clear-sky irradiance at one city, cached per instant."""

    def __init__(self, city: City) -> None:
        self.city = city
        self.pressure = float(atmosphere.alt2pres(city.altitude))
        mid_months = pd.DatetimeIndex([f"2021-{m:02d}-15" for m in range(1, 13)], tz="UTC")
        # monthly values, interpolated here: pvlib's own interpolation uses a pandas API
        # that pandas 3.1 deprecates (and pytest turns warnings into errors)
        turbidity = clearsky.lookup_linke_turbidity(
            mid_months, city.latitude, city.longitude, interp_turbidity=False
        )
        self._tl_doy = np.array([d.day_of_year for d in mid_months], dtype=float)
        self._tl = np.asarray(turbidity, dtype=float)
        self._cache: dict[int, Sun] = {}

    def precompute(self, times: list[datetime]) -> None:
        """Compute many instants in one vectorised pvlib call (a backfill's steps)."""
        todo = sorted({_key(t) for t in times} - self._cache.keys())
        for chunk in range(0, len(todo), 50_000):
            keys = todo[chunk : chunk + 50_000]
            index = pd.to_datetime(np.array(keys, dtype="int64"), unit="s", utc=True)
            for k, sun in zip(keys, self._compute(pd.DatetimeIndex(index)), strict=True):
                self._cache[k] = sun

    def __call__(self, t: datetime) -> Sun:
        k = _key(t)
        sun = self._cache.get(k)
        if sun is None:
            if len(self._cache) > 200_000:
                self._cache.clear()
            index = pd.DatetimeIndex([pd.Timestamp(k, unit="s", tz="UTC")])
            sun = self._cache[k] = self._compute(index)[0]
        return sun

    def _compute(self, index: pd.DatetimeIndex) -> list[Sun]:
        with np.errstate(divide="ignore", invalid="ignore"):  # pvlib below the horizon
            return self._solar(index)

    def _solar(self, index: pd.DatetimeIndex) -> list[Sun]:
        c = self.city
        pos = solarposition.get_solarposition(
            index, c.latitude, c.longitude, altitude=c.altitude, pressure=self.pressure
        )
        zenith = pos["apparent_zenith"].to_numpy(dtype=float)
        doy = index.day_of_year.to_numpy(dtype=float)
        tl = np.interp(doy, self._tl_doy, self._tl, period=365.0)
        am = atmosphere.get_relative_airmass(zenith)
        am_abs = atmosphere.get_absolute_airmass(am, self.pressure)
        extra = np.asarray(irradiance.get_extra_radiation(doy), dtype=float)
        sky = clearsky.ineichen(zenith, am_abs, tl, c.altitude, extra)
        ghi = np.where(zenith < 90.0, np.nan_to_num(np.asarray(sky["ghi"], dtype=float)), 0.0)
        elevation = pos["apparent_elevation"].to_numpy(dtype=float)
        azimuth = pos["azimuth"].to_numpy(dtype=float)
        return [
            Sun(float(e), float(z), float(a), float(g), float(x), float(m))
            for e, z, a, g, x, m in zip(elevation, zenith, azimuth, ghi, extra, am, strict=True)
        ]


def _key(t: datetime) -> int:
    if t.tzinfo is None:
        raise ValueError("simulation times must be timezone-aware")
    return int(t.timestamp())


@dataclass(frozen=True, slots=True)
class Weather:
    cloud: float  # cloud fraction, 0..1
    ghi: float  # global horizontal irradiance, W/m2
    dni: float
    dhi: float
    temp: float  # air temperature, degC
    temp_slow: float  # two-day running mean of temp: what heating and cooling follow
    humidity: float  # relative, 0..1
    wind: float  # m/s at 10 m
    wind_from: float  # degrees from north, 0..360
    pressure: float  # station pressure, hPa


def _ar(x: float, dt_h: float, tau_h: float, eps: float) -> float:
    """One step of a unit-variance AR(1) process with time constant tau."""
    phi = math.exp(-dt_h / tau_h)
    return phi * x + math.sqrt(1.0 - phi * phi) * eps


def _es(t: float) -> float:
    """Saturation vapour pressure over water, hPa (Magnus)."""
    return 6.112 * math.exp(17.62 * t / (243.12 + t))


class WeatherProcess:
    """The city's weather, advanced step by step from seeded innovations."""

    TAU_H = {"cloud": 7.0, "temp": 60.0, "dew": 30.0, "wind": 10.0, "dir": 14.0, "press": 50.0}

    def __init__(self, city: City) -> None:
        self.city = city
        self.x: dict[str, float] = {}
        self.temp_slow: float | None = None

    def mean_cloud(self, doy: float) -> float:
        cl = self.city.climate
        summer = (1.0 - math.cos(2 * math.pi * (doy - 15.0) / 365.25)) / 2.0
        return cl.cloud_winter + (cl.cloud_summer - cl.cloud_winter) * summer

    def seasonal_temp(self, doy: float) -> float:
        cl = self.city.climate
        return cl.temp_mean - cl.temp_amplitude * math.cos(
            2 * math.pi * (doy - cl.coldest_day) / 365.25
        )

    def step(self, t: datetime, dt_h: float, sun: Sun, rng: np.random.Generator) -> Weather:
        eps = rng.standard_normal(len(self.TAU_H))
        if not self.x:
            self.x = dict(zip(self.TAU_H, eps.tolist(), strict=True))
        else:
            for (name, tau), e in zip(self.TAU_H.items(), eps.tolist(), strict=True):
                self.x[name] = _ar(self.x[name], dt_h, tau, e)
        cl, x = self.city.climate, self.x
        doy = t.timetuple().tm_yday + t.hour / 24.0
        mean = self.mean_cloud(doy)
        bias = _PHI.inv_cdf(min(max(mean, 0.02), 0.98)) * math.sqrt(1 + _CLOUD_SPREAD**2)
        cloud = _PHI.cdf(bias + _CLOUD_SPREAD * x["cloud"])
        ghi = sun.ghi_clear * (1.0 - 0.75 * cloud**3.4)
        dni, dhi = _split(ghi, sun, doy)
        solar_hour = (t.hour + t.minute / 60.0 + self.city.longitude / 15.0) % 24.0
        diurnal = (
            cl.temp_diurnal * (1.0 - 0.6 * cloud) * math.cos(2 * math.pi * (solar_hour - 15.0) / 24)
        )
        base = self.seasonal_temp(doy) + 3.0 * x["temp"]
        temp = base + diurnal
        dew = base - cl.dew_depression * (1.0 - 0.5 * cloud) + 1.5 * x["dew"]
        humidity = min(1.0, max(0.05, _es(min(dew, temp)) / _es(temp)))
        daytime = max(0.0, math.sin(math.radians(sun.elevation)))
        wind = cl.wind_mean * math.exp(0.45 * x["wind"] - 0.1) * (0.85 + 0.3 * daytime)
        wind_from = (cl.wind_from + 55.0 * x["dir"]) % 360.0
        pressure = (
            1013.25 * math.exp(-self.city.altitude / 8434.0)
            + 7.0 * x["press"]
            - 5.0 * (cloud - mean)
        )
        if self.temp_slow is None:
            self.temp_slow = base
        self.temp_slow += (temp - self.temp_slow) * (1.0 - math.exp(-dt_h / 48.0))
        return Weather(
            cloud, ghi, dni, dhi, temp, self.temp_slow, humidity, wind, wind_from, pressure
        )


def _split(ghi: float, sun: Sun, doy: float) -> tuple[float, float]:
    """Beam (DNI) and diffuse (DHI) parts of GHI (Erbs)."""
    if ghi <= 0.0 or sun.zenith >= 90.0:
        return 0.0, 0.0
    parts: Any = irradiance.erbs(ghi, sun.zenith, doy)
    return float(parts["dni"]), float(parts["dhi"])
