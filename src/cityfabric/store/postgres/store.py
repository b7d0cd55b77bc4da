"""`PostgresStore`: the `Store` protocol on PostgreSQL 15 + PostGIS with psycopg 3.

A small pool of threads, each with its own connection, runs every call (reads and
writes alike): PostgreSQL does the concurrency, several API processes can share one
database, and the change hook of `notify` runs synchronously inside the write's
transaction as it does on SQLite. Writes commit with PostgreSQL's default
`synchronous_commit = on`: `apply` returns once the WAL is flushed.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import orjson
import psycopg

from cityfabric.ngsild.errors import InternalError, ResourceNotFound
from cityfabric.ngsild.model import EntityDoc, Instance
from cityfabric.ngsild.temporal import parse_time
from cityfabric.store.base import (
    DEFAULT_TENANT,
    AttributeSummary,
    ChangeHook,
    ChangePage,
    ChangeQuery,
    EntityQuery,
    HistoryPage,
    HistoryQuery,
    KvItem,
    Mutation,
    OutboxItem,
    Push,
    QueryPage,
    Settlement,
    SubscriptionCounters,
    TypeSummary,
    WriteResult,
)
from cityfabric.store.history_rows import FEED_RETENTION_MS, prepare
from cityfabric.store.postgres import (
    feed,
    histread,
    kv,
    outbox,
    partitions,
    schema,
    subscriptions,
    summaries,
)
from cityfabric.store.postgres.history import HistoryWriter
from cityfabric.store.postgres.listen import Listener
from cityfabric.store.postgres.query import CompiledQuery, bad_regex, compile_query, geo_matches
from cityfabric.store.postgres.write import Conn, apply_ops, lock_ids, tenant_id

T = TypeVar("T")


class PostgresStore:
    """An NGSI-LD entity store in one PostgreSQL database (PostGIS installed or installable)."""

    def __init__(
        self,
        url: str,
        *,
        connections: int = 4,
        keep_history_on_delete: bool = False,
        change_feed_retention_ms: int = FEED_RETENTION_MS,
        record_history: bool = True,
    ) -> None:
        self.url = url
        self._record_history = record_history  # False: entity writes add no history (imports)
        self._keep_history = keep_history_on_delete
        self._feed_retention_ms = change_feed_retention_ms
        self._size = connections
        self._pool: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._conns: list[Conn] = []
        self._conns_lock = threading.Lock()
        self._tids: dict[str, int] = {}
        self._change_hook: ChangeHook | None = None
        self._on_queued: Callable[[], None] | None = None
        self._push: Push | None = None
        self._listener: Listener | None = None

    async def open(self) -> None:
        """Apply pending migrations and start the connection threads."""
        if self._pool is not None:
            return
        self._pool = ThreadPoolExecutor(self._size, thread_name_prefix="cityfabric-pg")
        try:
            await self._run(schema.migrate)
            await self._run(lambda c: self._in_tx(c, lambda: partitions.ahead(c, _now_ms())))
            self._listen()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Stop every thread and close every connection."""
        pool, self._pool = self._pool, None
        listener, self._listener = self._listener, None
        if listener is not None:
            await asyncio.to_thread(listener.stop)
        if pool is not None:
            pool.shutdown(wait=True)
        with self._conns_lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()
        self._local = threading.local()

    async def tenant_exists(self, tenant: str) -> bool:
        return (
            tenant == DEFAULT_TENANT or await self._run(lambda c: self._tid(c, tenant)) is not None
        )

    async def tenants(self) -> list[str]:
        rows = await self._run(
            lambda c: c.execute("SELECT name FROM tenants ORDER BY name").fetchall()
        )
        return [str(row[0]) for row in rows]

    async def get(self, tenant: str, entity_id: str) -> EntityDoc | None:
        def run(conn: Conn) -> EntityDoc | None:
            tid = self._tid(conn, tenant)
            if tid is None:
                return None
            row = conn.execute(
                "SELECT doc::text FROM entities WHERE tid = %s AND id = %s", (tid, entity_id)
            ).fetchone()
            return None if row is None else _loads(row[0])

        return await self._run(run)

    async def apply(self, tenant: str, ops: Sequence[tuple[str, Mutation]]) -> list[WriteResult]:
        """Run the mutations in one transaction; returns once it is durable."""
        if not ops:
            return []

        queued: list[OutboxItem] = []

        def run(conn: Conn) -> list[WriteResult]:
            nonlocal queued
            with conn.transaction():
                results, changes, tid = apply_ops(conn, tenant, ops)
                writer = None
                if changes and self._record_history:
                    assert tid is not None
                    writer = self._history_writer(conn)
                    for _, entity_id, before, after in changes:
                        writer.record(tid, entity_id, before, after)
                    writer.flush(feed_now=False)
                hook, push = self._change_hook, self._push
                if changes and hook is not None:
                    due_at = push.claimed_until() if push is not None else None
                    queued = outbox.queue(conn, hook, changes, due_at)
                if writer is not None:
                    # last: the feed's lock is held from here to COMMIT (see feed.py), so the
                    # change hook's matching runs before it, not under it
                    writer.record_feed()
            return results

        results = await self._run(run)
        if queued and self._push is not None:
            self._push.hand(queued)
        elif queued and self._on_queued is not None:
            self._on_queued()
        return results

    async def query(self, tenant: str, query: EntityQuery) -> QueryPage:
        return await self._run(lambda c: self._query(c, tenant, query))

    async def type_summaries(self, tenant: str) -> list[TypeSummary]:
        return await self._run(lambda c: summaries.types(c, self._tid(c, tenant)))

    async def attribute_summaries(self, tenant: str) -> list[AttributeSummary]:
        return await self._run(lambda c: summaries.attributes(c, self._tid(c, tenant)))

    # -- history (see history.py, histread.py, feed.py) ----------------------------------

    async def history(self, tenant: str, query: HistoryQuery) -> HistoryPage:
        """Entities with history, their instances or aggregates."""
        return await self._run(lambda c: self._history(c, tenant, query))

    async def add_history(
        self,
        tenant: str,
        entity_id: str,
        types: list[str],
        instances: Sequence[tuple[str, Instance]],
        now: str,
    ) -> bool:
        """Append instances to an entity's history; True when it had none."""
        rows = prepare(instances, parse_time(now, "now"))

        def run(conn: Conn) -> bool:
            lock_ids(conn, tenant, [entity_id])
            tid = tenant_id(conn, tenant, create=True)
            assert tid is not None
            writer = self._history_writer(conn)
            created = writer.add(tid, entity_id, types, rows, now)
            writer.flush()
            return created

        return await self._write(run)

    async def delete_history(
        self, tenant: str, entity_id: str, attr: str | None = None, dataset_id: str | None = ""
    ) -> None:
        """Delete an entity's history, or one attribute's (one dataset, or all with None)."""
        dataset = dataset_id if attr is not None else None
        await self._write(
            lambda c: self._history_writer(c).delete(
                self._locked_tid(c, tenant, entity_id), entity_id, attr, dataset
            )
        )

    async def replace_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str, inst: Instance, now: str
    ) -> None:
        await self._write(
            lambda c: self._history_writer(c).replace_instance(
                self._locked_tid(c, tenant, entity_id), entity_id, attr, instance_id, inst, now
            )
        )

    async def delete_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str
    ) -> None:
        await self._write(
            lambda c: self._history_writer(c).delete_instance(
                self._locked_tid(c, tenant, entity_id), entity_id, attr, instance_id
            )
        )

    async def set_retention(self, tenant: str, rules: dict[str, int]) -> None:
        """Replace the tenant's raw-history retention rules (ms per type IRI, "" = others)."""

        def run(conn: Conn) -> None:
            tid = tenant_id(conn, tenant, create=True)
            conn.execute("DELETE FROM hist_retention WHERE tid = %s", (tid,))
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO hist_retention (tid, type, raw_ms) VALUES (%s, %s, %s)",
                    [(tid, t, ms) for t, ms in rules.items()],
                )

        await self._write(run)

    async def retention(self, tenant: str) -> dict[str, int]:
        def run(conn: Conn) -> dict[str, int]:
            rows = conn.execute(
                "SELECT type, raw_ms FROM hist_retention WHERE tid = %s",
                (self._tid(conn, tenant),),
            )
            return {str(t): int(str(ms)) for t, ms in rows}

        return await self._run(run)

    async def expire_history(self, now: int, default_ms: int | None = None) -> int:
        """Delete raw instances past retention (roll-ups stay), prune the change feed, create
        partitions ahead and drop emptied ones; how many instances were deleted."""

        def run(conn: Conn) -> int:
            feed.prune(conn, now - self._feed_retention_ms)
            partitions.ahead(conn, max(now, _now_ms()))
            return self._history_writer(conn).expire(now, default_ms)

        return await self._write(run)

    async def history_changes(self, tenant: str, query: ChangeQuery) -> ChangePage:
        """What the change feed holds after the query's cursor (see `feed.py`)."""

        def run(conn: Conn) -> ChangePage:
            tid = self._tid(conn, tenant)
            if tid is None:
                return ChangePage([], query.after, False)
            return self._in_tx(conn, lambda: feed.changes(conn, tid, query), snapshot=True)

        return await self._run(run)

    # -- the key/value side table (see kv.py) ---------------------------------------------

    async def kv_get_many(
        self, tenant: str, namespace: str, keys: Sequence[str]
    ) -> dict[str, bytes]:
        def run(conn: Conn) -> dict[str, bytes]:
            tid = self._tid(conn, tenant)
            return {} if tid is None else kv.get_many(conn, tid, namespace, keys)

        return await self._run(run)

    async def kv_put_many(self, tenant: str, namespace: str, items: Sequence[KvItem]) -> None:
        def run(conn: Conn) -> None:
            tid = tenant_id(conn, tenant, create=True)
            assert tid is not None
            kv.put_many(conn, tid, namespace, items)

        await self._write(run)

    async def kv_scan(
        self, tenant: str, namespace: str, prefix: str, after: str, limit: int
    ) -> list[tuple[str, bytes]]:
        def run(conn: Conn) -> list[tuple[str, bytes]]:
            tid = self._tid(conn, tenant)
            return [] if tid is None else kv.scan(conn, tid, namespace, prefix, after, limit)

        return await self._run(run)

    # -- subscriptions (see subscriptions.py) --------------------------------------------

    async def create_subscription(
        self,
        tenant: str,
        subscription_id: str,
        doc: bytes,
        types: frozenset[str] | None,
        attrs: frozenset[str] | None,
    ) -> None:
        """Store a new subscription; AlreadyExists when the tenant has that id."""

        def run(conn: Conn) -> None:
            tid = tenant_id(conn, tenant, create=True)
            assert tid is not None
            subscriptions.insert(conn, tid, subscription_id, doc, types, attrs)

        await self._write(run)

    async def replace_subscription(
        self,
        tenant: str,
        subscription_id: str,
        doc: bytes,
        types: frozenset[str] | None,
        attrs: frozenset[str] | None,
        *,
        expected: bytes | None = None,
    ) -> bool:
        """Replace doc and keys (compare-and-set with `expected`); ResourceNotFound."""
        return await self._write(
            lambda c: subscriptions.update(
                c, tenant_id(c, tenant, create=False), subscription_id, doc, types, attrs, expected
            )
        )

    async def get_subscription(
        self, tenant: str, subscription_id: str
    ) -> tuple[bytes, SubscriptionCounters] | None:
        return await self._run(
            lambda c: subscriptions.fetch(c, self._tid(c, tenant), subscription_id)
        )

    async def list_subscriptions(
        self, tenant: str, limit: int, offset: int, count: bool
    ) -> tuple[list[tuple[bytes, SubscriptionCounters]], int | None]:
        """One page in creation order, and the total when `count`."""
        return await self._run(
            lambda c: self._in_tx(
                c,
                lambda: subscriptions.page(c, self._tid(c, tenant), limit, offset, count),
                snapshot=True,
            )
        )

    async def delete_subscription(self, tenant: str, subscription_id: str) -> None:
        await self._write(
            lambda c: subscriptions.delete(c, tenant_id(c, tenant, create=False), subscription_id)
        )

    async def subscriptions_version(self) -> int:
        return await self._run(subscriptions.version)

    # -- notification outbox (see outbox.py) ---------------------------------------------

    def set_change_hook(
        self,
        hook: ChangeHook | None,
        on_queued: Callable[[], None] | None = None,
        push: Push | None = None,
    ) -> None:
        """Match every write's changes with `hook`; `on_queued` after such commits, in this
        process (unless `push` took the rows, see `base.Push`) or (LISTEN/NOTIFY) in any
        other on the same database."""
        self._change_hook, self._on_queued, self._push = hook, on_queued, push
        if self._pool is not None:
            self._listen()

    def _listen(self) -> None:
        """Start the listener thread when there is someone to wake (once)."""
        if self._on_queued is not None and self._listener is None:
            on_queued = self._on_queued
            self._listener = Listener(self.url, lambda: on_queued())
            self._listener.start()

    async def due_notifications(self, now_ms: int, limit: int, lease_ms: int) -> list[OutboxItem]:
        """Claim due outbox rows (SKIP LOCKED: processes never claim one row twice)."""
        return await self._write(lambda c: outbox.claim(c, now_ms, limit, lease_ms))

    async def settle_notifications(self, settlement: Settlement) -> None:
        await self._write(lambda c: outbox.settle(c, settlement))

    async def queue_notifications(
        self,
        tenant: str,
        subscription_id: str,
        payloads: Sequence[bytes],
        *,
        last_notification: str | None,
        now_ms: int,
    ) -> bool:
        """Queue rows for a subscription with none queued whose last_notification held."""
        queued = await self._write(
            lambda c: outbox.queue_once(
                c, tenant, subscription_id, payloads, last_notification, now_ms
            )
        )
        if queued and self._on_queued is not None:
            self._on_queued()
        return queued

    async def pending_notifications(self) -> int:
        """How many notifications are queued (for tests and stats)."""

        def run(conn: Conn) -> int:
            row = conn.execute("SELECT count(*) FROM outbox").fetchone()
            return 0 if row is None else int(str(row[0]))

        return await self._run(run)

    # -- plumbing ------------------------------------------------------------------------

    async def _run(self, fn: Callable[[Conn], T]) -> T:
        if self._pool is None:
            raise InternalError("the store is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._with_conn, fn)

    def _with_conn(self, fn: Callable[[Conn], T]) -> T:
        conn: Conn | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = psycopg.connect(self.url, autocommit=True)
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return fn(conn)

    async def _write(self, fn: Callable[[Conn], T]) -> T:
        """Run `fn` in a write transaction."""
        return await self._run(lambda c: self._in_tx(c, lambda: fn(c)))

    @staticmethod
    def _in_tx(conn: Conn, fn: Callable[[], T], *, snapshot: bool = False) -> T:
        try:
            with conn.transaction():
                if snapshot:
                    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                return fn()
        except psycopg.errors.InvalidRegularExpression as err:
            raise bad_regex(err) from err

    def _history_writer(self, conn: Conn) -> HistoryWriter:
        return HistoryWriter(conn, keep_on_delete=self._keep_history)

    def _locked_tid(self, conn: Conn, tenant: str, entity_id: str) -> int:
        """The tenant's id, with the entity's lock taken; ResourceNotFound without tenant."""
        lock_ids(conn, tenant, [entity_id])
        tid = tenant_id(conn, tenant, create=False)
        if tid is None:
            raise ResourceNotFound(f"tenant {tenant!r} has no history")
        return tid

    def _history(self, conn: Conn, tenant: str, query: HistoryQuery) -> HistoryPage:
        tid = self._tid(conn, tenant)
        if tid is None:
            return HistoryPage([], 0 if query.count else None)

        def run() -> HistoryPage:
            current: tuple[str, dict[str, Any]] = ("", {})
            if query.current is not None:
                compiled = compile_query(tid, query.current)
                if compiled.geo_predicate is None:
                    current = (compiled.ids_sql(), dict(compiled.params))
                else:  # the exact geo test runs here: pass the matching ids
                    ids = [d["id"] for d in self._geo_docs(conn, compiled)]
                    current = ("SELECT unnest(%(current_ids)s::text[])", {"current_ids": ids})
            return histread.history_page(conn, tid, query, current)

        return self._in_tx(conn, run, snapshot=True)

    def _geo_docs(self, conn: Conn, compiled: CompiledQuery) -> list[EntityDoc]:
        """The docs the pre-filter keeps that pass the exact geo test, in creation order."""
        rows = conn.execute(compiled.select_sql(paged=False), compiled.params).fetchall()
        predicate, attr = compiled.geo_predicate, compiled.geo_attr
        assert predicate is not None and attr is not None
        docs = (_loads(row[0]) for row in rows)
        return [doc for doc in docs if geo_matches(doc, attr, predicate)]

    def _tid(self, conn: Conn, tenant: str) -> int | None:
        tid = self._tids.get(tenant)
        if tid is None:
            tid = tenant_id(conn, tenant, create=False)
            if tid is not None:
                self._tids[tenant] = tid
        return tid

    def _query(self, conn: Conn, tenant: str, query: EntityQuery) -> QueryPage:
        tid = self._tid(conn, tenant)
        if tid is None:
            return QueryPage([], 0 if query.count else None)
        compiled = compile_query(tid, query)
        limit, offset = max(query.limit, 0), max(query.offset, 0)

        def run() -> QueryPage:  # one snapshot for the page and its count
            if compiled.geo_predicate is not None:
                matches = self._geo_docs(conn, compiled)
                count = len(matches) if query.count else None
                return QueryPage(matches[offset : offset + limit], count)
            params = {**compiled.params, "limit": limit, "offset": offset}
            rows = conn.execute(compiled.select_sql(paged=True), params).fetchall()
            docs = [_loads(row[0]) for row in rows]
            count = None
            if query.count:
                row = conn.execute(compiled.count_sql(), compiled.params).fetchone()
                count = 0 if row is None else int(str(row[0]))
            return QueryPage(docs, count)

        return self._in_tx(conn, run, snapshot=True)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _loads(text: object) -> EntityDoc:
    doc = orjson.loads(str(text))
    assert isinstance(doc, dict)
    return doc
