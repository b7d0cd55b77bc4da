"""The SQLite schema as ordered migration steps, recorded in a `migrations` table.

tenants(tid, name)                  one row per tenant ("" is the default)
entities(rid, tid, id, doc)         one JSON doc per entity; rid = creation order
entity_types(tid, type, rid)        type lookups are an index seek
geo_rtree(gid, lon/lat box)         R*Tree of every GeoProperty instance's bbox
geo_index(gid, rid, attr)           which entity and attribute a box belongs to
"""

from __future__ import annotations

import sqlite3
from typing import Final

MIGRATIONS: Final[tuple[tuple[str, str], ...]] = (
    (
        "0001_initial",
        """
        CREATE TABLE tenants (tid INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
        CREATE TABLE entities (
            rid INTEGER PRIMARY KEY,
            tid INTEGER NOT NULL,
            id TEXT NOT NULL,
            doc TEXT NOT NULL,
            UNIQUE (tid, id)
        );
        -- rows of a tenant in rid order: ORDER BY rid LIMIT n stops early, no sort
        CREATE INDEX entities_tid ON entities (tid);
        CREATE TABLE entity_types (
            tid INTEGER NOT NULL,
            type TEXT NOT NULL,
            rid INTEGER NOT NULL,
            PRIMARY KEY (tid, type, rid)
        ) WITHOUT ROWID;
        CREATE VIRTUAL TABLE geo_rtree USING rtree (gid, min_lon, max_lon, min_lat, max_lat);
        CREATE TABLE geo_index (
            gid INTEGER PRIMARY KEY,
            rid INTEGER NOT NULL,
            attr TEXT NOT NULL
        );
        CREATE INDEX geo_index_rid ON geo_index (rid);
        """,
    ),
)


def configure(conn: sqlite3.Connection, *, synchronous: str) -> None:
    """Per-connection pragmas: WAL, the durability level, a busy timeout."""
    if synchronous.upper() not in {"NORMAL", "FULL", "EXTRA"}:
        raise ValueError(f"synchronous must be NORMAL, FULL or EXTRA, not {synchronous!r}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("PRAGMA cache_size = -65536")


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply the steps not applied yet, each in its own transaction; return their names."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS migrations"
        " (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT (datetime('now')))"
    )
    done = {row[0] for row in conn.execute("SELECT name FROM migrations")}
    applied: list[str] = []
    for name, script in MIGRATIONS:
        if name in done:
            continue
        # names and scripts are constants of this module, never user input
        conn.executescript(
            f"BEGIN IMMEDIATE;\n{script}\nINSERT INTO migrations (name) VALUES ('{name}');\nCOMMIT;"
        )
        applied.append(name)
    return applied
