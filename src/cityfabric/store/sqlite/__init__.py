"""The embedded SQLite engine: WAL, a group-committing writer, a checkpointer, pooled readers."""

from __future__ import annotations

from cityfabric.store.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
