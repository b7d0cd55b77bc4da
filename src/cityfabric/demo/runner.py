"""`cityfabric demo`: create the cities, backfill their history, then stream them live.

Everything goes through the public NGSI-LD HTTP API (`client.DemoClient`). Each city is its
own tenant. The timeline of a run:

- `start` = midnight UTC of (today - backfill days): the entities are generated `as_of`
  start, and the faults are planned over [start, start + backfill + HORIZON_DAYS) days.
- backfill: the simulator runs from `start` to now in one-minute steps, a day at a time in
  a worker thread; each entity's day goes as one temporal entity (`POST /temporal/entities`,
  several in flight). Each entity's last reading is held back and upserted at the end, so
  the current state is the newest reading and no instance is written twice.
- live: every `tick` real seconds the simulator advances `speed * tick` simulated seconds
  and the due updates go as batch upserts (`options=update`).

The fault labels are a function of (city, scale, seed, start, days): `labels_document`
gives the same labels `cityfabric demo labels` exports.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any, Final

import orjson
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from cityfabric.demo.assets import generate
from cityfabric.demo.cities import CITIES, City, get_city
from cityfabric.demo.client import DemoClient
from cityfabric.demo.faults import Fault, labels_csv, plan_faults
from cityfabric.demo.ngsi import CONTEXT, iso
from cityfabric.demo.telemetry import BY_KIND

HORIZON_DAYS: Final = 30  # faults are planned this far past the end of the backfill
IN_FLIGHT: Final = 4  # temporal requests in flight
FLUSH: Final = 1500  # instances of an entity buffered before they are sent


@dataclass(frozen=True)
class DemoOptions:
    url: str = "http://127.0.0.1:8000"
    cities: tuple[str, ...] = tuple(c.key for c in CITIES)
    scale: float = 1.0
    seed: int = 0
    speed: float = 1.0
    backfill: float = 0.0
    once: bool = False
    tick: float = 1.0  # real seconds between live steps
    wait: float = 0.0  # seconds to wait for the server to become healthy


def resolve_cities(name: str) -> tuple[str, ...]:
    """`all` or one city key -> the city keys (ValueError names the known ones)."""
    if name == "all":
        return tuple(c.key for c in CITIES)
    return (get_city(name).key,)


def start_of(now: datetime, backfill: float) -> datetime:
    """The demo's start: midnight UTC of the day `backfill` days before `now`."""
    day = (now - timedelta(days=backfill)).astimezone(UTC).date()
    return datetime.combine(day, dtime(0), tzinfo=UTC)


def fault_days(start: datetime, now: datetime) -> int:
    """Whole days from `start` to the end of today, plus the horizon."""
    return (now.astimezone(UTC).date() - start.date()).days + 1 + HORIZON_DAYS


def plan(city: str, scale: float, seed: int, start: datetime, days: float) -> list[Fault]:
    """The faults of a city (labels): a function of city, scale, seed, start and days."""
    return plan_faults(generate(city, scale, seed, as_of=start), seed, start, days)


def labels_document(
    cities: Sequence[str], scale: float, seed: int, start: date, days: float, fmt: str
) -> str:
    """The fault labels of `cities` as JSON (an object with the parameters) or CSV."""
    at = datetime.combine(start, dtime(0), tzinfo=UTC)
    planned = {c: plan(c, scale, seed, at, days) for c in cities}
    params = {"scale": scale, "seed": seed, "start": iso(at), "days": days}
    if fmt == "json":
        doc = {
            **params,
            "cities": list(cities),
            "faults": [{"city": c, **f.label()} for c, fs in planned.items() for f in fs],
        }
        return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n"
    lines = ["# cityfabric demo labels: " + " ".join(f"{k}={v}" for k, v in params.items())]
    for n, (c, fs) in enumerate(planned.items()):
        rows = labels_csv(fs).splitlines()
        lines += [] if n else ["city," + rows[0]]
        lines += [f"{c},{row}" for row in rows[1:]]
    return "\n".join(lines) + "\n"


