"""One `apply` on PostgreSQL: lock the ids, read their docs, run the mutations, write rows.

Several API processes may patch one entity at once; each transaction takes a
transaction-scoped advisory lock per (tenant, id), in sorted order (no deadlock),
before it reads, so the mutation always sees the last committed doc: no lost update,
also for two creations of a new id. The lock is released by COMMIT.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import orjson
import psycopg

from cityfabric.ngsild.errors import InternalError, NgsiLdError
from cityfabric.ngsild.model import EntityDoc
from cityfabric.store.base import Change, Mutation, WriteResult
from cityfabric.store.filters import GeoRow, geo_rows, types_of

log = logging.getLogger(__name__)

Conn = psycopg.Connection[tuple[object, ...]]


class State:
    """An entity as stored before the transaction and as its ops left it."""

    __slots__ = ("deleted", "dirty", "doc", "original", "text")

    def __init__(self, original: EntityDoc | None) -> None:
        self.original = original
        self.doc = original
        self.text: str | None = None
        self.dirty = False
        self.deleted = False  # deleted at some point (a re-create gets a new rid)


def tenant_id(conn: Conn, tenant: str, *, create: bool) -> int | None:
    """The tenant's id; with `create`, inserted by this transaction when new."""
    if create:
        conn.execute(
            "INSERT INTO tenants (name) VALUES (%s) ON CONFLICT (name) DO NOTHING", (tenant,)
        )
    row = conn.execute("SELECT tid FROM tenants WHERE name = %s", (tenant,)).fetchone()
    return None if row is None else int(str(row[0]))


def lock_ids(conn: Conn, tenant: str, ids: Sequence[str]) -> None:
    """Advisory locks on (tenant, id), sorted, held until the transaction ends."""
    with conn.cursor() as cur:
        cur.executemany(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [(f"{tenant}\x1f{entity_id}",) for entity_id in sorted(set(ids))],
        )


def apply_ops(
    conn: Conn, tenant: str, ops: Sequence[tuple[str, Mutation]]
) -> tuple[list[WriteResult], list[Change], int | None]:
    """Run the ops in this transaction: results in order, the successful changes, the tenant
    id (None when nothing was written to a tenant that does not exist)."""
    lock_ids(conn, tenant, [entity_id for entity_id, _ in ops])
    tid = tenant_id(conn, tenant, create=False)
    states = _load(conn, tid, [entity_id for entity_id, _ in ops])
    results: list[WriteResult] = []
    changes: list[Change] = []
    for entity_id, mutation in ops:
        state = states[entity_id]
        before = state.doc
        try:
            after = mutation(before)
            if after is not None and not isinstance(after, dict):
                raise TypeError(f"a mutation returned {type(after).__name__}, not a doc")
            text = None if after is None else orjson.dumps(after).decode()
        except NgsiLdError as err:
            results.append(WriteResult(entity_id, err, before))
            continue
        except Exception as err:
            log.exception("mutation for %r failed", entity_id)
            results.append(WriteResult(entity_id, InternalError(str(err)), before))
            continue
        if after is None and state.original is not None:
            state.deleted = True
        state.doc, state.text, state.dirty = after, text, True
        results.append(WriteResult(entity_id, None, before, after))
        changes.append((tenant, entity_id, before, after))
    if changes:
        tid = tenant_id(conn, tenant, create=True)
        assert tid is not None
        _write(conn, tid, states)
    return results, changes, tid


def _load(conn: Conn, tid: int | None, ids: list[str]) -> dict[str, State]:
    states = {entity_id: State(None) for entity_id in ids}
    if tid is None:
        return states
    rows = conn.execute(
        "SELECT id, doc::text FROM entities WHERE tid = %s AND id = ANY(%s::text[])",
        (tid, sorted(states)),
    )
    for entity_id, text in rows:
        doc = orjson.loads(str(text))
        states[str(entity_id)] = State(doc)
    return states


def _write(conn: Conn, tid: int, states: dict[str, State]) -> None:
    for entity_id, state in states.items():
        if not state.dirty:
            continue
        rid: object = None
        if state.original is not None:
            row = conn.execute(
                "DELETE FROM entities WHERE tid = %s AND id = %s RETURNING rid"
                if state.deleted or state.doc is None
                else "UPDATE entities SET doc = %s::jsonb, types = %s WHERE tid = %s AND id = %s"
                " RETURNING rid",
                (tid, entity_id)
                if state.deleted or state.doc is None
                else (state.text, list(types_of(state.doc)), tid, entity_id),
            ).fetchone()
            rid = None if row is None else row[0]
            if rid is not None:
                conn.execute("DELETE FROM entity_geo WHERE rid = %s", (rid,))
            if state.deleted or state.doc is None:
                rid = None
        if state.doc is None:
            continue
        if rid is None:
            row = conn.execute(
                "INSERT INTO entities (tid, id, types, doc) VALUES (%s, %s, %s, %s::jsonb)"
                " RETURNING rid",
                (tid, entity_id, list(types_of(state.doc)), state.text),
            ).fetchone()
            assert row is not None
            rid = row[0]
        _write_geo(conn, tid, rid, geo_rows(state.doc))


def _write_geo(conn: Conn, tid: int, rid: object, rows: list[GeoRow]) -> None:
    if not rows:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO entity_geo (tid, rid, attr, box)"
            " VALUES (%s, %s, %s, ST_MakeEnvelope(%s, %s, %s, %s))",
            [(tid, rid, attr, *box) for attr, box in rows],
        )
