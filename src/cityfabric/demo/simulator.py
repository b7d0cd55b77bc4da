"""The demo city's telemetry, step by step: physics, faults, and the updates to send.

    sim = Simulator("tianjin-eco", generate("tianjin-eco"), seed=7, faults=plan_faults(...))
    for t, updates in sim.run(start, end, timedelta(minutes=1)):
        post([sim.payload(u) for u in updates])

`step(t, dt)` advances the state by `dt` to `t` and returns one Update per asset that
reports in (t - dt, t] (every asset kind has a cadence and each asset a fixed phase in
it, so a one-minute step sends about 1/cadence of them). A step longer than a cadence
sends one update per asset, stamped t. Steps move forward in time: the state (batteries,
registers, weather) carries from one to the next. Each step draws its random numbers from
(seed, t) alone, so a simulator with faults and one without (a "clean twin") stepped at
the same times see the same weather and demand.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol
from zoneinfo import ZoneInfo

import numpy as np

from cityfabric.demo.build import Bools, Ints, gc_paused, stream
from cityfabric.demo.cities import City, get_city
from cityfabric.demo.city_models import Air, Mobility, Port
from cityfabric.demo.energy_models import Benches, Buildings, Lighting, Mods, Values
from cityfabric.demo.faults import Fault
from cityfabric.demo.fleet import Fleet
from cityfabric.demo.injection import Injector
from cityfabric.demo.ngsi import CONTEXT, iso
from cityfabric.demo.physics import Env
from cityfabric.demo.telemetry import BY_KIND, DATE_OBSERVED, Measure, Telemetry
from cityfabric.demo.weather import SunModel, WeatherProcess

_UNITS = {t.kind: tuple((m.attribute, m.unit) for m in t.measures) for t in BY_KIND.values()}


class Update(NamedTuple):
    entity_id: str
    values: dict[str, Any]  # attribute -> value, names and units as in TELEMETRY
    observed_at: datetime


class Readings(NamedTuple):
    """One step's readings of one asset kind, as columns."""

    kind: str
    assets: Ints  # positions among the kind's ids of the assets that report
    columns: tuple[np.ndarray[Any, Any], ...]  # one per Measure, as reported (rounded)


def _reported(col: np.ndarray[Any, Any], m: Measure) -> np.ndarray[Any, Any]:
    """A measure's values as reported: text and booleans as they are, counts as integers,
    numbers rounded to the measure's digits."""
    if m.digits is None:
        return col
    if m.digits == 0:
        counts: np.ndarray[Any, Any] = np.rint(col).astype(np.int64)
        return counts
    rounded: np.ndarray[Any, Any] = np.round(col.astype(float), m.digits)
    return rounded


class Model(Protocol):
    kinds: tuple[str, ...]

    def advance(self, env: Env, rng: np.random.Generator, mods: Mods) -> dict[str, Values]: ...


