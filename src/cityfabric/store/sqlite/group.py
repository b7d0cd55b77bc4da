"""One group commit: the mutations of several queued jobs turned into row changes.

`Group` keeps the current doc of every entity touched by the group, so a
later op on the same id sees the result of an earlier one, and then writes
all changes with `executemany`.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import orjson

from cityfabric.ngsild import geo
from cityfabric.ngsild.errors import InternalError, NgsiLdError
from cityfabric.ngsild.model import EntityDoc
from cityfabric.store.base import Mutation, WriteResult

log = logging.getLogger(__name__)

GeoRow = tuple[str, tuple[float, float, float, float]]  # attribute IRI, bbox


@dataclass
class State:
    """An entity as stored before the group (`original`) and as the group left it."""

    rid: int | None
    original: EntityDoc | None
    doc: EntityDoc | None
    text: str | None = None
    geo_rows: list[GeoRow] = field(default_factory=list)
    dirty: bool = False
    deleted: bool = False  # deleted at some point of the group (a re-create gets a new rid)


def types_of(doc: EntityDoc | None) -> tuple[str, ...]:
    """The type IRIs of a doc (a list or one string)."""
    if doc is None:
        return ()
    types = doc.get("type", ())
    return (types,) if isinstance(types, str) else tuple(t for t in types if isinstance(t, str))


def geo_rows(doc: EntityDoc) -> list[GeoRow]:
    """The bbox of every GeoProperty instance of every attribute."""
    rows: list[GeoRow] = []
    for attr, instances in (doc.get("attrs") or {}).items():
        for inst in instances if isinstance(instances, list) else [instances]:
            if isinstance(inst, dict) and inst.get("type") == "GeoProperty":
                value = inst.get("value")
                if isinstance(value, dict):
                    min_lon, min_lat, max_lon, max_lat = geo.bbox(value)
                    rows.append((attr, (min_lon, min_lat, max_lon, max_lat)))
    return rows


def _geo_key(doc: EntityDoc | None) -> list[tuple[str, object]]:
    if doc is None:
        return []
    return [
        (attr, inst.get("value"))
        for attr, instances in (doc.get("attrs") or {}).items()
        for inst in instances
        if isinstance(inst, dict) and inst.get("type") == "GeoProperty"
    ]


class Group:
    """The entities one transaction reads and writes, keyed by (tenant, id)."""

    def __init__(self, conn: sqlite3.Connection, tids: dict[str, int]) -> None:
        self.conn = conn
        self.tids = dict(tids)  # the writer keeps new tenants only after COMMIT
        self.states: dict[tuple[str, str], State] = {}

    def run(self, tenant: str, ops: Sequence[tuple[str, Mutation]]) -> list[WriteResult]:
        """Run one job's mutations in order; nothing is written yet."""
        self._load(tenant, dict.fromkeys(entity_id for entity_id, _ in ops))
        results = [self._run_op(tenant, entity_id, mutation) for entity_id, mutation in ops]
        if any(result.ok for result in results) and tenant not in self.tids:
            self.conn.execute("INSERT OR IGNORE INTO tenants (name) VALUES (?)", (tenant,))
            row = self.conn.execute("SELECT tid FROM tenants WHERE name = ?", (tenant,)).fetchone()
            self.tids[tenant] = int(row[0])
        return results

    def _load(self, tenant: str, ids: Iterable[str]) -> None:
        missing = [i for i in ids if (tenant, i) not in self.states]
        for entity_id in missing:
            self.states[(tenant, entity_id)] = State(None, None, None)
        tid = self.tids.get(tenant)
        if not missing or tid is None:
            return
        rows = self.conn.execute(
            "SELECT rid, id, doc FROM entities"
            " WHERE tid = ? AND id IN (SELECT value FROM json_each(?))",
            (tid, orjson.dumps(missing).decode()),
        )
        for rid, entity_id, text in rows:
            doc = orjson.loads(text)
            self.states[(tenant, entity_id)] = State(rid, doc, doc)

    def _run_op(self, tenant: str, entity_id: str, mutation: Mutation) -> WriteResult:
        state = self.states[(tenant, entity_id)]
        before = state.doc
        try:
            after = mutation(before)
            if after is not None and not isinstance(after, dict):
                raise TypeError(f"a mutation returned {type(after).__name__}, not a doc")
            text = None if after is None else orjson.dumps(after).decode()
            rows = [] if after is None else geo_rows(after)
        except NgsiLdError as err:
            return WriteResult(entity_id, error=err, before=before)
        except Exception as err:
            log.exception("mutation for %r failed", entity_id)
            return WriteResult(entity_id, error=InternalError(str(err)), before=before)
        if after is None and state.original is not None:
            state.deleted = True
        state.doc, state.text, state.geo_rows, state.dirty = after, text, rows, True
        return WriteResult(entity_id, before=before, after=after)

    def write(self) -> None:
        """Write every changed entity with `executemany`."""
        changes = Changes(
            next_rid=self._next("SELECT coalesce(max(rid), 0) + 1 FROM entities"),
            next_gid=self._next("SELECT coalesce(max(gid), 0) + 1 FROM geo_index"),
        )
        for (tenant, entity_id), state in self.states.items():
            if state.dirty:
                changes.add(self.tids[tenant], entity_id, state)
        changes.execute(self.conn)

    def _next(self, sql: str) -> int:
        return int(self.conn.execute(sql).fetchone()[0])


