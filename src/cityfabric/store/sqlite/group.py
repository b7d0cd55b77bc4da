"""One group commit: the mutations of several queued jobs turned into row changes.

`Group` keeps the current doc of every entity touched by the group, so a
later op on the same id sees the result of an earlier one, and then writes
all changes with `executemany`.

This is the serial hot path of every write, so it does as little Python
work per entity as it can: one indexed SELECT per tenant for all the ids the
group touches (none for a tenant not written to yet; the docs found are
parsed because the mutations need them), slotted `State` objects, each new
doc serialized once with orjson, its geo rows computed once (skipped by a
substring test when its JSON has no GeoProperty) and compared with the
stored ones as (attribute, bbox) tuples, and the R*Tree and type rows
rewritten only when they change.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence

import orjson

from cityfabric.ngsild.errors import InternalError, NgsiLdError
from cityfabric.ngsild.model import EntityDoc
from cityfabric.store.base import Mutation, WriteResult
from cityfabric.store.filters import GeoRow, geo_rows, types_of
from cityfabric.store.sqlite.history import HistoryWriter

log = logging.getLogger(__name__)


_NO_ROWS: list[GeoRow] = []  # shared, never appended to
_GEO_MARK = b'"GeoProperty"'


class State:
    """An entity as stored before the group (`original`) and as the group left it."""

    __slots__ = ("deleted", "dirty", "doc", "geo_rows", "original", "original_text", "rid", "text")

    def __init__(self, rid: int | None, original: EntityDoc | None, text: str | None) -> None:
        self.rid = rid
        self.original = original
        self.original_text = text  # the stored JSON of `original`
        self.doc = original
        self.text: str | None = None  # the JSON to write for `doc`
        self.geo_rows: list[GeoRow] = _NO_ROWS
        self.dirty = False
        self.deleted = False  # deleted at some point of the group (a re-create gets a new rid)


class Group:
    """The entities one transaction reads and writes, by tenant and id."""

    def __init__(
        self, conn: sqlite3.Connection, tids: dict[str, int], history: HistoryWriter
    ) -> None:
        self.conn = conn
        self.tids = dict(tids)  # the writer keeps new tenants only after COMMIT
        self.states: dict[str, dict[str, State]] = {}  # tenant -> id -> state
        self.history = history
        self.changes: list[tuple[str, str, EntityDoc | None, EntityDoc | None]] = []

    def preload(self, work: Sequence[tuple[str, Sequence[tuple[str, Mutation]]]]) -> None:
        """Read the stored docs of every (tenant, ops) of the group: one SELECT per tenant."""
        ids: dict[str, list[str]] = {}
        for tenant, ops in work:
            ids.setdefault(tenant, []).extend(entity_id for entity_id, _ in ops)
        for tenant, tenant_ids in ids.items():
            self._load(tenant, self._states(tenant), tenant_ids)

    def run(self, tenant: str, ops: Sequence[tuple[str, Mutation]]) -> list[WriteResult]:
        """Run one job's mutations in order; nothing is written yet."""
        states = self._states(tenant)
        self._load(tenant, states, [entity_id for entity_id, _ in ops])
        results: list[WriteResult] = []
        append = results.append
        dumps = orjson.dumps
        written = False
        for entity_id, mutation in ops:
            state = states[entity_id]
            before = state.doc
            try:
                after = mutation(before)
                if after is None:
                    text, rows = None, _NO_ROWS
                else:
                    if not isinstance(after, dict):
                        raise TypeError(f"a mutation returned {type(after).__name__}, not a doc")
                    raw = dumps(after)
                    rows = geo_rows(after) if _GEO_MARK in raw else _NO_ROWS
                    text = raw.decode()
            except NgsiLdError as err:
                append(WriteResult(entity_id, err, before))
                continue
            except Exception as err:
                log.exception("mutation for %r failed", entity_id)
                append(WriteResult(entity_id, InternalError(str(err)), before))
                continue
            if after is None and state.original is not None:
                state.deleted = True
            state.doc, state.text, state.geo_rows, state.dirty = after, text, rows, True
            append(WriteResult(entity_id, None, before, after))
            self.changes.append((tenant, entity_id, before, after))
            written = True
        if written:
            self.tid(tenant, create=True)
        return results

    def tid(self, tenant: str, *, create: bool) -> int | None:
        """The tenant's id; with `create`, registered by this transaction if new."""
        tid = self.tids.get(tenant)
        if tid is not None:
            return tid
        if create:
            self.conn.execute("INSERT OR IGNORE INTO tenants (name) VALUES (?)", (tenant,))
        row = self.conn.execute("SELECT tid FROM tenants WHERE name = ?", (tenant,)).fetchone()
        if row is None:
            return None
        tid = self.tids[tenant] = int(row[0])
        return tid

    def _states(self, tenant: str) -> dict[str, State]:
        states = self.states.get(tenant)
        if states is None:
            states = self.states[tenant] = {}
        return states

    def _load(self, tenant: str, states: dict[str, State], ids: list[str]) -> None:
        """Read the ids not seen yet by this group (a later op sees an earlier one's doc)."""
        missing = list(dict.fromkeys(entity_id for entity_id in ids if entity_id not in states))
        if not missing:
            return
        for entity_id in missing:
            states[entity_id] = State(None, None, None)
        tid = self.tids.get(tenant)
        if tid is None:  # maybe created by another process since this writer started
            row = self.conn.execute("SELECT tid FROM tenants WHERE name = ?", (tenant,)).fetchone()
            if row is None:  # a tenant nobody has written to holds no entity
                return
            tid = self.tids[tenant] = int(row[0])
        rows = self.conn.execute(
            "SELECT rid, id, doc FROM entities"
            " WHERE tid = ? AND id IN (SELECT value FROM json_each(?))",
            (tid, orjson.dumps(missing).decode()),
        )
        loads = orjson.loads
        for rid, entity_id, text in rows:
            states[entity_id] = State(rid, loads(text), text)

    def write(self) -> None:
        """Write every changed entity with `executemany`, then record their history."""
        changes = Changes(
            next_rid=self._next("SELECT coalesce(max(rid), 0) + 1 FROM entities"),
            next_gid=self._next("SELECT coalesce(max(gid), 0) + 1 FROM geo_index"),
        )
        add = changes.add
        for tenant, states in self.states.items():
            tid = self.tids.get(tenant)
            for entity_id, state in states.items():
                if state.dirty:
                    assert tid is not None  # a successful write registered the tenant
                    add(tid, entity_id, state)
        changes.execute(self.conn)
        record = self.history.record
        for tenant, entity_id, before, after in self.changes:
            record(self.tids[tenant], entity_id, before, after)
        self.history.flush()

    def _next(self, sql: str) -> int:
        return int(self.conn.execute(sql).fetchone()[0])