@dataclass
class _Reporting:
    telemetry: Telemetry
    ids: list[str]
    phase: Ints  # minutes into the cadence at which each asset reports

    def due(self, t: datetime, dt: timedelta) -> Bools:
        now = int(t.timestamp() // 60)
        before = int((t - dt).timestamp() // 60)
        c = self.telemetry.cadence
        return (now - self.phase) // c > (before - self.phase) // c


def _school_holiday(month: int, day: int) -> bool:
    return (
        (month == 7 and day >= 10)
        or month == 8
        or (month == 1 and day >= 20)
        or (month == 2 and day <= 20)
    )


class Simulator:
    """Telemetry of one city's assets from physics, with the planned faults applied."""

    def __init__(
        self,
        city: City | str,
        entities: Iterable[Mapping[str, Any]],
        seed: int = 0,
        faults: Iterable[Fault] = (),
    ) -> None:
        self.city = get_city(city) if isinstance(city, str) else city
        self.seed = seed
        self._tz = ZoneInfo(self.city.timezone)
        self._salt = zlib.crc32(self.city.key.encode())
        fleet = Fleet(entities)
        self.sun = SunModel(self.city)
        self.weather = WeatherProcess(self.city)
        self.models: list[Model] = self._models(fleet)
        self.reporting: dict[str, _Reporting] = {}
        self.kind_of_id: dict[str, str] = {}
        where: dict[str, tuple[str, int]] = {}
        for model in self.models:
            for kind in model.kinds:
                ids = fleet.ids(kind)
                tel = BY_KIND[kind]
                phase = stream(seed, self.city.key, "phase", kind).integers(
                    0, tel.cadence, len(ids)
                )
                self.reporting[kind] = _Reporting(tel, ids, phase)
                for i, eid in enumerate(ids):
                    self.kind_of_id[eid] = kind
                    where[eid] = (kind, i)
        self._where = where
        sizes = {k: len(r.ids) for k, r in self.reporting.items()}
        self.injector = Injector(faults, where, sizes)
        self.env: Env | None = None  # the last step's sun, weather and clock

    def _models(self, fleet: Fleet) -> list[Model]:
        def init(name: str) -> np.random.Generator:
            return stream(self.seed, self.city.key, "init", name)

        present = set(fleet.by_kind)
        models: list[Model] = []
        if present & set(Lighting.kinds):
            models.append(Lighting(fleet))
        if present & set(Benches.kinds):
            models.append(Benches(fleet))
        if present & set(Buildings.kinds):
            models.append(Buildings(fleet, init("buildings")))
        if present & set(Mobility.kinds):
            models.append(Mobility(fleet, init("mobility")))
        if present & set(Air.kinds):
            models.append(Air(fleet, self.city, init("air")))
        if present & set(Port.kinds):
            models.append(Port(fleet, init("port")))
        return models

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self.reporting)

    def ids(self, kind: str) -> list[str]:
        """The ids of the assets of a kind, in the order of the model's arrays."""
        return self.reporting[kind].ids

    def index_of(self, entity_id: str) -> int:
        """The position of an asset among its kind's ids."""
        return self._where[entity_id][1]

    def step(self, t: datetime, dt: timedelta) -> list[Update]:
        """Advance to `t` (by `dt`) and return the updates due in (t - dt, t]."""
        out: list[Update] = []
        for r in self.readings(t, dt):
            out.extend(self._updates(r, t))
        return out

    def readings(self, t: datetime, dt: timedelta) -> list[Readings]:
        """Advance to `t` (by `dt`) and return, per kind, the readings due in (t - dt, t]
        as columns (what `step` turns into updates; a backfill encodes them directly)."""
        if t.tzinfo is None:
            raise ValueError("t must be timezone-aware")
        if dt <= timedelta(0):
            raise ValueError("dt must be positive")
        secs = int(t.timestamp())
        env = self._env(
            t, dt, np.random.default_rng([self.seed & 0xFFFF_FFFF, self._salt, secs, 0])
        )
        self.env = env
        mods = self.injector.begin(t)
        out: list[Readings] = []
        with np.errstate(divide="ignore", invalid="ignore"):
            for n, model in enumerate(self.models, start=1):
                rng = np.random.default_rng([self.seed & 0xFFFF_FFFF, self._salt, secs, n])
                for kind, values in model.advance(env, rng, mods).items():
                    if kind in self.reporting:
                        found = self._readings(kind, values, t, dt)
                        if found is not None:
                            out.append(found)
        return out

    def _env(self, t: datetime, dt: timedelta, rng: np.random.Generator) -> Env:
        dt_h = dt.total_seconds() / 3600.0
        sun = self.sun(t)
        wx = self.weather.step(t, dt_h, sun, rng)
        local = t.astimezone(self._tz)
        hour = local.hour + local.minute / 60.0 + local.second / 3600.0
        return Env(
            t=t,
            dt_h=dt_h,
            sun=sun,
            wx=wx,
            hour=hour,
            weekend=local.weekday() >= 5,
            doy=local.timetuple().tm_yday,
            school_holiday=_school_holiday(local.month, local.day),
        )

    def _readings(self, kind: str, values: Values, t: datetime, dt: timedelta) -> Readings | None:
        rep = self.reporting[kind]
        due = rep.due(t, dt)
        silent = self.injector.readings(t, kind, values, due)
        if silent is not None:
            due &= ~silent
        idx = np.flatnonzero(due)
        if len(idx) == 0:
            return None
        columns = tuple(_reported(values[m.attribute][idx], m) for m in rep.telemetry.measures)
        return Readings(kind, idx, columns)

    def _updates(self, r: Readings, t: datetime) -> list[Update]:
        names = self.reporting[r.kind].telemetry.attributes
        ids = self.reporting[r.kind].ids
        chosen = [ids[i] for i in r.assets.tolist()]
        cols = [c.tolist() for c in r.columns]
        with gc_paused():
            if len(names) == 1:
                name = names[0]
                rows = [{name: v} for v in cols[0]]
            else:
                rows = [dict(zip(names, row, strict=True)) for row in zip(*cols, strict=True)]
            return list(map(Update, chosen, rows, [t] * len(chosen)))

    def run(
        self, start: datetime, end: datetime, dt: timedelta
    ) -> Iterator[tuple[datetime, list[Update]]]:
        """Steps at start, start + dt, ... before end (a backfill); the sun is computed once."""
        for t in self._times(start, end, dt):
            yield t, self.step(t, dt)

    def run_readings(
        self, start: datetime, end: datetime, dt: timedelta
    ) -> Iterator[tuple[datetime, list[Readings]]]:
        """`run`, with each step's readings as columns (`readings`) rather than updates."""
        for t in self._times(start, end, dt):
            yield t, self.readings(t, dt)

    def _times(self, start: datetime, end: datetime, dt: timedelta) -> list[datetime]:
        times = []
        t = start
        while t < end:
            times.append(t)
            t += dt
        self.sun.precompute(times)
        return times

    def payload(self, update: Update) -> dict[str, Any]:
        """The update as a normalized NGSI-LD entity fragment (for batch upsert/update)."""
        return self.payloads([update])[0]

    def payloads(self, updates: Iterable[Update]) -> list[dict[str, Any]]:
        """Many updates as NGSI-LD entity fragments: each attribute a Property with its
        observedAt and unitCode, observations with their dateObserved, and the @context."""
        out: list[dict[str, Any]] = []
        stamps: dict[datetime, str] = {}
        with gc_paused():
            for u in updates:
                at = stamps.get(u.observed_at)
                if at is None:
                    at = stamps[u.observed_at] = iso(u.observed_at)
                tel = BY_KIND[self.kind_of_id[u.entity_id]]
                p: dict[str, Any] = {"id": u.entity_id, "type": tel.entity_type}
                for name, unit in _UNITS[tel.kind]:
                    if name in u.values:
                        attr = {"type": "Property", "value": u.values[name], "observedAt": at}
                        if unit is not None:
                            attr["unitCode"] = unit
                        p[name] = attr
                if tel.entity_type in DATE_OBSERVED:
                    p["dateObserved"] = {
                        "type": "Property",
                        "value": {"@type": "DateTime", "@value": at},
                    }
                p["@context"] = [CONTEXT[tel.entity_type]]
                out.append(p)
        return out
