"""Shared machinery of the asset generators: seeded streams, ids, map frame, life-cycle draws."""

from __future__ import annotations

import gc
import math
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cityfabric.demo.catalog import LIFECYCLE
from cityfabric.demo.cities import City
from cityfabric.demo.ngsi import Attr, date_prop, entity_id, money, prop, rel

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
Bools = NDArray[np.bool_]
_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON = 111_320.0


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small acyclic objects: its
    passes over a hundred thousand fresh dicts would cost a third of the time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def stream(seed: int, *names: str) -> np.random.Generator:
    """An independent random stream per (seed, names): adding a stream changes no other."""
    keys = [seed & 0xFFFF_FFFF_FFFF_FFFF, *(zlib.crc32(n.encode()) for n in names)]
    return np.random.default_rng(keys)


@dataclass(frozen=True, slots=True)
class Frame:
    """Local metres (x east, y north) around the city's centre <-> WGS84 degrees."""

    lat0: float
    lon0: float

    def lonlat(self, x: float, y: float) -> list[float]:
        lon = self.lon0 + float(x) / (_M_PER_DEG_LON * math.cos(math.radians(self.lat0)))
        return [round(lon, 6), round(self.lat0 + float(y) / _M_PER_DEG_LAT, 6)]

    def point(self, x: float, y: float) -> dict[str, Any]:
        return {"type": "Point", "coordinates": self.lonlat(x, y)}

    def rectangle(self, x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
        ring = [self.lonlat(x, y) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0))]
        return {"type": "Polygon", "coordinates": [ring]}


@dataclass
class Ids:
    """Entity ids `urn:ngsi-ld:<Type>:<city>-<n>`, numbered per type in generation order."""

    city: str
    counters: dict[str, int] = field(default_factory=dict)

    def next(self, entity_type: str) -> str:
        n = self.counters.get(entity_type, 0) + 1
        self.counters[entity_type] = n
        return entity_id(entity_type, self.city, n)

    def take(self, entity_type: str, count: int) -> list[str]:
        start = self.counters.get(entity_type, 0)
        self.counters[entity_type] = start + count
        return [entity_id(entity_type, self.city, n) for n in range(start + 1, start + count + 1)]


@dataclass
class Gen:
    """Everything a generator needs; one per `generate` call."""

    city: City
    scale: float
    seed: int
    as_of: datetime
    frame: Frame
    ids: Ids
    device_models: dict[str, str] = field(default_factory=dict)  # catalogue key -> entity id

    def rng(self, name: str) -> np.random.Generator:
        return stream(self.seed, self.city.key, name)

    def count(self, per_scale: float, minimum: int = 1) -> int:
        """A count that grows with size * scale, never below `minimum`."""
        return max(minimum, round(per_scale * self.city.size * self.scale))


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """Life-cycle values drawn for `n` assets of one kind."""

    installed: list[str]  # ISO 8601 UTC
    age: Floats  # years at as_of
    service_life: list[float]  # years
    cost: list[float]
    grade: list[int]


def draw_lifecycle(
    gen: Gen,
    rng: np.random.Generator,
    n: int,
    *,
    service_life: float,
    cost: float | Floats,
    years: tuple[int, int] | None = None,
) -> Lifecycle:
    """Installation dates in the city's build period (or `years`), costs and condition grades."""
    first, last = years or (gen.city.built_from, gen.city.built_to)
    last = min(last, gen.as_of.year - 1)
    first = min(first, last)
    start = np.datetime64(f"{first}-01-01T00:00:00", "s").astype(np.int64)
    end = np.datetime64(f"{last}-12-31T00:00:00", "s").astype(np.int64)
    secs = rng.integers(start, end, size=n) // 86_400 * 86_400 + 8 * 3600
    installed = np.datetime_as_string(secs.astype("datetime64[s]"), unit="s")
    as_of = np.datetime64(gen.as_of.replace(tzinfo=None), "s").astype(np.int64)
    age = (as_of - secs) / (365.25 * 86_400)
    price = cost * gen.city.cost_factor * rng.uniform(0.85, 1.15, size=n)
    wear = 4.0 * np.clip(age / service_life, 0.0, 1.5) ** 1.5 + rng.normal(0.0, 0.5, size=n)
    grade = np.clip(np.floor(1.0 + wear), 1, 5).astype(int)
    return Lifecycle(
        installed=[s + "Z" for s in installed.tolist()],
        age=age,
        service_life=[float(service_life)] * n,
        cost=np.round(price, 0).tolist(),
        grade=grade.tolist(),
    )


def lifecycle_attrs(
    gen: Gen,
    entity_type: str,
    draw: Lifecycle,
    i: int,
    *,
    model: str | None = None,
    rated: tuple[float, str] | None = None,
) -> dict[str, Attr]:
    """The life-cycle attributes of asset `i`, named as LIFECYCLE says for its type."""
    f = LIFECYCLE[entity_type]
    out: dict[str, Attr] = {
        f.installed: date_prop(draw.installed[i]),
        f.service_life: prop(draw.service_life[i], "ANN"),
        f.cost: money(draw.cost[i], gen.city.currency),
        f.condition: prop(draw.grade[i]),
    }
    if f.model is not None and model is not None:
        out[f.model] = rel(model) if f.model.startswith("ref") else prop(model)
    if f.rated_power is not None and rated is not None:
        out[f.rated_power] = prop(rated[0], rated[1])
    return out
