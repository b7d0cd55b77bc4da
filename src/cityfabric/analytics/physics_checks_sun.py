"""Where the sun is, and how much light a clear sky gives: small closed forms, no pandas.

The physics checks call these once per reading, so they are plain float functions (NOAA's
solar position approximation, about 0.1 degree; Haurwitz's clear-sky irradiance) rather than
pvlib's vectorised pandas API, which costs far more per single instant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

_DAY = 86400.0
_J2000 = 946728000.0  # 2000-01-01T12:00:00Z in Unix seconds


@dataclass(frozen=True, slots=True)
class SunAt:
    elevation: float  # degrees above the horizon (geometric, refraction ignored)
    azimuth: float  # degrees east of north

    @property
    def zenith(self) -> float:
        return 90.0 - self.elevation


def sun_at(seconds: float, latitude: float, longitude: float) -> SunAt:
    """The sun's elevation and azimuth at SECONDS (Unix time) seen from a place."""
    d = (seconds - _J2000) / _DAY
    g = math.radians((357.529 + 0.98560028 * d) % 360.0)
    q = (280.459 + 0.98564736 * d) % 360.0
    ecliptic = math.radians(q + 1.915 * math.sin(g) + 0.020 * math.sin(2 * g))
    tilt = math.radians(23.439 - 0.00000036 * d)
    declination = math.asin(math.sin(tilt) * math.sin(ecliptic))
    right_ascension = math.degrees(
        math.atan2(math.cos(tilt) * math.sin(ecliptic), math.cos(ecliptic))
    )
    sidereal = (280.46061837 + 360.98564736629 * d + longitude) % 360.0
    hour_angle = math.radians((sidereal - right_ascension) % 360.0)
    lat = math.radians(latitude)
    sin_el = math.sin(lat) * math.sin(declination) + math.cos(lat) * math.cos(
        declination
    ) * math.cos(hour_angle)
    elevation = math.asin(max(-1.0, min(1.0, sin_el)))
    azimuth = math.atan2(
        -math.sin(hour_angle),
        math.tan(declination) * math.cos(lat) - math.sin(lat) * math.cos(hour_angle),
    )
    return SunAt(math.degrees(elevation), math.degrees(azimuth) % 360.0)


def clear_sky_ghi(sun: SunAt) -> float:
    """Global horizontal irradiance under a clear sky, W/m2 (Haurwitz)."""
    cos_z = math.cos(math.radians(sun.zenith))
    if cos_z <= 0.0:
        return 0.0
    return 1098.0 * cos_z * math.exp(-0.057 / cos_z)


def clear_sky_ghi_at(seconds: Any, latitude: float, longitude: float) -> Any:
    """`clear_sky_ghi(sun_at(...))` over an array of Unix times, in numpy (the same formulas)."""
    d = (np.asarray(seconds, dtype=float) - _J2000) / _DAY
    g = np.radians((357.529 + 0.98560028 * d) % 360.0)
    q = (280.459 + 0.98564736 * d) % 360.0
    ecliptic = np.radians(q + 1.915 * np.sin(g) + 0.020 * np.sin(2 * g))
    tilt = np.radians(23.439 - 0.00000036 * d)
    declination = np.arcsin(np.sin(tilt) * np.sin(ecliptic))
    right_ascension = np.degrees(np.arctan2(np.cos(tilt) * np.sin(ecliptic), np.cos(ecliptic)))
    sidereal = (280.46061837 + 360.98564736629 * d + longitude) % 360.0
    hour_angle = np.radians((sidereal - right_ascension) % 360.0)
    lat = math.radians(latitude)
    cos_z = np.clip(
        math.sin(lat) * np.sin(declination)
        + math.cos(lat) * np.cos(declination) * np.cos(hour_angle),
        -1.0,
        1.0,
    )
    lit = cos_z > 0.0
    safe = np.where(lit, cos_z, 1.0)
    return np.where(lit, 1098.0 * safe * np.exp(-0.057 / safe), 0.0)
