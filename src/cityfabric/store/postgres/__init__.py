"""The PostgreSQL + PostGIS engine: JSONB docs, GIN and GiST indexes, versioned migrations."""

from __future__ import annotations

from cityfabric.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
