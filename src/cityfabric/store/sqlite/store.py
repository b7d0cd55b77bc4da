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

from cityfabric.ngsild.errors import InternalError
from cityfabric.ngsild.model import EntityDoc
from cityfabric.store.base import (
    DEFAULT_TENANT,
    AttributeSummary,
    EntityQuery,
    Mutation,
    QueryPage,
    TypeSummary,
    WriteResult,
)
from cityfabric.store.sqlite import funcs, schema, summaries
from cityfabric.store.sqlite.checkpoint import Checkpointer
from cityfabric.store.sqlite.sqlq import GEO_TOKEN, CompiledQuery, compile_query
from cityfabric.store.sqlite.writer import Job, Writer

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
    ) -> None:
        self.path = Path(path)
        self._readers = readers
        self._synchronous = synchronous
        self._max_group = max_group
        self._writer: Writer | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._tids: dict[str, int] = {}

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
        self._writer = Writer(conn, checkpointer, max_group=self._max_group)
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