class CityRun:
    """One city's entities and simulator, and its simulated clock."""

    def __init__(self, key: str, options: DemoOptions, start: datetime, now: datetime) -> None:
        from cityfabric.demo.simulator import Simulator  # pvlib: about two seconds

        self.city: City = get_city(key)
        self.entities = generate(key, options.scale, options.seed, as_of=start)
        days = fault_days(start, now)
        self.faults = plan_faults(self.entities, options.seed, start, days)
        self.sim = Simulator(self.city, self.entities, options.seed, self.faults)
        self.start = start
        self.t = start
        self.held: dict[str, Any] = {}  # entity id -> its newest update not yet sent
        self.buffer: dict[str, dict[str, list[bytes]]] = {}  # id -> attribute -> JSON chunks
        self.counts: dict[str, int] = {}  # id -> instances buffered

    @property
    def tenant(self) -> str:
        return self.city.tenant

    @property
    def step(self) -> timedelta:
        """The backfill step: the finest cadence among the city's assets (1 to 15 minutes)."""
        return timedelta(minutes=min(r.telemetry.cadence for r in self.sim.reporting.values()))

    def day_bodies(
        self, steps: Iterator[tuple[datetime, list[Any]]], n: int, last: bool
    ) -> list[bytes]:
        """Simulate `n` steps; buffer each entity's readings but its newest (held back for
        the final upsert) and return the temporal entities whose buffer is full (all, when
        `last`): the server's cost per request is large beside its cost per instance."""
        series: dict[str, list[Any]] = {}
        for t, updates in itertools.islice(steps, n):
            self.t = t
            for u in updates:
                series.setdefault(u.entity_id, []).append(u)
        for eid, updates in series.items():
            older = self.held.get(eid)
            self.held[eid] = updates[-1]
            updates = ([older] if older else []) + updates[:-1]
            if updates:
                self._buffer(eid, updates)
        full = list(self.buffer) if last else [e for e, n in self.counts.items() if n >= FLUSH]
        return [self._temporal(eid) for eid in full]

    def _buffer(self, eid: str, updates: list[Any]) -> None:
        tel = BY_KIND[self.sim.kind_of_id[eid]]
        stamps = [iso(u.observed_at) for u in updates]
        chunks = self.buffer.setdefault(eid, {})
        for m in tel.measures:
            extra = {"unitCode": m.unit} if m.unit else {}
            instances = [
                {"type": "Property", "value": u.values[m.attribute], "observedAt": at, **extra}
                for u, at in zip(updates, stamps, strict=True)
                if m.attribute in u.values
            ]
            if instances:
                chunks.setdefault(m.attribute, []).append(orjson.dumps(instances)[1:-1])
                self.counts[eid] = self.counts.get(eid, 0) + len(instances)

    def _temporal(self, eid: str) -> bytes:
        """The buffered readings of an entity as one temporal entity (JSON bytes)."""
        tel = BY_KIND[self.sim.kind_of_id[eid]]
        head = orjson.dumps({"id": eid, "type": tel.entity_type})[:-1]
        attrs = [
            orjson.dumps(name) + b":[" + b",".join(chunks) + b"]"
            for name, chunks in self.buffer.pop(eid).items()
        ]
        self.counts.pop(eid, None)
        tail = b'"@context":' + orjson.dumps([CONTEXT[tel.entity_type]]) + b"}"
        return head + b"," + b",".join([*attrs, tail])

    def flush_held(self) -> list[dict[str, Any]]:
        """The held-back newest readings as fragments for a batch update."""
        out = self.sim.payloads(self.held.values())
        self.held.clear()
        return out


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.1f}/{task.total:.1f} simulated days"),
        TextColumn("{task.fields[rate]:,.0f} instances/s"),
        TimeElapsedColumn(),
        console=console,
    )


async def _async_backfill(
    client: DemoClient, run: CityRun, now: datetime, progress: Progress
) -> int:
    """Backfill [run.start, now) as history; returns the instances written."""
    step = run.step
    per_day = int(timedelta(days=1) / step)
    steps = int((now - run.start) / step)
    days = steps / per_day
    task = progress.add_task(f"{run.tenant} backfill", total=days, rate=0.0)
    sim_steps = run.sim.run(run.start, run.start + step * steps, step)
    # bodies to send, days simulated (a float, once the day's bodies are queued), None: stop
    queue: asyncio.Queue[bytes | float | None] = asyncio.Queue(maxsize=20_000)
    sent = [0]
    began = time.perf_counter()

    async def produce() -> None:
        done = 0
        while done < steps:
            n = min(per_day, steps - done)
            done += n
            for body in await asyncio.to_thread(run.day_bodies, sim_steps, n, done == steps):
                await queue.put(body)
            await queue.put(n / per_day)
        for _ in range(IN_FLIGHT):
            await queue.put(None)

    async def consume() -> None:
        while (item := await queue.get()) is not None:
            if isinstance(item, float):
                progress.advance(task, item)
                continue
            await client.async_temporal(run.tenant, item)
            sent[0] += item.count(b'"observedAt"')
            progress.update(task, rate=sent[0] / max(time.perf_counter() - began, 1e-9))

    producer = asyncio.create_task(produce())
    consumers = [asyncio.create_task(consume()) for _ in range(IN_FLIGHT)]
    try:
        await asyncio.gather(producer, *consumers)
    finally:
        for task_ in (producer, *consumers):
            task_.cancel()
    progress.update(task, completed=days)
    await client.async_upsert(run.tenant, run.flush_held(), update=True)
    return sent[0]


async def _async_live(
    client: DemoClient, runs: Sequence[CityRun], options: DemoOptions, console: Console
) -> None:
    """Step every city by speed * tick simulated seconds each tick, until cancelled."""
    dt = timedelta(seconds=options.speed * options.tick)
    console.print(
        f"live: {options.speed:g}x simulated time, a step every {options.tick:g} s; Ctrl-C stops"
    )
    loop = asyncio.get_running_loop()
    due = loop.time()
    while True:
        due += options.tick
        await asyncio.sleep(max(0.0, due - loop.time()))
        for run in runs:
            run.t += dt
            updates = run.sim.step(run.t, dt)
            if updates:
                await client.async_upsert(run.tenant, run.sim.payloads(updates), update=True)


async def async_demo(options: DemoOptions, console: Console) -> None:
    """Create the cities, backfill them, then (unless `once`) stream them live."""
    async with DemoClient(options.url) as client:
        await client.async_wait_healthy(options.wait)
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        start = start_of(now, options.backfill)
        runs = []
        for key in options.cities:
            run = await asyncio.to_thread(CityRun, key, options, start, now)
            await client.async_upsert(run.tenant, run.entities)
            console.print(
                f"{run.tenant}: {len(run.entities):,} entities created, "
                f"{len(run.faults)} faults planned from {start.date()} over "
                f"{fault_days(start, now)} days"
            )
            runs.append(run)
        if options.backfill > 0:
            began = time.perf_counter()
            with _progress(console) as progress:
                total = 0
                for run in runs:
                    total += await _async_backfill(client, run, now, progress)
            took = time.perf_counter() - began
            console.print(f"backfill: {total:,} instances in {took:.1f} s")
        else:
            for run in runs:
                run.t = now
        if not options.once:
            await _async_live(client, runs, options, console)
