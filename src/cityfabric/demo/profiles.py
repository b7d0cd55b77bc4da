"""Building uses: one declarative row each, shared by the generator and the load model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np

from cityfabric.demo.build import Floats


def hourly(anchors: Mapping[float, float]) -> tuple[float, ...]:
    """24 hourly values, linear between (hour -> value) anchors, wrapping past midnight."""
    hours = sorted(anchors)
    xs = np.array([*hours, hours[0] + 24.0])
    ys = np.array([*(anchors[h] for h in hours), anchors[hours[0]]])
    h = np.arange(24.0)
    return tuple(float(v) for v in np.interp(np.where(h < xs[0], h + 24, h), xs, ys))


@dataclass(frozen=True, slots=True)
class BuildingUse:
    category: str  # Building.category
    weight: float  # share of the city's buildings
    floors: tuple[int, int] | None  # floors above ground; None: the city's housing range
    area_per_person: float  # m2 of floor per person at full capacity
    opening_hours: tuple[str, ...]
    base_load: float  # W/m2 of electricity drawn around the clock
    peak_load: float  # W/m2 more at full, awake occupancy
    weekday: tuple[float, ...]  # occupancy fraction by local hour
    weekend: tuple[float, ...]
    school_holidays: bool  # nearly empty in the summer and winter school holidays
    heat_meter: bool


_ALWAYS = ("Mo-Su 00:00-24:00",)
USES: Final[tuple[BuildingUse, ...]] = (
    BuildingUse(
        "apartments", 0.50, None, 30, _ALWAYS, 2.0, 6.0,
        hourly({0: 0.95, 7: 0.9, 9: 0.45, 12: 0.35, 17: 0.55, 19: 0.85, 22: 0.95}),
        hourly({0: 0.95, 9: 0.85, 12: 0.6, 16: 0.6, 20: 0.9, 23: 0.95}),
        False, True,
    ),
    BuildingUse(
        "office", 0.14, (6, 25), 12, ("Mo-Fr 08:00-19:00",), 5.0, 18.0,
        hourly({0: 0.02, 7: 0.05, 9: 0.85, 12: 0.7, 13: 0.85, 17: 0.8, 19: 0.2, 21: 0.04}),
        hourly({0: 0.02, 10: 0.08, 16: 0.08, 19: 0.02}),
        False, True,
    ),
    BuildingUse(
        "retail", 0.10, (1, 4), 8, ("Mo-Su 10:00-22:00",), 8.0, 25.0,
        hourly({0: 0.0, 9: 0.05, 10: 0.45, 12: 0.7, 15: 0.6, 18: 0.9, 21: 0.6, 22.5: 0.0}),
        hourly({0: 0.0, 9: 0.05, 10: 0.6, 14: 1.0, 20: 0.8, 22.5: 0.0}),
        False, True,
    ),
    BuildingUse(
        "school", 0.05, (3, 5), 8, ("Mo-Fr 07:30-17:00",), 3.0, 10.0,
        hourly({0: 0.0, 7: 0.1, 8: 0.95, 12: 0.9, 15: 0.7, 17: 0.1, 18: 0.0}),
        hourly({0: 0.0, 12: 0.02, 23: 0.0}),
        True, True,
    ),
    BuildingUse(
        "kindergarten", 0.04, (2, 3), 10, ("Mo-Fr 07:00-18:30",), 3.0, 10.0,
        hourly({0: 0.0, 7: 0.3, 8: 0.9, 16: 0.8, 18.5: 0.0}),
        hourly({0: 0.0, 12: 0.01, 23: 0.0}),
        False, True,
    ),
    BuildingUse(
        "hotel", 0.04, (8, 20), 25, _ALWAYS, 10.0, 12.0,
        hourly({0: 0.8, 9: 0.5, 14: 0.4, 20: 0.75}),
        hourly({0: 0.9, 10: 0.6, 14: 0.5, 20: 0.85}),
        False, True,
    ),
    BuildingUse(
        "hospital", 0.02, (5, 12), 20, _ALWAYS, 18.0, 20.0,
        hourly({0: 0.7, 8: 0.95, 12: 1.0, 20: 0.8}),
        hourly({0: 0.7, 10: 0.85, 20: 0.8}),
        False, True,
    ),
    BuildingUse(
        "warehouse", 0.07, (1, 2), 100, ("Mo-Sa 06:00-22:00",), 4.0, 10.0,
        hourly({0: 0.2, 6: 0.3, 7: 0.6, 18: 0.6, 20: 0.2}),
        hourly({0: 0.2, 8: 0.3, 18: 0.3, 20: 0.2}),
        False, False,
    ),
    BuildingUse(
        "civic", 0.04, (2, 5), 15, ("Mo-Fr 08:30-18:00",), 5.0, 15.0,
        hourly({0: 0.02, 8: 0.1, 9: 0.7, 17: 0.7, 18.5: 0.05}),
        hourly({0: 0.02, 12: 0.05, 23: 0.02}),
        False, True,
    ),
)  # fmt: skip
USE_BY_CATEGORY: Final[dict[str, BuildingUse]] = {u.category: u for u in USES}
USE_INDEX: Final[dict[str, int]] = {u.category: i for i, u in enumerate(USES)}
WEEKDAY: Final[Floats] = np.array([u.weekday for u in USES])
WEEKEND: Final[Floats] = np.array([u.weekend for u in USES])
