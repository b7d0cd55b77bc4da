"""The embedded SQLite engine: WAL, one group-committing writer thread, pooled readers."""

from __future__ import annotations

from cityfabric.store.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
