"""The notification outbox on PostgreSQL (see `store/sqlite/outbox.py` for the contract).

Rows are queued by the change hook in the transaction of the entity write; several
processes claim due rows with `FOR UPDATE SKIP LOCKED` (no two claim one row) and hide
them for the lease; every transaction that queues rows sends `NOTIFY cityfabric_outbox`
so idle delivery workers of every process wake up (`listen.py`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Final

import orjson
import psycopg

from cityfabric.store.base import (
    Change,
    ChangeHook,
    EntityQuery,
    OutboxItem,
    Settlement,
)
from cityfabric.store.postgres import subscriptions
from cityfabric.store.postgres.query import compile_query, geo_matches
from cityfabric.store.postgres.write import Conn, tenant_id

log = logging.getLogger(__name__)

CHANNEL: Final = "cityfabric_outbox"
_INSERT: Final = (
    "INSERT INTO outbox (tid, sub_id, payload, attempts, next_at, created_at)"
    " VALUES (%s, %s, %s, 0, %s, %s)"
)


def now_ms() -> int:
    return int(time.time() * 1000)


class Probe:
    """`ChangeProbe` inside the write's transaction (it sees the uncommitted changes)."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def version(self) -> int:
        return subscriptions.version(self._conn)

    def subscriptions(self, tenant: str) -> list[tuple[str, bytes]]:
        tid = tenant_id(self._conn, tenant, create=False)
        if tid is None:
            return []
        rows = self._conn.execute(
            "SELECT id, doc FROM subscriptions WHERE tid = %s ORDER BY created_rid", (tid,)
        )
        return [(str(sid), bytes(doc)) for sid, doc in rows]  # type: ignore[call-overload]

    def entity_matches(self, tenant: str, entity_id: str, query: EntityQuery) -> bool:
        tid = tenant_id(self._conn, tenant, create=False)
        if tid is None:
            return False
        compiled = compile_query(
            tid, EntityQuery(ids=(entity_id,), q=query.q, scope_q=query.scope_q, geo=query.geo)
        )
        if not all(pg_accepts_regex(self._conn, p) for p in compiled.regexes):
            return False  # a filter PostgreSQL cannot run matches nothing, and breaks nothing
        if compiled.geo_predicate is None or compiled.geo_attr is None:
            sql = f"SELECT 1 FROM ({compiled.ids_sql()}) AS m LIMIT 1"
            return self._conn.execute(sql, compiled.params).fetchone() is not None
        row = self._conn.execute(compiled.select_sql(paged=False), compiled.params).fetchone()
        if row is None:
            return False
        doc = orjson.loads(str(row[0]))
        return geo_matches(doc, compiled.geo_attr, compiled.geo_predicate)


_PG_REGEX: dict[str, bool] = {}  # PostgreSQL's verdict on each pattern a filter used
_PG_REGEX_MAX: Final = 4096


def pg_accepts_regex(conn: Conn, pattern: str) -> bool:
    """Whether PostgreSQL's regex dialect (ARE) compiles `pattern`, asked once per pattern.

    Subscription filters are checked by Python's `re` when created, and a subscription
    may come from a SQLite store; a pattern ARE refuses (a named group, a possessive
    quantifier) would fail the whole change hook, so no subscription would be notified.
    """
    known = _PG_REGEX.get(pattern)
    if known is not None:
        return known
    try:
        with conn.transaction():  # a savepoint: the write's transaction survives a refusal
            conn.execute("SELECT '' ~ %s::text", (pattern,))
        known = True
    except psycopg.errors.InvalidRegularExpression as err:
        log.warning(
            "regular expression %r cannot run on PostgreSQL (%s): it matches nothing", pattern, err
        )
        known = False
    if len(_PG_REGEX) >= _PG_REGEX_MAX:
        _PG_REGEX.clear()
    _PG_REGEX[pattern] = known
    return known


