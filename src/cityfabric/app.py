"""create_app(settings): the FastAPI application with its store and services wired."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from cityfabric import __version__, heap
from cityfabric.analytics.anomaly_config import config_of
from cityfabric.analytics.anomaly_worker import AnomalyWorker
from cityfabric.analytics.forecast import ForecastService, refresh_periodically
from cityfabric.api import (
    batch,
    devices,
    discovery,
    entities,
    events,
    forecasts,
    health,
    jsonld_contexts,
    problems,
    retention,
    subscriptions,
    temporal,
    tenants,
    ui,
)
from cityfabric.api.direct import direct_routes
from cityfabric.config import Settings, from_env
from cityfabric.ingest.profiles import DeviceProfiles
from cityfabric.ingest.runtime import running_ingest
from cityfabric.ngsild.history import HistoryService, expire_periodically
from cityfabric.ngsild.service import EntityService
from cityfabric.notify.delivery import Delivery
from cityfabric.notify.periodic import Periodic
from cityfabric.notify.process import DeliveryProcess
from cityfabric.notify.service import SubscriptionService
from cityfabric.notify.stream import Streams
from cityfabric.parts import delivery_config, make_contexts, make_store

ROUTERS = (
    entities,
    batch,
    subscriptions,
    events,
    temporal,
    retention,
    discovery,
    jsonld_contexts,
    devices,
    health,
    forecasts,
    tenants,
    ui,
)


def create_app(settings: Settings | None = None, *, settle_heap: bool = False) -> FastAPI:
    """The whole platform on its store: SQLite under `settings.data_dir`, or PostgreSQL.

    `settle_heap`: a server process, which tunes its garbage collector once started
    (`heap.settle`); not for apps made and dropped by the dozen, as in tests.
    """
    settings = settings or Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = make_store(settings)
    history = HistoryService(store, default_retention_ms=settings.history_retention_ms)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await store.open()
        await app.state.delivery.async_start()
        await app.state.anomaly.async_start()
        await app.state.periodic.async_start()
        expiry = asyncio.create_task(expire_periodically(history, settings.retention_interval))
        reforecast = _reforecasting(app.state.forecasts, settings.forecast_interval)
        try:
            async with running_ingest(settings, app.state.device_profiles) as bridge:
                app.state.mqtt_bridge = bridge
                if settle_heap:
                    heap.settle()
                yield
        finally:
            for task in (expiry, reforecast):
                if task is None:
                    continue
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await app.state.periodic.async_stop()
            await app.state.anomaly.async_stop()
            await app.state.delivery.async_stop()
            await store.close()

    app = FastAPI(
        title="CityFabric",
        version=__version__,
        summary="An ETSI NGSI-LD context broker for a city's digital twin",
        lifespan=lifespan,
        # FastAPI's OpenTelemetry bridge checks for a provider on every request
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.store = store
    app.state.entities = EntityService(store)
    app.state.history = history
    app.state.forecasts = ForecastService(app.state.entities, history)
    app.state.subscriptions = SubscriptionService(store)
    app.state.contexts = make_contexts(settings)
    app.state.delivery = _delivery(app, settings)
    app.state.periodic = Periodic(
        store, app.state.delivery.wake, poll=settings.notification_periodic_poll
    )
    app.state.anomaly = AnomalyWorker(
        app.state.entities, history, app.state.contexts, config_of(settings)
    )
    app.state.device_profiles = DeviceProfiles(app.state.entities, app.state.contexts)
    problems.install(app)
    for module in ROUTERS:
        app.include_router(module.router)
    app.router.routes[:0] = direct_routes(r for m in ROUTERS for r in m.router.routes)
    return app


def _reforecasting(service: ForecastService, interval: float) -> asyncio.Task[None] | None:
    """Scheduled re-forecasting (CITYFABRIC_FORECAST_INTERVAL seconds; 0: off)."""
    if interval > 0:
        return asyncio.create_task(refresh_periodically(service, interval))
    return None


def _delivery(app: FastAPI, settings: Settings) -> Delivery | DeliveryProcess:
    """Notification delivery: in a process of its own, or on this one's event loop."""
    store = app.state.store
    if settings.notification_process:
        process = DeliveryProcess(store, settings)
        app.state.streams = process.streams
        return process
    app.state.streams = streams = Streams()
    return Delivery(store, app.state.contexts, delivery_config(settings), streams=streams)


def app_from_env() -> FastAPI:
    """The app for `uvicorn --factory` worker processes, configured by CITYFABRIC_* variables."""
    return create_app(from_env(), settle_heap=True)
