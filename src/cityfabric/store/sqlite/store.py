"""`SqliteStore`: the embedded default engine of the `Store` protocol.

WAL mode, one writer thread with group commit (`writer.py`), a checkpoint
thread that keeps WAL checkpoints out of the writer's commits
(`checkpoint.py`), and a small pool of reader threads, each with its own
connection, for reads.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import orjson

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
from cityfabric.store.sqlite import (
    feed,
    funcs,
    histread,
    kv,
    outbox,
    schema,
    subscriptions,
    summaries,
)
from cityfabric.store.sqlite.checkpoint import Checkpointer
from cityfabric.store.sqlite.group import Group
from cityfabric.store.sqlite.sqlq import GEO_TOKEN, CompiledQuery, compile_query
from cityfabric.store.sqlite.writer import CallJob, Job, Writer

T = TypeVar("T")


class SqliteStore:
    """An NGSI-LD entity store in one SQLite file."""

    def __init__(
        self,
        path: Path,
        *,
        readers: int = 4,
        synchronous: str = "NORMAL",
        max_group: int = 20000,
        keep_history_on_delete: bool = False,
        change_feed_retention_ms: int = FEED_RETENTION_MS,
    ) -> None:
        self.path = Path(path)
        self._keep_history = keep_history_on_delete
        self._feed_retention_ms = change_feed_retention_ms
        self._readers = readers
        self._synchronous = synchronous
        self._max_group = max_group
        self._writer: Writer | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._tids: dict[str, int] = {}
        self._change_hook: ChangeHook | None = None
        self._on_queued: Callable[[], None] | None = None
        self._push: Push | None = None

    @property
    def commits(self) -> int:
        """How many write transactions were committed since open (group commit stats)."""
        return 0 if self._writer is None else self._writer.commits

    async def open(self) -> None:
        """Create or migrate the database and start the writer and reader threads."""
        if self._writer is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = await _in_own_thread(self._connect)
        await _in_own_thread(lambda: schema.migrate(conn))
        checkpointer = Checkpointer(await _in_own_thread(self._connect))
        self._writer = Writer(
            conn,
            checkpointer,
            max_group=self._max_group,
            keep_history_on_delete=self._keep_history,
        )
        self._writer.change_hook, self._writer.on_queued = self._change_hook, self._on_queued
        self._writer.push = self._push
        self._writer.start()
        self._pool = ThreadPoolExecutor(self._readers, thread_name_prefix="cityfabric-sqlite-read")

    async def close(self) -> None:
        """Finish queued writes, stop every thread and close every connection."""
        writer, pool = self._writer, self._pool
        self._writer, self._pool = None, None
        if writer is not None:
            await _in_own_thread(writer.stop)
        if pool is not None:
            pool.shutdown(wait=True)
        with self._conns_lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()
        self._local = threading.local()

    async def tenant_exists(self, tenant: str) -> bool:
        """The default tenant always exists; others once written to."""
        return (
            tenant == DEFAULT_TENANT or await self._read(lambda c: self._tid(c, tenant)) is not None
        )

    async def tenants(self) -> list[str]:
        """Every tenant written to, by name."""
        rows = await self._read(
            lambda c: c.execute("SELECT name FROM tenants ORDER BY name").fetchall()
        )
        return [row[0] for row in rows]

    async def get(self, tenant: str, entity_id: str) -> EntityDoc | None:
        """One entity's doc, or None."""
        return await self._read(lambda c: self._get(c, tenant, entity_id))

    async def apply(self, tenant: str, ops: Sequence[tuple[str, Mutation]]) -> list[WriteResult]:
        """Queue the ops for the writer and wait until their transaction is committed."""
        if self._writer is None:
            raise InternalError("the store is not open")
        if not ops:
            return []
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[WriteResult]] = loop.create_future()
        self._writer.submit(Job(tenant, list(ops), loop, future))
        return await future

    async def query(self, tenant: str, query: EntityQuery) -> QueryPage:
        """Matching docs in creation order, one page, and the total when asked."""
        return await self._read(lambda c: self._query(c, tenant, query))

    async def type_summaries(self, tenant: str) -> list[TypeSummary]:
        """Per entity type: how many entities, and their attributes with kinds."""
        return await self._read(lambda c: summaries.types(c, self._tid(c, tenant)))

    async def attribute_summaries(self, tenant: str) -> list[AttributeSummary]:
        """Per attribute: how many entities have it, of which types, with which kinds."""
        return await self._read(lambda c: summaries.attributes(c, self._tid(c, tenant)))

    # -- history -------------------------------------------------------------------------

    async def history(self, tenant: str, query: HistoryQuery) -> HistoryPage:
        """Entities with history, their instances or aggregates (see `histread`)."""
        return await self._read(lambda c: self._history(c, tenant, query))

    async def add_history(
        self,
        tenant: str,
        entity_id: str,
        types: list[str],
        instances: Sequence[tuple[str, Instance]],
        now: str,
    ) -> bool:
        """Append instances to an entity's history; True when it had none."""
        # rows are built here, off the writer thread, which only numbers and writes them
        rows = prepare(instances, parse_time(now, "now"))
        return bool(
            await self._call(
                lambda g: g.history.add(_tid(g, tenant, create=True), entity_id, types, rows, now),
                appends=True,
            )
        )

    async def delete_history(
        self, tenant: str, entity_id: str, attr: str | None = None, dataset_id: str | None = ""
    ) -> None:
        """Delete an entity's history, or one attribute's (one dataset, or all with None)."""
        await self._call(
            lambda g: g.history.delete(
                _tid(g, tenant), entity_id, attr, dataset_id if attr is not None else None
            )
        )

    async def replace_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str, inst: Instance, now: str
    ) -> None:
        await self._call(
            lambda g: g.history.replace_instance(
                _tid(g, tenant), entity_id, attr, instance_id, inst, now
            )
        )

    async def delete_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str
    ) -> None:
        await self._call(
            lambda g: g.history.delete_instance(_tid(g, tenant), entity_id, attr, instance_id)
        )

    async def set_retention(self, tenant: str, rules: dict[str, int]) -> None:
        """Replace the tenant's raw-history retention rules (ms per type IRI, "" = others)."""

        def run(g: Group) -> None:
            tid = _tid(g, tenant, create=True)
            g.conn.execute("DELETE FROM hist_retention WHERE tid = ?", (tid,))
            g.conn.executemany(
                "INSERT INTO hist_retention (tid, type, raw_ms) VALUES (?, ?, ?)",
                [(tid, t, ms) for t, ms in rules.items()],
            )

        await self._call(run)

    async def retention(self, tenant: str) -> dict[str, int]:
        def run(c: sqlite3.Connection) -> dict[str, int]:
            tid = self._tid(c, tenant)
            rows = c.execute("SELECT type, raw_ms FROM hist_retention WHERE tid = ?", (tid,))
            return {t: int(ms) for t, ms in rows}

        return await self._read(run)

    async def expire_history(self, now: int, default_ms: int | None = None) -> int:
        """Delete raw instances past retention (roll-ups stay); how many were deleted.

        Change-feed rows older than the feed retention go in the same pass."""
        await self._call(lambda g: feed.prune(g.conn, now - self._feed_retention_ms))
        return int(await self._call(lambda g: g.history.expire(now, default_ms)))

    async def history_changes(self, tenant: str, query: ChangeQuery) -> ChangePage:
        """What the change feed holds after the query's cursor (see `feed.py`)."""

        def run(conn: sqlite3.Connection) -> ChangePage:
            tid = self._tid(conn, tenant)
            if tid is None:
                return ChangePage([], query.after, False)
            return _in_snapshot(conn, lambda: feed.changes(conn, tid, query))

        return await self._read(run)

    # -- the key/value side table (see `kv.py`) ----------------------------------------

    async def kv_get_many(
        self, tenant: str, namespace: str, keys: Sequence[str]
    ) -> dict[str, bytes]:
        def run(conn: sqlite3.Connection) -> dict[str, bytes]:
            tid = self._tid(conn, tenant)
            return {} if tid is None else kv.get_many(conn, tid, namespace, keys)

        return await self._read(run)

    async def kv_put_many(self, tenant: str, namespace: str, items: Sequence[KvItem]) -> None:
        def run(g: Group) -> None:
            kv.put_many(g.conn, _tid(g, tenant, create=True), namespace, items)

        await self._call(run)

    async def kv_scan(
        self, tenant: str, namespace: str, prefix: str, after: str, limit: int
    ) -> list[tuple[str, bytes]]:
        def run(conn: sqlite3.Connection) -> list[tuple[str, bytes]]:
            tid = self._tid(conn, tenant)
            return [] if tid is None else kv.scan(conn, tid, namespace, prefix, after, limit)

        return await self._read(run)

    # -- subscriptions (see `subscriptions.py`) ------------------------------------------

    async def create_subscription(
        self,
        tenant: str,
        subscription_id: str,
        doc: bytes,
        types: frozenset[str] | None,
        attrs: frozenset[str] | None,
    ) -> None:
        """Store a new subscription; AlreadyExists when the tenant has that id."""
        await self._call(
            lambda g: subscriptions.insert(
                g.conn, _tid(g, tenant, create=True), subscription_id, doc, types, attrs
            )
        )

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
        return bool(
            await self._call(
                lambda g: subscriptions.update(
                    g.conn,
                    g.tid(tenant, create=False),
                    subscription_id,
                    doc,
                    types,
                    attrs,
                    expected,
                )
            )
        )

    async def get_subscription(
        self, tenant: str, subscription_id: str
    ) -> tuple[bytes, SubscriptionCounters] | None:
        """One subscription's doc and counters, or None."""
        return await self._read(
            lambda c: subscriptions.fetch(c, self._tid(c, tenant), subscription_id)
        )

    async def list_subscriptions(
        self, tenant: str, limit: int, offset: int, count: bool
    ) -> tuple[list[tuple[bytes, SubscriptionCounters]], int | None]:
        """One page in creation order, and the total when `count`."""
        return await self._read(
            lambda c: subscriptions.page(c, self._tid(c, tenant), limit, offset, count)
        )

    async def delete_subscription(self, tenant: str, subscription_id: str) -> None:
        """Delete a subscription and its counters; ResourceNotFound when missing."""
        await self._call(
            lambda g: subscriptions.delete(g.conn, g.tid(tenant, create=False), subscription_id)
        )

    async def subscriptions_version(self) -> int:
        """Grows with every subscription change (the matcher reloads when it moves)."""
        return await self._read(subscriptions.version)

    # -- notification outbox (see `outbox.py`) -----------------------------------------

    def set_change_hook(
        self,
        hook: ChangeHook | None,
        on_queued: Callable[[], None] | None = None,
        push: Push | None = None,
    ) -> None:
        """Match every committed group of changes with `hook`; `on_queued` after such commits
        (or `push`, see `base.Push`)."""
        self._change_hook, self._on_queued, self._push = hook, on_queued, push
        if self._writer is not None:
            self._writer.change_hook, self._writer.on_queued = hook, on_queued
            self._writer.push = push

    async def due_notifications(self, now_ms: int, limit: int, lease_ms: int) -> list[OutboxItem]:
        """Claim due outbox rows (a write: the lease keeps other processes off them)."""
        return await self._call(lambda g: outbox.claim(g.conn, now_ms, limit, lease_ms))

    async def settle_notifications(self, settlement: Settlement) -> None:
        """Delete, reschedule or drop claimed rows and update status counters, atomically."""
        await self._call(lambda g: outbox.settle(g, settlement))

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
        return await self._call(
            lambda g: outbox.queue_once(
                g, tenant, subscription_id, payloads, last_notification, now_ms
            )
        )

    async def pending_notifications(self) -> int:
        """How many notifications are queued (for tests and stats)."""
        return await self._read(
            lambda c: int(c.execute("SELECT count(*) FROM outbox").fetchone()[0])
        )

    async def _call(self, fn: Callable[[Group], T], *, appends: bool = False) -> T:
        if self._writer is None:
            raise InternalError("the store is not open")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._writer.submit(CallJob(fn, loop, future, appends))
        return await future

    def _history(self, conn: sqlite3.Connection, tenant: str, query: HistoryQuery) -> HistoryPage:
        tid = self._tid(conn, tenant)
        if tid is None:
            return HistoryPage([], 0 if query.count else None)
        if query.current is None:
            return _in_snapshot(conn, lambda: histread.history_page(conn, tid, query, ("", {})))
        compiled = compile_query(tid, query.current)
        current = (compiled.ids_sql(), dict(compiled.params))
        if compiled.geo_predicate is None:
            return _in_snapshot(conn, lambda: histread.history_page(conn, tid, query, current))
        with funcs.GEO_PREDICATES.registered(compiled.geo_predicate) as token:
            current[1][GEO_TOKEN] = token
            return _in_snapshot(conn, lambda: histread.history_page(conn, tid, query, current))

    # reader side: these run on the pool threads

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._pool is None:
            raise InternalError("the store is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._with_conn, fn)

    def _with_conn(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return fn(conn)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        schema.configure(conn, synchronous=self._synchronous)
        funcs.install(conn)
        return conn

    def _tid(self, conn: sqlite3.Connection, tenant: str) -> int | None:
        tid = self._tids.get(tenant)
        if tid is None:
            row = conn.execute("SELECT tid FROM tenants WHERE name = ?", (tenant,)).fetchone()
            if row is not None:
                tid = self._tids[tenant] = int(row[0])
        return tid

    def _get(self, conn: sqlite3.Connection, tenant: str, entity_id: str) -> EntityDoc | None:
        tid = self._tid(conn, tenant)
        if tid is None:
            return None
        row = conn.execute(
            "SELECT doc FROM entities WHERE tid = ? AND id = ?", (tid, entity_id)
        ).fetchone()
        return None if row is None else _loads(row[0])

    def _query(self, conn: sqlite3.Connection, tenant: str, query: EntityQuery) -> QueryPage:
        tid = self._tid(conn, tenant)
        if tid is None:
            return QueryPage([], 0 if query.count else None)
        compiled = compile_query(tid, query)
        if compiled.geo_predicate is None:
            return _run_page(conn, compiled, query, {})
        with funcs.GEO_PREDICATES.registered(compiled.geo_predicate) as token:
            return _run_page(conn, compiled, query, {GEO_TOKEN: token})


async def _in_own_thread(fn: Callable[[], T]) -> T:
    """Run blocking set-up or tear-down on a short-lived thread (no executor left behind)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result = fn()
        except BaseException as err:
            loop.call_soon_threadsafe(settle, None, err)
        else:
            loop.call_soon_threadsafe(settle, result, None)

    thread = threading.Thread(target=run, name="cityfabric-sqlite-setup")
    thread.start()
    try:
        return await future
    finally:
        thread.join()


def _tid(group: Group, tenant: str, *, create: bool = False) -> int:
    tid = group.tid(tenant, create=create)
    if tid is None:
        raise ResourceNotFound(f"tenant {tenant!r} has no history")
    return tid


def _in_snapshot(conn: sqlite3.Connection, fn: Callable[[], T]) -> T:
    conn.execute("BEGIN")
    try:
        return fn()
    finally:
        conn.execute("COMMIT")


def _run_page(
    conn: sqlite3.Connection, compiled: CompiledQuery, query: EntityQuery, extra: dict[str, object]
) -> QueryPage:
    params = {**compiled.params, **extra}
    page = {"limit": max(query.limit, 0), "offset": max(query.offset, 0)}
    conn.execute("BEGIN")  # one snapshot for the page and its count
    try:
        docs = [_loads(row[0]) for row in conn.execute(compiled.select_sql(), params | page)]
        count = None
        if query.count:
            count = int(conn.execute(compiled.count_sql(), params).fetchone()[0])
    finally:
        conn.execute("COMMIT")
    return QueryPage(docs, count)


def _loads(text: str) -> EntityDoc:
    doc = orjson.loads(text)
    assert isinstance(doc, dict)
    return doc