def queue(
    conn: Conn, hook: ChangeHook, changes: Sequence[Change], due_at: int | None = None
) -> list[OutboxItem]:
    """Run the hook on the changes and insert its rows in this transaction, due at once or
    at `due_at` (claimed until then, for this process alone); the rows as queued.

    A failing hook is logged and queues nothing (the write itself is kept)."""
    if not changes:
        return []
    try:
        with conn.transaction():  # a savepoint: a failing probe query leaves the write intact
            rows = hook(Probe(conn), changes)
    except Exception:
        log.exception("the change hook failed: no notification queued for %d changes", len(changes))
        return []
    if not rows:
        return []
    at = now_ms()
    tids: dict[str, int | None] = {}
    values = []
    for tenant, sub_id, payload in rows:
        if tenant not in tids:
            tids[tenant] = tenant_id(conn, tenant, create=False)
        values.append((tids[tenant], sub_id, payload, due_at or at, at))
    oids: list[int] = []
    with conn.cursor() as cur:
        cur.executemany(_INSERT + " RETURNING oid", values, returning=True)
        while True:
            row = cur.fetchone()
            if row is not None:
                oids.append(int(str(row[0])))
            if not cur.nextset():
                break
    if due_at is None:
        conn.execute(f"NOTIFY {CHANNEL}")  # claimed rows are for this process alone
    return [
        OutboxItem(oid, tenant, sub_id, payload, 0, at)
        for oid, (tenant, sub_id, payload) in zip(oids, rows, strict=True)
    ]


def queue_once(
    conn: Conn, tenant: str, sub_id: str, payloads: Sequence[bytes], last: str | None, now: int
) -> bool:
    """Insert rows for one subscription if it has none queued and its status held.

    The status row is locked first, so two processes never both queue one period."""
    tid = tenant_id(conn, tenant, create=False)
    if tid is None or not payloads:
        return False
    status = conn.execute(
        "SELECT last_notification FROM subscription_status WHERE tid = %s AND id = %s FOR UPDATE",
        (tid, sub_id),
    ).fetchone()
    if status is None or status[0] != last:
        return False
    if conn.execute(
        "SELECT 1 FROM outbox WHERE tid = %s AND sub_id = %s LIMIT 1", (tid, sub_id)
    ).fetchone():
        return False
    with conn.cursor() as cur:
        cur.executemany(_INSERT, [(tid, sub_id, payload, now, now) for payload in payloads])
    conn.execute(f"NOTIFY {CHANNEL}")
    return True


def claim(conn: Conn, now: int, limit: int, lease_ms: int) -> list[OutboxItem]:
    """Due rows, oldest first, hidden from other claims until `now + lease_ms`."""
    rows = conn.execute(
        "WITH due AS (SELECT oid, next_at AS due_at FROM outbox WHERE next_at <= %s"
        " ORDER BY next_at, oid LIMIT %s FOR UPDATE SKIP LOCKED)"
        " UPDATE outbox AS o SET next_at = %s FROM due, tenants AS t"
        " WHERE o.oid = due.oid AND t.tid = o.tid"
        " RETURNING due.due_at, o.oid, t.name, o.sub_id, o.payload, o.attempts, o.created_at",
        (now, max(limit, 0), now + lease_ms),
    ).fetchall()
    rows.sort(key=lambda row: (int(str(row[0])), int(str(row[1]))))  # oldest first
    return [_item(row[1:]) for row in rows]


def _item(row: tuple[object, ...]) -> OutboxItem:
    oid, name, sid, payload, attempts, created = row
    assert isinstance(payload, bytes)
    return OutboxItem(
        int(str(oid)), str(name), str(sid), payload, int(str(attempts)), int(str(created))
    )


def settle(conn: Conn, done: Settlement) -> None:
    """Apply one settlement: deletes, reschedules, new rows, status counters."""
    gone = [*done.delivered, *done.dropped]
    if gone:
        conn.execute("DELETE FROM outbox WHERE oid = ANY(%s::bigint[])", (gone,))
    with conn.cursor() as cur:
        if done.retry:
            cur.executemany(
                "UPDATE outbox SET attempts = attempts + 1, next_at = %s WHERE oid = %s",
                [(at, oid) for oid, at in done.retry],
            )
        if done.defer:
            cur.executemany(
                "UPDATE outbox SET next_at = %s WHERE oid = %s",
                [(at, oid) for oid, at in done.defer],
            )
        rows = [
            (tid, sub_id, payload, attempts, at, created)
            for tenant, sub_id, payload, attempts, at, created in done.queue
            if (tid := tenant_id(conn, tenant, create=False)) is not None
        ]
        if rows:
            cur.executemany(
                "INSERT INTO outbox (tid, sub_id, payload, attempts, next_at, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                rows,
            )
    for st in done.statuses:
        tid = tenant_id(conn, st.tenant, create=False)
        if tid is None:
            continue
        conn.execute(
            "UPDATE subscription_status SET times_sent = times_sent + %s,"
            " times_failed = times_failed + %s,"
            " last_notification = coalesce(%s, last_notification),"
            " last_success = coalesce(%s, last_success),"
            " last_failure = coalesce(%s, last_failure),"
            " failure_reason = coalesce(%s, failure_reason)"
            " WHERE tid = %s AND id = %s",
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
