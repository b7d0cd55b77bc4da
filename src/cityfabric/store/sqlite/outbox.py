"""The notification outbox in SQLite: rows queued in the transaction of the change.

On the writer thread, after a group's entities are written, `queue` calls the change
hook with a `Probe` (reads on the writer connection, so it sees the uncommitted
changes) and inserts the rows it returns; they commit, or roll back, with the
changes. The delivery worker claims due rows with a lease (`claim`) and settles
them (`settle`) in writer call jobs.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Sequence

import orjson

from cityfabric.store.base import ChangeHook, EntityQuery, OutboxItem, Settlement
from cityfabric.store.sqlite import funcs, subscriptions
from cityfabric.store.sqlite.group import Group
from cityfabric.store.sqlite.sqlq import GEO_TOKEN, compile_query

log = logging.getLogger(__name__)


class Probe:
    """`ChangeProbe` over the writer connection of one group."""

    def __init__(self, group: Group) -> None:
        self._group = group

    def version(self) -> int:
        return subscriptions.version(self._group.conn)

    def subscriptions(self, tenant: str) -> list[tuple[str, bytes]]:
        tid = self._group.tid(tenant, create=False)
        if tid is None:
            return []
        rows = self._group.conn.execute(
            "SELECT id, doc FROM subscriptions WHERE tid = ? ORDER BY created_rid", (tid,)
        )
        return [(str(sid), bytes(doc)) for sid, doc in rows]

    def entity_matches(self, tenant: str, entity_id: str, query: EntityQuery) -> bool:
        tid = self._group.tid(tenant, create=False)
        if tid is None:
            return False
        compiled = compile_query(
            tid, EntityQuery(ids=(entity_id,), q=query.q, scope_q=query.scope_q, geo=query.geo)
        )
        sql = f"SELECT 1 FROM ({compiled.ids_sql()}) LIMIT 1"
        conn = self._group.conn
        if compiled.geo_predicate is None:
            return conn.execute(sql, compiled.params).fetchone() is not None
        with funcs.GEO_PREDICATES.registered(compiled.geo_predicate) as token:
            params = {**compiled.params, GEO_TOKEN: token}
            return conn.execute(sql, params).fetchone() is not None


def now_ms() -> int:
    return int(time.time() * 1000)


def queue(group: Group, hook: ChangeHook, due_at: int | None = None) -> list[OutboxItem]:
    """Run the hook on the group's changes and insert its rows, due at once or at `due_at`
    (claimed until then); the rows as queued.

    A failing hook is logged and queues nothing: losing an acknowledged write to a
    notification bug would be worse than missing its notifications.
    """
    if not group.changes:
        return []
    try:
        rows = hook(Probe(group), group.changes)
    except Exception:
        log.exception(
            "the change hook failed: no notification queued for %d changes", len(group.changes)
        )
        return []
    if not rows:
        return []
    at = now_ms()
    conn = group.conn
    conn.executemany(
        "INSERT INTO outbox (tid, sub_id, payload, attempts, next_at, created_at)"
        " VALUES (?, ?, ?, 0, ?, ?)",
        [(group.tids[tenant], s, payload, due_at or at, at) for tenant, s, payload in rows],
    )
    # the only writer appends rowids one after another (max(oid) + 1 each)
    (last,) = conn.execute("SELECT last_insert_rowid()").fetchone()
    first = int(last) - len(rows) + 1
    return [
        OutboxItem(first + i, tenant, sub_id, payload, 0, at)
        for i, (tenant, sub_id, payload) in enumerate(rows)
    ]


def queue_once(
    group: Group,
    tenant: str,
    sub_id: str,
    payloads: Sequence[bytes],
    last_notification: str | None,
    now: int,
) -> bool:
    """Insert rows for one subscription if it has none queued and its status held."""
    tid = group.tid(tenant, create=False)
    if tid is None or not payloads:
        return False
    conn = group.conn
    status = conn.execute(
        "SELECT last_notification FROM subscription_status WHERE tid = ? AND id = ?",
        (tid, sub_id),
    ).fetchone()
    if status is None or status[0] != last_notification:
        return False
    if conn.execute(
        "SELECT 1 FROM outbox WHERE tid = ? AND sub_id = ? LIMIT 1", (tid, sub_id)
    ).fetchone():
        return False
    conn.executemany(
        "INSERT INTO outbox (tid, sub_id, payload, attempts, next_at, created_at)"
        " VALUES (?, ?, ?, 0, ?, ?)",
        [(tid, sub_id, payload, now, now) for payload in payloads],
    )
    return True


def claim(conn: sqlite3.Connection, now: int, limit: int, lease_ms: int) -> list[OutboxItem]:
    """Due rows, oldest first, hidden from other claims until `now + lease_ms`."""
    rows = conn.execute(
        "SELECT o.oid, t.name, o.sub_id, o.payload, o.attempts, o.created_at"
        " FROM outbox AS o JOIN tenants AS t ON t.tid = o.tid"
        " WHERE o.next_at <= ? ORDER BY o.next_at, o.oid LIMIT ?",
        (now, max(limit, 0)),
    ).fetchall()
    if rows:
        conn.execute(
            "UPDATE outbox SET next_at = ? WHERE oid IN (SELECT value FROM json_each(?))",
            (now + lease_ms, orjson.dumps([r[0] for r in rows]).decode()),
        )
    return [
        OutboxItem(int(oid), str(name), str(sid), bytes(payload), int(attempts), int(created))
        for oid, name, sid, payload, attempts, created in rows
    ]


def settle(group: Group, done: Settlement) -> None:
    """Apply one settlement: deletes, reschedules, new rows, status counters."""
    conn = group.conn
    gone = orjson.dumps([*done.delivered, *done.dropped]).decode()
    conn.execute("DELETE FROM outbox WHERE oid IN (SELECT value FROM json_each(?))", (gone,))
    conn.executemany(
        "UPDATE outbox SET attempts = attempts + 1, next_at = ? WHERE oid = ?",
        [(at, oid) for oid, at in done.retry],
    )
    conn.executemany(
        "UPDATE outbox SET next_at = ? WHERE oid = ?", [(at, oid) for oid, at in done.defer]
    )
    conn.executemany(
        "INSERT INTO outbox (tid, sub_id, payload, attempts, next_at, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            (tid, sub_id, payload, attempts, at, created)
            for tenant, sub_id, payload, attempts, at, created in done.queue
            if (tid := group.tid(tenant, create=False)) is not None
        ],
    )
    for st in done.statuses:
        tid = group.tid(st.tenant, create=False)
        if tid is None:
            continue
        conn.execute(
            "UPDATE subscription_status SET times_sent = times_sent + ?,"
            " times_failed = times_failed + ?,"
            " last_notification = coalesce(?, last_notification),"
            " last_success = coalesce(?, last_success),"
            " last_failure = coalesce(?, last_failure),"
            " failure_reason = coalesce(?, failure_reason)"
            " WHERE tid = ? AND id = ?",
            (
                st.sent,
                st.failed,
                st.last_notification,
                st.last_success,
                st.last_failure,
                st.failure_reason,
                tid,
                st.subscription_id,
            ),
        )
