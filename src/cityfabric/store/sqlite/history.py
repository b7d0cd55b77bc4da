"""The writer's side of history: attribute instances and roll-ups, in the entity's transaction.

Every entity write of a group records the instances it created or changed
(`record`), and the temporal API's own writes (`add`, `delete`, `patch_instance`,
`expire`) run on the same writer thread, so history and current state commit
together. Rows are collected during the group and written with
`executemany` by `flush`, with the hourly and daily roll-ups of the new
instances merged in by upsert.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any, Final

import orjson

from cityfabric.ngsild.entity import now_iso
from cityfabric.ngsild.errors import ResourceNotFound
from cityfabric.ngsild.model import EntityDoc, Instance
from cityfabric.ngsild.temporal import DAY_MS, HOUR_MS, format_time, parse_time
from cityfabric.store.history_rows import (
    Prepared,
    changed_instances,
    parse_instance_id,
    prepare,
    rest_of,
)
from cityfabric.store.sqlite import feed

_CACHE_LIMIT: Final = 500_000  # cached series before the cache is dropped and reloaded

_PROPERTY: Final = {"type": "Property"}
_PROPERTY_TEXT: Final = '{"type":"Property"}'
Row = tuple[int, int, int, Any, str | None, int | None, str | None]
# sid, ts, iid, num, val, dmod, extra

ROLLUPS: Final = (("hist_hourly", HOUR_MS), ("hist_daily", DAY_MS))
_UPSERT = """
INSERT INTO {table} (sid, bucket, cnt, n, total, squares, low, high)
SELECT h.sid, h.ts - h.ts % {size}, count(*), count(h.num), total(h.num), total(h.num * h.num),
       min(h.num), max(h.num)
FROM temp.new_ranges AS r
JOIN hist AS h ON h.sid = r.sid AND h.ts BETWEEN r.lo AND r.hi AND h.iid BETWEEN r.ilo AND r.ihi
WHERE h.dmod IS NOT NULL GROUP BY h.sid, h.ts - h.ts % {size}
ON CONFLICT (sid, bucket) DO UPDATE SET
    cnt = cnt + excluded.cnt, n = n + excluded.n,
    total = total + excluded.total, squares = squares + excluded.squares,
    low = min(coalesce(low, excluded.low), coalesce(excluded.low, low)),
    high = max(coalesce(high, excluded.high), coalesce(excluded.high, high))
