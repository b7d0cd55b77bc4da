"""A small key/value side table for workers' state (the anomaly detector's, per series).

kv(tid, namespace, key, value, updated)
    value: opaque bytes; updated: UTC ms of the last write. Writes run as writer call
    jobs (one transaction per `put_many`), reads on the reader connections.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from typing import Final

import orjson

from cityfabric.store.base import KvItem

SCHEMA: Final = """
CREATE TABLE kv (
    tid INTEGER NOT NULL,
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    updated INTEGER NOT NULL,
    PRIMARY KEY (tid, namespace, key)
) WITHOUT ROWID;
"""

_GET: Final = """
SELECT key, value FROM kv WHERE tid = ? AND namespace = ?
AND key IN (SELECT value FROM json_each(?))
"""
_PUT: Final = """
INSERT INTO kv (tid, namespace, key, value, updated) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (tid, namespace, key) DO UPDATE SET value = excluded.value, updated = excluded.updated
"""
_SCAN: Final = """
SELECT key, value FROM kv WHERE tid = ? AND namespace = ? AND key > ? AND key >= ?
AND substr(key, 1, ?) = ? ORDER BY key LIMIT ?
"""
_CHUNK: Final = 5000  # keys per IN list


def get_many(
    conn: sqlite3.Connection, tid: int, namespace: str, keys: Sequence[str]
) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    unique = sorted(set(keys))
    for start in range(0, len(unique), _CHUNK):
        chunk = orjson.dumps(unique[start : start + _CHUNK]).decode()
        out.update((k, bytes(v)) for k, v in conn.execute(_GET, (tid, namespace, chunk)))
    return out


def put_many(conn: sqlite3.Connection, tid: int, namespace: str, items: Sequence[KvItem]) -> None:
    now = int(time.time() * 1000)
    conn.executemany(_PUT, [(tid, namespace, k, v, now) for k, v in items if v is not None])
    conn.executemany(
        "DELETE FROM kv WHERE tid = ? AND namespace = ? AND key = ?",
        [(tid, namespace, k) for k, v in items if v is None],
    )


def scan(
    conn: sqlite3.Connection, tid: int, namespace: str, prefix: str, after: str, limit: int
) -> list[tuple[str, bytes]]:
    params = (tid, namespace, after, prefix, len(prefix), prefix, max(limit, 0))
    return [(k, bytes(v)) for k, v in conn.execute(_SCAN, params)]
