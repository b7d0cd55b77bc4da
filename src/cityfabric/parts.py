"""The platform's parts built from its settings, shared by the API process and the
notification delivery process (`notify/process.py`)."""

from __future__ import annotations

from cityfabric.config import Settings
from cityfabric.ngsild.contexts_store import ContextRegistry
from cityfabric.notify.delivery import DeliveryConfig
from cityfabric.store.postgres import PostgresStore
from cityfabric.store.sqlite import SqliteStore


def make_store(settings: Settings) -> SqliteStore | PostgresStore:
    """The store the settings name: PostgreSQL with `database_url`, else the SQLite file."""
    keep = settings.history_on_delete == "keep"
    feed_ms = round(settings.history_changes_retention * 1000)
    if settings.database_url:
        return PostgresStore(
            settings.database_url,
            connections=settings.readers,
            keep_history_on_delete=keep,
            change_feed_retention_ms=feed_ms,
        )
    return SqliteStore(
        settings.database_path,
        readers=settings.readers,
        synchronous=settings.synchronous,
        keep_history_on_delete=keep,
        change_feed_retention_ms=feed_ms,
    )


def make_contexts(settings: Settings) -> ContextRegistry:
    """The @context registry: the cache of known contexts and the hosted ones."""
    return ContextRegistry(
        settings.context_cache,
        settings.hosted_contexts_dir,
        fetch_timeout=settings.context_timeout,
    )


def delivery_config(settings: Settings) -> DeliveryConfig:
    return DeliveryConfig(
        max_attempts=settings.notification_max_attempts,
        retry_base=settings.notification_retry_base,
        retry_max=settings.notification_retry_max,
        timeout=settings.notification_timeout,
        ca_file=settings.notification_ca_file,
        base_url=f"http://{settings.host}:{settings.port}",
    )