"""
_REBUILD = """
INSERT INTO {table} (sid, bucket, cnt, n, total, squares, low, high)
SELECT :sid, :bucket, count(*), count(num), total(num), total(num * num), min(num), max(num)
FROM hist WHERE sid = :sid AND ts >= :bucket AND ts < :bucket + :size AND dmod IS NOT NULL
HAVING count(*) > 0
"""


def _extra(rest: dict[str, Any], meta: dict[str, Any]) -> str | None:
    return None if rest == meta else orjson.dumps(rest).decode()


class HistoryWriter:
    """History rows of one writer connection; caches survive groups, not rollbacks."""

    def __init__(self, conn: sqlite3.Connection, *, keep_on_delete: bool = False) -> None:
        self.conn = conn
        self.keep_on_delete = keep_on_delete
        self._heids: dict[tuple[int, str], tuple[int, list[str]]] = {}
        self._series: dict[tuple[int, str, str], tuple[int, dict[str, Any]]] = {}
        self._data_version = -1
        self._rows: list[Row] = []
        self._ranges: list[tuple[int, int, int, int, int]] = []  # sid, ts lo/hi, iid lo/hi
        self._next_iid = 0
        conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS new_ranges"
            " (sid INTEGER, lo INTEGER, hi INTEGER, ilo INTEGER, ihi INTEGER)"
        )

    # -- the group's life cycle ------------------------------------------------------

    def begin(self) -> None:
        """Start of a group, inside its transaction: drop caches another process made stale."""
        version = int(self.conn.execute("PRAGMA data_version").fetchone()[0])
        if version != self._data_version:
            self.forget()
            self._data_version = version
        self._next_iid = int(
            self.conn.execute("SELECT value FROM counters WHERE name = 'iid'").fetchone()[0]
        )
        self._rows = []
        self._ranges = []

    def forget(self) -> None:
        """Drop every cache (after a rollback, or when another process wrote)."""
        self._heids.clear()
        self._series.clear()

    def flush(self) -> None:
        """Write the collected instances and merge them into the roll-ups.

        The roll-ups are grouped in SQL from the new rows, found by the (series, time
        range, instance numbers) of each series written, kept in an in-memory table.
        """
        rows, self._rows = self._rows, []
        ranges, self._ranges = self._ranges, []
        if not rows:
            return
        conn = self.conn
        conn.executemany("INSERT INTO hist VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        conn.executemany("INSERT INTO temp.new_ranges VALUES (?, ?, ?, ?, ?)", ranges)
        for table, size in ROLLUPS:
            conn.execute(_UPSERT.format(table=table, size=size))
        feed.record(conn)  # the change feed: one row per series written
        conn.execute("DELETE FROM temp.new_ranges")
        conn.execute("UPDATE counters SET value = ? WHERE name = 'iid'", (self._next_iid,))

    def mark(self) -> tuple[int, int, int]:
        """Where the collected rows end now, for `undo`."""
        return len(self._rows), len(self._ranges), self._next_iid

    def undo(self, mark: tuple[int, int, int]) -> None:
        """Drop the rows collected since `mark` (their job failed); caches may be stale."""
        del self._rows[mark[0] :]
        del self._ranges[mark[1] :]
        self._next_iid = mark[2]
        self.forget()

    # -- recording ---------------------------------------------------------------------

    def record(
        self, tid: int, entity_id: str, before: EntityDoc | None, after: EntityDoc | None
    ) -> None:
        """The history of one entity write: its new instances, or its deletion."""
        if after is None:
            if before is not None and not self.keep_on_delete:
                self.delete(tid, entity_id, None, None, missing_ok=True)
            return
        changed = list(changed_instances(before, after))
        if changed:
            types = after.get("type") or []
            types = [types] if isinstance(types, str) else types
            self.add(tid, entity_id, types, changed, after.get("createdAt") or now_iso())

    def add(
        self,
        tid: int,
        entity_id: str,
        types: list[str],
        instances: Iterable[tuple[str, Instance]] | Prepared,
        default_time: str,
    ) -> bool:
        """Append instances to an entity's history; True when the entity had none before.

        `instances` may come prepared (`prepare`, run off the writer thread).
        """
        heid, created = self._entity(tid, entity_id, types)
        if not isinstance(instances, dict):
            instances = prepare(instances, parse_time(default_time, "a timestamp"))
        rows = self._rows
        for (attr, dataset), series in instances.items():
            sid, meta = self._series.get((heid, attr, dataset)) or self._series_of(
                heid, attr, dataset, series.first
            )
            base = self._next_iid
            self._next_iid += len(series.rows)
            self._ranges.append((sid, series.lo, series.hi, base, self._next_iid - 1))
            plain = None if meta == _PROPERTY else _PROPERTY_TEXT
            rows.extend(
                (sid, ts, base + i, num, val, dmod, plain if rest is None else _extra(rest, meta))
                for i, (ts, num, val, dmod, rest) in enumerate(series.rows)
            )
        return created

    def _entity(self, tid: int, entity_id: str, types: list[str]) -> tuple[int, bool]:
        key = (tid, entity_id)
        known = self._heids.get(key)
        if known is None:
            row = self.conn.execute(
                "SELECT heid, types FROM hist_entities WHERE tid = ? AND id = ?", key
            ).fetchone()
            if row is not None:
                known = (int(row[0]), orjson.loads(row[1]))
        if known is None:
            cur = self.conn.execute(
                "INSERT INTO hist_entities (tid, id, types) VALUES (?, ?, ?)",
                (tid, entity_id, orjson.dumps(types).decode()),
            )
            heid = int(cur.lastrowid or 0)
            self._insert_types(tid, heid, types)
            self._heids[key] = (heid, list(types))
            return heid, True
        heid, old_types = known
        if old_types != types:
            self.conn.execute(
                "UPDATE hist_entities SET types = ? WHERE heid = ?",
                (orjson.dumps(types).decode(), heid),
            )
            self._insert_types(tid, heid, types)
        self._heids[key] = (heid, list(types))
        return heid, False

    def _insert_types(self, tid: int, heid: int, types: list[str]) -> None:
        self.conn.executemany(
            "INSERT OR IGNORE INTO hist_types (tid, type, heid) VALUES (?, ?, ?)",
            [(tid, t, heid) for t in types],
        )

    def _series_of(
        self, heid: int, attr: str, dataset: str, inst: Instance
    ) -> tuple[int, dict[str, Any]]:
        key = (heid, attr, dataset)
        known = self._series.get(key)
        if known is not None:
            return known
        row = self.conn.execute(
            "SELECT sid, meta FROM hist_series WHERE heid = ? AND attr = ? AND dataset = ?", key
        ).fetchone()
        if row is not None:
            known = (int(row[0]), orjson.loads(row[1]))
        else:
            meta = rest_of(inst)
            cur = self.conn.execute(
                "INSERT INTO hist_series (heid, attr, dataset, meta) VALUES (?, ?, ?, ?)",
                (heid, attr, dataset, orjson.dumps(meta).decode()),
            )
            known = (int(cur.lastrowid or 0), meta)
        if len(self._series) > _CACHE_LIMIT:
            self._series.clear()
        self._series[key] = known
        return known

    # -- changes to recorded history -------------------------------------------------

    def heid(self, tid: int, entity_id: str) -> int:
        row = self.conn.execute(
            "SELECT heid FROM hist_entities WHERE tid = ? AND id = ?", (tid, entity_id)
        ).fetchone()
        if row is None:
            raise ResourceNotFound(f"no history of entity {entity_id!r}")
        return int(row[0])

    def delete(
        self,
        tid: int,
        entity_id: str,
        attr: str | None,
        dataset: str | None,
        *,
        missing_ok: bool = False,
    ) -> None:
        """Delete the history of an entity, or of one attribute (one dataset or all)."""
        try:
            heid = self.heid(tid, entity_id)
        except ResourceNotFound:
            if missing_ok:
                return
            raise
        sql = "SELECT sid FROM hist_series WHERE heid = ?"
        params: list[object] = [heid]
        if attr is not None:
            sql += " AND attr = ?"
            params.append(attr)
            if dataset is not None:
                sql += " AND dataset = ?"
                params.append(dataset)
        sids = [(int(r[0]),) for r in self.conn.execute(sql, params)]
        if attr is not None and not sids:
            raise ResourceNotFound(f"entity {entity_id!r} has no history of {attr!r}")
        for table in ("hist", "hist_hourly", "hist_daily", "hist_series"):
            self.conn.executemany(f"DELETE FROM {table} WHERE sid = ?", sids)
        if attr is None:
            self.conn.execute("DELETE FROM hist_types WHERE tid = ? AND heid = ?", (tid, heid))
            self.conn.execute("DELETE FROM hist_entities WHERE heid = ?", (heid,))
        self.forget()

    def find_instance(self, tid: int, entity_id: str, attr: str, text: str) -> tuple[int, int, int]:
        """(sid, ts, iid) of an instance of that entity and attribute; ResourceNotFound."""
        sid, iid = parse_instance_id(text)
        heid = self.heid(tid, entity_id)
        row = self.conn.execute(
            "SELECT h.ts FROM hist_series AS s JOIN hist AS h ON h.sid = s.sid"
            " WHERE s.sid = ? AND s.heid = ? AND s.attr = ? AND h.iid = ?",
            (sid, heid, attr, iid),
        ).fetchone()
        if row is None:
            raise ResourceNotFound(f"no instance {text!r} of {attr!r} in {entity_id!r}")
        return sid, int(row[0]), iid

    def delete_instance(self, tid: int, entity_id: str, attr: str, text: str) -> None:
        sid, ts, iid = self.find_instance(tid, entity_id, attr, text)
        self.conn.execute("DELETE FROM hist WHERE sid = ? AND ts = ? AND iid = ?", (sid, ts, iid))
        self._rebuild(sid, ts)

    def replace_instance(
        self, tid: int, entity_id: str, attr: str, text: str, inst: Instance, now: str
    ) -> None:
        """Replace an instance's value and members, keeping its instanceId."""
        sid, ts, iid = self.find_instance(tid, entity_id, attr, text)
        meta = orjson.loads(
            self.conn.execute("SELECT meta FROM hist_series WHERE sid = ?", (sid,)).fetchone()[0]
        )
        observed = self.conn.execute(
            "SELECT dmod IS NOT NULL FROM hist WHERE sid = ? AND ts = ? AND iid = ?", (sid, ts, iid)
        ).fetchone()[0]
        if observed and "observedAt" not in inst:  # a patch of the value keeps its time
            inst = {**inst, "observedAt": format_time(ts)}
        self.conn.execute("DELETE FROM hist WHERE sid = ? AND ts = ? AND iid = ?", (sid, ts, iid))
        prepared = prepare([(attr, {**inst, "modifiedAt": now})], parse_time(now, "modifiedAt"))
        new_ts, num, val, dmod, rest = next(iter(prepared.values())).rows[0]
        row = (sid, new_ts, iid, num, val, dmod, _extra(rest or _PROPERTY, meta))
        self.conn.execute("INSERT INTO hist VALUES (?, ?, ?, ?, ?, ?, ?)", row)  # same iid
        self._rebuild(sid, ts)
        if new_ts != ts:
            self._rebuild(sid, new_ts)

    def _rebuild(self, sid: int, ts: int) -> None:
        """Recompute the roll-up buckets holding `ts` from the raw instances."""
        for table, size in ROLLUPS:
            bucket = ts - ts % size
            self.conn.execute(f"DELETE FROM {table} WHERE sid = ? AND bucket = ?", (sid, bucket))
            self.conn.execute(
                _REBUILD.format(table=table), {"sid": sid, "bucket": bucket, "size": size}
            )

    def expire(self, now: int, default_ms: int | None) -> int:
        """Delete raw instances older than their retention (whole UTC days); roll-ups stay."""
        rules: dict[int, dict[str, int]] = {}
        for tid, type_, raw_ms in self.conn.execute("SELECT tid, type, raw_ms FROM hist_retention"):
            rules.setdefault(int(tid), {})[type_] = int(raw_ms)
        deleted = 0
        for heid, tid, types in self.conn.execute(
            "SELECT heid, tid, types FROM hist_entities"
        ).fetchall():
            tenant_rules = rules.get(int(tid), {})
            spans = [tenant_rules[t] for t in orjson.loads(types) if t in tenant_rules]
            keep = min(spans) if spans else tenant_rules.get("", default_ms)
            if keep is None:
                continue
            cutoff = now - keep
            cutoff -= cutoff % DAY_MS
            cur = self.conn.execute(
                "DELETE FROM hist WHERE ts < ? AND sid IN (SELECT sid FROM hist_series"
                " WHERE heid = ?)",
                (cutoff, heid),
            )
            deleted += max(cur.rowcount, 0)
        return deleted