@dataclass
class Changes:
    """The row changes of one group, collected for `executemany`."""

    next_rid: int
    next_gid: int
    deletes: list[tuple[int]] = field(default_factory=list)
    updates: list[tuple[str, int]] = field(default_factory=list)
    inserts: list[tuple[int, int, str, str]] = field(default_factory=list)
    types_del: list[tuple[int, str, int]] = field(default_factory=list)
    types_ins: list[tuple[int, str, int]] = field(default_factory=list)
    geo_del: list[tuple[int]] = field(default_factory=list)
    geo_index: list[tuple[int, int, str]] = field(default_factory=list)
    geo_boxes: list[tuple[int, float, float, float, float]] = field(default_factory=list)

    def add(self, tid: int, entity_id: str, state: State) -> None:
        """Plan the rows for one entity; an updated entity keeps its rid."""
        rid = state.rid
        old_types, new_types = types_of(state.original), types_of(state.doc)
        if rid is not None and (state.doc is None or state.deleted):
            self.deletes.append((rid,))
            self.types_del.extend((tid, t, rid) for t in old_types)
            self.geo_del.append((rid,))
            old_types, rid = (), None
        if state.doc is None or state.text is None:
            return
        geo_changed = rid is None or _geo_key(state.original) != _geo_key(state.doc)
        if rid is None:
            rid, self.next_rid = self.next_rid, self.next_rid + 1
            self.inserts.append((rid, tid, entity_id, state.text))
        else:
            self.updates.append((state.text, rid))
            if geo_changed:
                self.geo_del.append((rid,))
        if set(old_types) != set(new_types):
            self.types_del.extend((tid, t, rid) for t in old_types)
            self.types_ins.extend((tid, t, rid) for t in new_types)
        if geo_changed:
            for attr, (min_lon, min_lat, max_lon, max_lat) in state.geo_rows:
                self.geo_index.append((self.next_gid, rid, attr))
                self.geo_boxes.append((self.next_gid, min_lon, max_lon, min_lat, max_lat))
                self.next_gid += 1

    def execute(self, conn: sqlite3.Connection) -> None:
        """Deletes first, so an id deleted and created again in one group stays unique."""
        conn.executemany("DELETE FROM entities WHERE rid = ?", self.deletes)
        conn.executemany(
            "DELETE FROM entity_types WHERE tid = ? AND type = ? AND rid = ?", self.types_del
        )
        conn.executemany(
            "DELETE FROM geo_rtree WHERE gid IN (SELECT gid FROM geo_index WHERE rid = ?)",
            self.geo_del,
        )
        conn.executemany("DELETE FROM geo_index WHERE rid = ?", self.geo_del)
        conn.executemany("UPDATE entities SET doc = ? WHERE rid = ?", self.updates)
        conn.executemany(
            "INSERT INTO entities (rid, tid, id, doc) VALUES (?, ?, ?, ?)", self.inserts
        )
        conn.executemany(
            "INSERT OR IGNORE INTO entity_types (tid, type, rid) VALUES (?, ?, ?)", self.types_ins
        )
        conn.executemany("INSERT INTO geo_index (gid, rid, attr) VALUES (?, ?, ?)", self.geo_index)
        conn.executemany(
            "INSERT INTO geo_rtree (gid, min_lon, max_lon, min_lat, max_lat)"
            " VALUES (?, ?, ?, ?, ?)",
            self.geo_boxes,
        )
