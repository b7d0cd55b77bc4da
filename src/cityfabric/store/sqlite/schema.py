"""The SQLite schema as ordered migration steps, recorded in a `migrations` table.

tenants(tid, name)                  one row per tenant ("" is the default)
entities(rid, tid, id, doc)         one JSON doc per entity; rid = creation order
entity_types(tid, type, rid)        type lookups are an index seek
geo_rtree(gid, lon/lat box)         R*Tree of every GeoProperty instance's bbox
geo_index(gid, rid, attr)           which entity and attribute a box belongs to

hist_entities(heid, tid, id, types) every entity that has history (it may be deleted)
hist_types(tid, type, heid)         every type an entity with history had
hist_series(sid, heid, attr, dataset, meta)
                                    one attribute (and datasetId) of one entity;
                                    meta: the instance members common to its instances
hist(sid, ts, iid, num, val, dmod, extra)
                                    one attribute instance: ts = observedAt (else
                                    modifiedAt) in UTC ms; num = the value when numeric
                                    (booleans 1/0), val = the JSON value otherwise (and
                                    for booleans); dmod = modifiedAt - observedAt, NULL
                                    when the instance has no observedAt; extra = members
                                    that differ from the series' meta
hist_hourly / hist_daily(sid, bucket, cnt, n, total, squares, low, high)
                                    roll-ups of instances with observedAt, kept when
                                    raw instances expire
hist_retention(tid, type, raw_ms)   raw history retention per tenant and entity type
counters(name, value)               the next instance id ('iid'); 'subscriptions_version'
                                    grows with every subscription change

subscriptions(tid, id, doc, types, attrs, created_rid)
                                    doc: the subscription as `notify.codec` stores it;
                                    types / attrs: JSON arrays of the matcher's index keys
                                    (NULL = any); created_rid orders lists
subscription_status(tid, id, times_sent, times_failed, last_notification, last_success,
                    last_failure, failure_reason)
                                    delivery counters, kept apart so delivery never
                                    rewrites the doc
outbox(oid, tid, sub_id, payload, attempts, next_at, created_at)
                                    notifications queued in the transaction of the change
                                    that caused them (see `outbox.py`); next_at: UTC ms
hist_changes(fid, at, sid, lo, hi, ilo, ihi)
                                    the history change feed (see `feed.py`)
kv(tid, namespace, key, value, updated)
                                    workers' state as key/value pairs (see `kv.py`)
"""

from __future__ import annotations

import sqlite3
from typing import Final

from cityfabric.store.sqlite import feed, kv

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
    (
        "0002_history",
        """
        CREATE TABLE hist_entities (
            heid INTEGER PRIMARY KEY,
            tid INTEGER NOT NULL,
            id TEXT NOT NULL,
            types TEXT NOT NULL,
            UNIQUE (tid, id)
        );
        CREATE TABLE hist_types (
            tid INTEGER NOT NULL,
            type TEXT NOT NULL,
            heid INTEGER NOT NULL,
            PRIMARY KEY (tid, type, heid)
        ) WITHOUT ROWID;
        CREATE TABLE hist_series (
            sid INTEGER PRIMARY KEY,
            heid INTEGER NOT NULL,
            attr TEXT NOT NULL,
            dataset TEXT NOT NULL,
            meta TEXT NOT NULL,
            UNIQUE (heid, attr, dataset)
        );
        -- num has no declared type: integers stay integers, floats stay floats
        CREATE TABLE hist (
            sid INTEGER NOT NULL,
            ts INTEGER NOT NULL,
            iid INTEGER NOT NULL,
            num,
            val TEXT,
            dmod INTEGER,
            extra TEXT,
            PRIMARY KEY (sid, ts, iid)
        ) WITHOUT ROWID;
        CREATE TABLE hist_hourly (
            sid INTEGER NOT NULL, bucket INTEGER NOT NULL, cnt INTEGER NOT NULL,
            n INTEGER NOT NULL, total REAL NOT NULL, squares REAL NOT NULL, low, high,
            PRIMARY KEY (sid, bucket)
        ) WITHOUT ROWID;
        CREATE TABLE hist_daily (
            sid INTEGER NOT NULL, bucket INTEGER NOT NULL, cnt INTEGER NOT NULL,
            n INTEGER NOT NULL, total REAL NOT NULL, squares REAL NOT NULL, low, high,
            PRIMARY KEY (sid, bucket)
        ) WITHOUT ROWID;
        CREATE TABLE hist_retention (
            tid INTEGER NOT NULL,
            type TEXT NOT NULL,
            raw_ms INTEGER NOT NULL,
            PRIMARY KEY (tid, type)
        ) WITHOUT ROWID;
        CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
        INSERT INTO counters (name, value) VALUES ('iid', 1);
        """,
    ),
    (
        "0003_subscriptions",
        """
        CREATE TABLE subscriptions (
            tid INTEGER NOT NULL,
            id TEXT NOT NULL,
            doc BLOB NOT NULL,
            types TEXT,
            attrs TEXT,
            created_rid INTEGER NOT NULL,
            PRIMARY KEY (tid, id)
        );
        CREATE UNIQUE INDEX subscriptions_order ON subscriptions (tid, created_rid);
        CREATE TABLE subscription_status (
            tid INTEGER NOT NULL,
            id TEXT NOT NULL,
            times_sent INTEGER NOT NULL DEFAULT 0,
            times_failed INTEGER NOT NULL DEFAULT 0,
            last_notification TEXT,
            last_success TEXT,
            last_failure TEXT,
            failure_reason TEXT,
            PRIMARY KEY (tid, id)
        );
        INSERT INTO counters (name, value) VALUES ('subscriptions_version', 0);
        """,
    ),
    (
        "0004_outbox",
        """
        CREATE TABLE outbox (
            oid INTEGER PRIMARY KEY,
            tid INTEGER NOT NULL,
            sub_id TEXT NOT NULL,
            payload BLOB NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_at INTEGER NOT NULL,
            created_at INTEGER NOT NULL
        );
        CREATE INDEX outbox_due ON outbox (next_at, oid);
        """,
    ),
    ("0005_history_changes", feed.SCHEMA),
    ("0006_kv", kv.SCHEMA),
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