class Changes:
    """The row changes of one group, collected for `executemany`."""

    def __init__(self, next_rid: int, next_gid: int) -> None:
        self.next_rid = next_rid
        self.next_gid = next_gid
        self.deletes: list[tuple[int]] = []
        self.updates: list[tuple[str, int]] = []
        self.inserts: list[tuple[int, int, str, str]] = []
        self.types_del: list[tuple[int, str, int]] = []
        self.types_ins: list[tuple[int, str, int]] = []
        self.geo_del: list[tuple[int]] = []
        self.geo_index: list[tuple[int, int, str]] = []
        self.geo_boxes: list[tuple[int, float, float, float, float]] = []

    def add(self, tid: int, entity_id: str, state: State) -> None:
        """Plan the rows for one entity; an updated entity keeps its rid."""
        rid, doc, original = state.rid, state.doc, state.original
        if rid is not None and (doc is None or state.deleted):
            self.deletes.append((rid,))
            self.types_del.extend((tid, t, rid) for t in types_of(original))
            self.geo_del.append((rid,))
            rid = original = None
        if doc is None or state.text is None:
            return
        if rid is None:
            rid = self.next_rid
            self.next_rid += 1
            self.inserts.append((rid, tid, entity_id, state.text))
            self.types_ins.extend((tid, t, rid) for t in types_of(doc))
            geo_changed = True
        else:
            self.updates.append((state.text, rid))
            assert original is not None
            old_text = state.original_text
            old_rows = geo_rows(original) if old_text and '"GeoProperty"' in old_text else []
            geo_changed = old_rows != state.geo_rows
            if geo_changed:
                self.geo_del.append((rid,))
            if original.get("type") != doc.get("type"):
                old_types, new_types = types_of(original), types_of(doc)
                if set(old_types) != set(new_types):
                    self.types_del.extend((tid, t, rid) for t in old_types)
                    self.types_ins.extend((tid, t, rid) for t in new_types)
        if geo_changed:
            for attr, (min_lon, min_lat, max_lon, max_lat) in state.geo_rows:
                gid = self.next_gid
                self.next_gid += 1
                self.geo_index.append((gid, rid, attr))
                self.geo_boxes.append((gid, min_lon, max_lon, min_lat, max_lat))

    def execute(self, conn: sqlite3.Connection) -> None:
        """Deletes first, so an id deleted and created again in one group stays unique."""
        if self.deletes:
            conn.executemany("DELETE FROM entities WHERE rid = ?", self.deletes)
        if self.types_del:
            conn.executemany(
                "DELETE FROM entity_types WHERE tid = ? AND type = ? AND rid = ?", self.types_del
            )
        if self.geo_del:
            conn.executemany(
                "DELETE FROM geo_rtree WHERE gid IN (SELECT gid FROM geo_index WHERE rid = ?)",
                self.geo_del,
            )
            conn.executemany("DELETE FROM geo_index WHERE rid = ?", self.geo_del)
        if self.updates:
            conn.executemany("UPDATE entities SET doc = ? WHERE rid = ?", self.updates)
        if self.inserts:
            conn.executemany(
                "INSERT INTO entities (rid, tid, id, doc) VALUES (?, ?, ?, ?)", self.inserts
            )
        if self.types_ins:
            conn.executemany(
                "INSERT OR IGNORE INTO entity_types (tid, type, rid) VALUES (?, ?, ?)",
                self.types_ins,
            )
        if self.geo_index:
            conn.executemany(
                "INSERT INTO geo_index (gid, rid, attr) VALUES (?, ?, ?)", self.geo_index
            )
            conn.executemany(
                "INSERT INTO geo_rtree (gid, min_lon, max_lon, min_lat, max_lat)"
                " VALUES (?, ?, ?, ?, ?)",
                self.geo_boxes,
            )
