"""The anomaly worker: scores new history of the watched attributes, in the background.

Every `interval` seconds, for each tenant and each watched (type, attribute): the history
change feed after the pair's cursor (`HistoryService.changes`: only the series written
since, only their new rows, `max_instances` at a time), so late observations are scored
too; the states of those series (and of the series that may have gone silent) from the
store's key/value table; the scoring in a thread (`anomaly_cycle.py`); then, in batches
through the services, the scores as `anomalyScore` instances (datasetId = the scored
attribute) and the Alert and Anomaly entities of episodes that started or ended; last, the
changed states and the cursor in one transaction (`anomaly_state.py`). A cycle with nothing
new costs one feed query per tenant and pair.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from cityfabric.analytics.anomaly_config import AnomalyConfig, Watch
from cityfabric.analytics.anomaly_cycle import SeriesInput, score_cycle
from cityfabric.analytics.anomaly_state import PairState, StateStore, namespace_of
from cityfabric.analytics.anomaly_writes import Names, resolve_watch, site_of, write_results
from cityfabric.analytics.physics_checks import Site
from cityfabric.ngsild.history import HistoryService
from cityfabric.ngsild.service import EntityService
from cityfabric.store.base import ChangedSeries, ChangePage, ChangeQuery, EntityQuery

log = logging.getLogger(__name__)


class AnomalyWorker:
    """Started and stopped with the app; `async_cycle()` runs one pass (tests call it)."""

    def __init__(
        self,
        entities: EntityService,
        history: HistoryService,
        contexts: Any,
        config: AnomalyConfig,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.entities, self.history, self.contexts = entities, history, contexts
        self.config = config
        self.clock = clock
        self.states = StateStore(entities.store)
        self._names: dict[Watch, Names] = {}
        self._pairs: dict[tuple[str, Watch], PairState] = {}
        self._sites: dict[tuple[str, str], Site] = {}
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._pool: ThreadPoolExecutor | None = None  # its own thread: stopped with the app

    async def async_start(self) -> None:
        if self.config.interval > 0 and self.config.watch:
            self._task = asyncio.create_task(self._run(), name="anomaly-worker")

    async def async_stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    async def _run(self) -> None:
        while True:
            try:
                await self.async_cycle()
            except Exception:  # a failed cycle is retried from the saved cursor
                log.exception("anomaly detection cycle failed")
                self._pairs.clear()
            await asyncio.sleep(self.config.interval)

    async def async_cycle(self) -> int:
        """One pass over every tenant and watched attribute; the instances scored."""
        async with self._lock:
            done = 0
            for tenant in await self.entities.store.tenants():
                for watch in self.config.watch:
                    done += await self._pair(tenant, watch)
            return done

    async def _pair(self, tenant: str, watch: Watch) -> int:
        names = self._names.get(watch)
        if names is None:
            names = self._names[watch] = await resolve_watch(self.contexts, watch)
        pair = self._pairs.get((tenant, watch))
        if pair is None:
            namespace = namespace_of(names.entity_type, names.attribute)
            pair = await self.states.load_pair(tenant, namespace, "silence" in watch.checks)
            self._pairs[(tenant, watch)] = pair
        settle = self.config.settle
        before = int((self.clock() - settle) * 1000) if settle > 0 else None
        done = 0
        while True:
            query = ChangeQuery(
                names.entity_type,
                (names.attribute,),
                after=pair.cursor,
                before_ms=before,
                max_instances=self.config.max_instances,
            )
            page = await self.history.changes(tenant, query)
            if page.cursor == pair.cursor:
                return done
            if not page.series and not page.more:  # only other series were written
                pair.cursor = page.cursor  # saved with the pair's next results
                return done
            done += await self._score(tenant, watch, names, pair, page)
            if not page.more:
                return done

    async def _score(
        self, tenant: str, watch: Watch, names: Names, pair: PairState, page: ChangePage
    ) -> int:
        """Score one page of the feed, write the results, then the states and cursor."""
        inputs = _inputs(page.series, names.attribute)
        newest = max((t for s in inputs for t, _ in s.readings), default=None)
        clock = pair.clock if newest is None else max(newest, pair.clock or newest)
        keys = {s.key for s in inputs}
        if pair.silence and clock is not None:
            due = await self.states.due(tenant, pair)
            keys.update(k for k, when in due.items() if when < clock)
        states = await self.states.series(tenant, pair, keys)
        sites = await self._sites_of(tenant, [s.entity_id for s in inputs])
        options = (self.config.scoring, self.config.alerts)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="anomaly")
        work = partial(score_cycle, inputs, states, sites, watch.checks, options, pair.clock)
        outputs, clock = await asyncio.get_running_loop().run_in_executor(self._pool, work)
        await write_results(self.entities, self.history, tenant, names, outputs, sites)
        changed = {s.key for s in inputs} | {_key(o.entity_id, o.dataset_id) for o in outputs}
        saved = {k: states[k] for k in changed if k in states}
        await self.states.save(tenant, pair, saved, (page.cursor, clock))
        return sum(len(s.readings) for s in inputs)

    async def _sites_of(self, tenant: str, ids: list[str]) -> dict[str, Site]:
        missing = sorted({i for i in ids if (tenant, i) not in self._sites})
        for start in range(0, len(missing), 1000):
            chunk = tuple(missing[start : start + 1000])
            page = await self.entities.query(tenant, EntityQuery(ids=chunk, limit=len(chunk)))
            found = {doc["id"]: site_of(doc) for doc in page.docs}
            for entity_id in chunk:
                self._sites[(tenant, entity_id)] = found.get(entity_id, Site())
        return {i: self._sites[(tenant, i)] for i in ids}


def _key(entity_id: str, dataset_id: str | None) -> str:
    return SeriesInput(entity_id, dataset_id, []).key


def _inputs(changed: list[ChangedSeries], attribute: str) -> list[SeriesInput]:
    """The series with their numeric observed readings (booleans and text are not scored)."""
    out: list[SeriesInput] = []
    for series in changed:
        if series.attr != attribute:
            continue
        readings: list[tuple[float, float]] = []
        for inst in series.instances:
            value = inst.value
            if inst.observed and isinstance(value, int | float) and not isinstance(value, bool):
                readings.append((inst.ts / 1000.0, float(value)))
        if readings:
            out.append(SeriesInput(series.entity_id, series.dataset_id, readings))
    return out
