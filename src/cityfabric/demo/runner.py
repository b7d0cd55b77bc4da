"""`cityfabric demo`: create the cities, backfill their history, then stream them live.

Everything goes through the public NGSI-LD HTTP API (`client.DemoClient`). Each city is its
own tenant. The timeline of a run:

- `start` = midnight UTC of (today - backfill days): the entities are generated `as_of`
  start, and the faults are planned over [start, start + backfill + HORIZON_DAYS) days.
- backfill: the simulator runs from `start` to now in one-minute steps, a day at a time in
  a worker thread, its readings kept as columns (`backfill.History`); an entity's readings
  go as one temporal entity (`POST /temporal/entities`, several in flight) once about
  `backfill.FLUSH` instances have gathered, while the next day is simulated. Each entity's
  last reading is held back and upserted at the end, so the current state is the newest
  reading and no instance is written twice.
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
from typing import TYPE_CHECKING, Any, Final

import orjson
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from cityfabric.demo.assets import generate
from cityfabric.demo.cities import CITIES, City, get_city
from cityfabric.demo.client import DemoClient
from cityfabric.demo.faults import Fault, labels_csv, plan_faults
from cityfabric.demo.ngsi import iso

if TYPE_CHECKING:
    from cityfabric.demo.backfill import Body
    from cityfabric.demo.simulator import Readings, Update

HORIZON_DAYS: Final = 30  # faults are planned this far past the end of the backfill
IN_FLIGHT: Final = 4  # temporal requests in flight
QUEUED: Final = 64  # encoded bodies waiting for a connection (the simulator waits then)


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
        from cityfabric.demo.backfill import History
        from cityfabric.demo.simulator import Simulator  # pvlib: about two seconds

        self.city: City = get_city(key)
        self.entities = generate(key, options.scale, options.seed, as_of=start)
        days = fault_days(start, now)
        self.faults = plan_faults(self.entities, options.seed, start, days)
        self.sim = Simulator(self.city, self.entities, options.seed, self.faults)
        self.history = History(self.sim)
        self.start = start
        self.t = start
        self.held: list[Update] = []  # each entity's newest reading, kept out of history

    @property
    def tenant(self) -> str:
        return self.city.tenant

    @property
    def step(self) -> timedelta:
        """The backfill step: the finest cadence among the city's assets (1 to 15 minutes)."""
        return timedelta(minutes=min(r.telemetry.cadence for r in self.sim.reporting.values()))

    def day_bodies(
        self, steps: Iterator[tuple[datetime, list[Readings]]], n: int, last: bool
    ) -> list[Body]:
        """Simulate `n` steps into the history buffer and return the temporal entities due
        (all, when `last`; then each entity's newest reading is held for the final upsert)."""
        for t, readings in itertools.islice(steps, n):
            self.t = t
            self.history.add(t, readings)
        bodies, held = self.history.take(last)
        if last:
            self.held = held
        return bodies

    def flush_held(self) -> list[dict[str, Any]]:
        """The held-back newest readings as fragments for a batch update."""
        out = self.sim.payloads(self.held)
        self.held = []
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
    sim_steps = run.sim.run_readings(run.start, run.start + step * steps, step)
    # bodies to send, days simulated (a float, once the day's bodies are queued), None: stop
    queue: asyncio.Queue[Body | float | None] = asyncio.Queue(maxsize=QUEUED)
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
            await client.async_temporal(run.tenant, item.content)
            sent[0] += item.instances
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


async def _async_catch_up(client: DemoClient, runs: Sequence[CityRun]) -> None:
    """Step each city from its clock to the real now: set-up and backfill took minutes of
    real time, and the live stream should start at real time, not lag behind it."""
    now = datetime.now(UTC)
    for run in runs:
        step = run.step
        while run.t + step <= now:
            run.t += step
            updates = run.sim.step(run.t, step)
            if updates:
                await client.async_upsert(run.tenant, run.sim.payloads(updates), update=True)


async def _async_live(
    client: DemoClient, runs: Sequence[CityRun], options: DemoOptions, console: Console
) -> None:
    """Step every city by speed * tick simulated seconds each tick, until cancelled."""
    await _async_catch_up(client, runs)
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
