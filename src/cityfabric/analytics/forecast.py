"""Forecasting service: history in, `Forecast` entities out (issue #7, part 3).

`run` reads the mean of each period of one attribute of one entity (or of every
entity of a type), fits them in one statsforecast call in a worker thread, and
upserts one `Forecast` entity per series through the entity service. `refresh_all`
runs every stored forecast again (scheduled re-forecasting).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from cityfabric.analytics.anomaly_writes import site_of
from cityfabric.analytics.forecast_entity import TYPE, forecast_entity, stored_target
from cityfabric.analytics.forecast_history import Loaded, load_series
from cityfabric.analytics.forecast_models import (
    Forecast,
    Prepared,
    Series,
    TooLittleHistory,
    fit_prepared,
    prepare,
)
from cityfabric.analytics.forecast_spec import ForecastRequest, ForecastSpec
from cityfabric.ngsild.context import core_context
from cityfabric.ngsild.errors import BadRequestData, NgsiLdError, ResourceNotFound
from cityfabric.ngsild.history import HistoryService
from cityfabric.ngsild.model import EntityDoc
from cityfabric.ngsild.querybuild import QueryParams, build_query
from cityfabric.ngsild.service import EntityService
from cityfabric.ngsild.temporal import format_time
from cityfabric.store.base import EntityQuery, HistoryQuery

log = logging.getLogger(__name__)
PAGE = 1000


class Context(Protocol):
    def expand(self, term: str) -> str: ...

    def __hash__(self) -> int: ...


@dataclass
class ForecastRun:
    """The stored forecasts (docs) and the entities left out, with the reason."""

    docs: list[EntityDoc] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def _fit(series: Loaded, spec: ForecastSpec, n_jobs: int) -> tuple[list[Forecast], dict[str, str]]:
    """Fit what can be fitted (in a worker thread); the rest is skipped with the reason."""
    ready: list[Prepared] = []
    skipped: dict[str, str] = {}
    for s in series.series:
        try:
            ready.append(prepare(s, spec.step_ms, spec.model))
        except TooLittleHistory as err:
            skipped[s.key] = _too_little(err, spec)
    levels = spec.levels
    fitted = fit_prepared(
        ready, step_ms=spec.step_ms, horizon=spec.horizon, levels=levels, n_jobs=n_jobs
    )
    return fitted, skipped


def _too_little(err: TooLittleHistory, spec: ForecastSpec) -> str:
    return (
        f"too little history of {spec.frequency} periods in the last {spec.history}: {err}; "
        "wait for more data, or ask for a longer frequency or history"
    )


class ForecastService:
    """Forecasts over the history and entity services; `clock` (seconds) is injectable."""

    def __init__(
        self,
        entities: EntityService,
        history: HistoryService,
        *,
        n_jobs: int = 1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.entities = entities
        self.history = history
        self.n_jobs = n_jobs
        self.clock = clock
        self._one_at_a_time = asyncio.Lock()  # fits share the machine's cores

    async def run(self, tenant: str, request: ForecastRequest, ctx: Context) -> ForecastRun:
        """Forecast one entity's attribute, or every entity's of a type, and store them."""
        spec = request.spec
        attr = ctx.expand(spec.attr)
        if request.entity_id is not None:
            base = HistoryQuery(ids=(request.entity_id,))
        else:
            types = build_query(QueryParams(type=request.entity_type), ctx).types
            base = HistoryQuery(types=types)
        loaded = await load_series(self.history, tenant, base, attr, spec.step_ms, spec.history_ms)
        if not loaded.series:
            await self._nothing_to_fit(tenant, request, loaded)
        result = await self._fit_and_store(tenant, loaded, attr, spec)
        if not result.docs:
            raise BadRequestData(next(iter(result.skipped.values())))
        return result

    async def _nothing_to_fit(self, tenant: str, request: ForecastRequest, loaded: Loaded) -> None:
        name = request.spec.attr
        if loaded.non_numeric:
            raise BadRequestData(
                f"attribute {name!r} is not numeric; only numbers (and booleans) can be forecast"
            )
        if request.entity_id is None:
            raise ResourceNotFound(
                f"no entity of type {request.entity_type!r} has a history of {name!r}"
            )
        await self._check_entity(tenant, request.entity_id)
        raise ResourceNotFound(f"entity {request.entity_id!r} has no history of attribute {name!r}")

    async def _check_entity(self, tenant: str, entity_id: str) -> None:
        """ResourceNotFound naming the entity when it has neither state nor history."""
        try:
            await self.entities.get(tenant, entity_id)
            return
        except ResourceNotFound:
            pass
        query = HistoryQuery(ids=(entity_id,), with_series=False, limit=1)
        if not (await self.history.query(tenant, query)).entities:
            raise ResourceNotFound(f"entity {entity_id!r} not found")

    async def _fit_and_store(
        self, tenant: str, loaded: Loaded, attr: str, spec: ForecastSpec
    ) -> ForecastRun:
        if spec.model == "auto":
            loaded.series = await self._with_sites(tenant, loaded.series)
        async with self._one_at_a_time:
            fitted, skipped = await asyncio.to_thread(_fit, loaded, spec, self.n_jobs)
        run = ForecastRun(skipped={**loaded.skipped, **skipped})
        if not fitted:
            return run
        generated = format_time(int(self.clock() * 1000))
        items = [(forecast_entity(f, attr, spec, generated), core_context()) for f in fitted]
        result = await self.entities.batch(tenant, "upsert", items)
        if result.errors:
            raise result.errors[0][1]
        found = await self.entities.query(
            tenant, EntityQuery(ids=tuple(result.success), limit=len(result.success))
        )
        run.docs = found.docs
        return run

    async def _with_sites(self, tenant: str, series: list[Series]) -> list[Series]:
        """The series with their entity's Point location (solar output is forecast with the
        clear sky at the site)."""
        ids = [s.key for s in series]
        sites: dict[str, tuple[float, float]] = {}
        for start in range(0, len(ids), PAGE):
            chunk = tuple(ids[start : start + PAGE])
            page = await self.entities.query(tenant, EntityQuery(ids=chunk, limit=len(chunk)))
            for doc in page.docs:
                site = site_of(doc)
                if site.latitude is not None and site.longitude is not None:
                    sites[doc["id"]] = (site.latitude, site.longitude)
        return [replace(s, site=sites.get(s.key)) for s in series]

    async def stored(
        self, tenant: str, entity_id: str | None = None, attr: str | None = None
    ) -> list[EntityDoc]:
        """The tenant's stored forecasts, optionally of one entity and one attribute IRI."""
        types = build_query(QueryParams(type=TYPE), core_context()).types
        docs: list[EntityDoc] = []
        while True:
            query = EntityQuery(types=types, limit=PAGE, offset=len(docs))
            page = (await self.entities.query(tenant, query)).docs
            docs += page
            if len(page) < PAGE:
                break
        out = []
        for doc in docs:
            target = stored_target(doc)
            if target is None:
                continue
            if entity_id is not None and target[0] != entity_id:
                continue
            if attr is not None and target[1] != attr:
                continue
            out.append(doc)
        return out

    async def refresh(self, tenant: str) -> int:
        """Run every stored forecast of a tenant again; how many were stored anew."""
        groups: dict[tuple[str, ForecastSpec], list[str]] = defaultdict(list)
        for doc in await self.stored(tenant):
            target = stored_target(doc)
            if target is not None:
                groups[(target[1], target[2])].append(target[0])
        done = 0
        for (attr, spec), ids in groups.items():
            done += await self._refresh_group(tenant, attr, spec, ids)
        return done

    async def _refresh_group(
        self, tenant: str, attr: str, spec: ForecastSpec, ids: Sequence[str]
    ) -> int:
        try:
            base = HistoryQuery(ids=tuple(ids))
            loaded = await load_series(
                self.history, tenant, base, attr, spec.step_ms, spec.history_ms
            )
            run = await self._fit_and_store(tenant, loaded, attr, spec)
        except NgsiLdError as err:  # e.g. the entities' history has expired
            log.warning("re-forecast of %d %s series failed: %s", len(ids), attr, err.detail)
            return 0
        for entity_id, reason in run.skipped.items():
            log.info("re-forecast of %s %s skipped: %s", entity_id, attr, reason)
        return len(run.docs)

    async def refresh_all(self) -> int:
        """Re-forecast every tenant's stored forecasts."""
        done = 0
        for tenant in await self.entities.store.tenants():
            done += await self.refresh(tenant)
        return done


async def refresh_periodically(service: ForecastService, interval: float) -> None:
    """Re-run every stored forecast every `interval` seconds (first after one interval)."""
    while True:
        await asyncio.sleep(interval)
        started = time.monotonic()
        try:
            done = await service.refresh_all()
        except Exception:  # a failed pass is retried at the next interval
            log.exception("scheduled re-forecast failed")
            continue
        log.info("re-forecast %d series in %.1f s", done, time.monotonic() - started)
