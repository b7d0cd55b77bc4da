"""The key/value side table on PostgreSQL (see `store/sqlite/kv.py`): keys sort byte-wise."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Final

from cityfabric.store.base import KvItem
from cityfabric.store.postgres.write import Conn

_PUT: Final = """
INSERT INTO kv (tid, namespace, key, value, updated) VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (tid, namespace, key) DO UPDATE SET value = excluded.value, updated = excluded.updated
"""
_SCAN: Final = """
SELECT key, value FROM kv WHERE tid = %s AND namespace = %s AND key > %s AND key >= %s
AND left(key, %s) = %s ORDER BY key LIMIT %s
"""


def get_many(conn: Conn, tid: int, namespace: str, keys: Sequence[str]) -> dict[str, bytes]:
    rows = conn.execute(
        "SELECT key, value FROM kv WHERE tid = %s AND namespace = %s AND key = ANY(%s::text[])",
        (tid, namespace, sorted(set(keys))),
    )
    return {str(k): bytes(v) for k, v in rows}  # type: ignore[call-overload]


def put_many(conn: Conn, tid: int, namespace: str, items: Sequence[KvItem]) -> None:
    now = int(time.time() * 1000)
    with conn.cursor() as cur:
        puts = [(tid, namespace, k, v, now) for k, v in items if v is not None]
        if puts:
            cur.executemany(_PUT, puts)
        gone = [k for k, v in items if v is None]
        if gone:
            cur.execute(
                "DELETE FROM kv WHERE tid = %s AND namespace = %s AND key = ANY(%s::text[])",
                (tid, namespace, gone),
            )


def scan(
    conn: Conn, tid: int, namespace: str, prefix: str, after: str, limit: int
) -> list[tuple[str, bytes]]:
    params = (tid, namespace, after, prefix, len(prefix), prefix, max(limit, 0))
    return [(str(k), bytes(v)) for k, v in conn.execute(_SCAN, params)]  # type: ignore[call-overload]
