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
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import orjson
import psycopg

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
from cityfabric.store.postgres import schema, summaries
from cityfabric.store.postgres.query import bad_regex, compile_query, geo_matches
from cityfabric.store.postgres.write import Conn, apply_ops, tenant_id

T = TypeVar("T")


class PostgresStore:
    """An NGSI-LD entity store in one PostgreSQL database (PostGIS installed or installable)."""

    def __init__(self, url: str, *, connections: int = 4) -> None:
        self.url = url
        self._size = connections
        self._pool: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._conns: list[Conn] = []
        self._conns_lock = threading.Lock()
        self._tids: dict[str, int] = {}

    async def open(self) -> None:
        """Apply pending migrations and start the connection threads."""
        if self._pool is not None:
            return
        self._pool = ThreadPoolExecutor(self._size, thread_name_prefix="cityfabric-pg")
        try:
            await self._run(schema.migrate)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Stop every thread and close every connection."""
        pool, self._pool = self._pool, None
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

        def run(conn: Conn) -> list[WriteResult]:
            with conn.transaction():
                results, _changes = apply_ops(conn, tenant, ops)
            return results

        return await self._run(run)

    async def query(self, tenant: str, query: EntityQuery) -> QueryPage:
        return await self._run(lambda c: self._query(c, tenant, query))

    async def type_summaries(self, tenant: str) -> list[TypeSummary]:
        return await self._run(lambda c: summaries.types(c, self._tid(c, tenant)))

    async def attribute_summaries(self, tenant: str) -> list[AttributeSummary]:
        return await self._run(lambda c: summaries.attributes(c, self._tid(c, tenant)))

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
        try:
            with conn.transaction():  # one snapshot for the page and its count
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                if compiled.geo_predicate is None or compiled.geo_attr is None:
                    params = {**compiled.params, "limit": limit, "offset": offset}
                    rows = conn.execute(compiled.select_sql(paged=True), params).fetchall()
                    docs = [_loads(row[0]) for row in rows]
                    count = None
                    if query.count:
                        row = conn.execute(compiled.count_sql(), compiled.params).fetchone()
                        count = 0 if row is None else int(str(row[0]))
                    return QueryPage(docs, count)
                # the exact geo test runs here, on the rows the GiST pre-filter kept
                rows = conn.execute(compiled.select_sql(paged=False), compiled.params).fetchall()
        except psycopg.errors.InvalidRegularExpression as err:
            raise bad_regex(err) from err
        predicate, attr = compiled.geo_predicate, compiled.geo_attr
        matches = [
            doc for doc in map(_loads, (r[0] for r in rows)) if geo_matches(doc, attr, predicate)
        ]
        return QueryPage(matches[offset : offset + limit], len(matches) if query.count else None)


def _loads(text: object) -> EntityDoc:
    doc = orjson.loads(str(text))
    assert isinstance(doc, dict)
    return doc
