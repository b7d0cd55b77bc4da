"""The write side of history on PostgreSQL, in the transaction of the entity write.

The same rows as the SQLite engine (`store/sqlite/history.py`; both prepare them with
`store/history_rows.py`): one row per attribute instance in `hist`, partitioned by month on `ts`
(`partitions.py`), and the hourly and daily roll-ups merged in by upsert from the new
rows. `num` is `numeric`, so integers come back as integers and floats as floats.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

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
from cityfabric.store.postgres import feed, partitions
from cityfabric.store.postgres.numeric import num_param
from cityfabric.store.postgres.write import Conn

ROLLUPS = (("hist_hourly", HOUR_MS), ("hist_daily", DAY_MS))
_PROPERTY = {"type": "Property"}
_PROPERTY_TEXT = '{"type":"Property"}'
_RANGES = (
    "unnest(%(sids)s::bigint[], %(los)s::bigint[], %(his)s::bigint[],"
    " %(ilos)s::bigint[], %(ihis)s::bigint[]) AS r(sid, lo, hi, ilo, ihi)"
)
_UPSERT = """
INSERT INTO {table} AS t (sid, bucket, cnt, n, total, squares, low, high)
SELECT h.sid, h.ts - mod(h.ts, {size}), count(*), count(h.num), coalesce(sum(h.num::float8), 0),
       coalesce(sum(h.num::float8 * h.num::float8), 0), min(h.num), max(h.num)
FROM {ranges}
JOIN hist AS h ON h.sid = r.sid AND h.ts BETWEEN r.lo AND r.hi AND h.iid BETWEEN r.ilo AND r.ihi
WHERE h.dmod IS NOT NULL GROUP BY h.sid, h.ts - mod(h.ts, {size})
ON CONFLICT (sid, bucket) DO UPDATE SET
    cnt = t.cnt + excluded.cnt, n = t.n + excluded.n,
    total = t.total + excluded.total, squares = t.squares + excluded.squares,
    low = least(t.low, excluded.low), high = greatest(t.high, excluded.high)
"""
_REBUILD = """
INSERT INTO {table} (sid, bucket, cnt, n, total, squares, low, high)
SELECT %(sid)s, %(bucket)s, count(*), count(num), coalesce(sum(num::float8), 0),
       coalesce(sum(num::float8 * num::float8), 0), min(num), max(num)
FROM hist WHERE sid = %(sid)s AND ts >= %(bucket)s AND ts < %(bucket)s + %(size)s
  AND dmod IS NOT NULL HAVING count(*) > 0
"""
_INSERT = (
    "INSERT INTO hist (sid, ts, iid, num, val, dmod, extra)"
    " VALUES (%s, %s, %s, %s::numeric, %s, %s, %s)"
)


def _extra(rest: dict[str, Any], meta: dict[str, Any]) -> str | None:
    return None if rest == meta else orjson.dumps(rest).decode()


class HistoryWriter:
    """History rows of one transaction, written by `flush`."""

    def __init__(self, conn: Conn, *, keep_on_delete: bool = False) -> None:
        self.conn = conn
        self.keep_on_delete = keep_on_delete
        self._rows: list[tuple[object, ...]] = []
        self._ranges: list[tuple[int, int, int, int, int]] = []
        self._feed: list[tuple[int, int, int, int, int]] = []  # flushed, not yet in the feed

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
        """Collect instances of an entity's history; True when the entity had none before."""
        heid, created = self._entity(tid, entity_id, types)
        if not isinstance(instances, dict):
            instances = prepare(instances, parse_time(default_time, "a timestamp"))
        for (attr, dataset), series in instances.items():
            sid, meta = self._series(heid, attr, dataset, series.first)
            # ascending, maybe with gaps: the entity's lock keeps other writers off the series
            row = self.conn.execute(
                "SELECT array_agg(nextval('hist_iid') ORDER BY g) FROM generate_series(1, %s) g",
                (len(series.rows),),
            ).fetchone()
            assert row is not None
            iids = sorted(int(str(i)) for i in row[0])  # type: ignore[attr-defined]
            self._ranges.append((sid, series.lo, series.hi, iids[0], iids[-1]))
            plain = None if meta == _PROPERTY else _PROPERTY_TEXT
            self._rows.extend(
                (
                    sid,
                    ts,
                    iids[i],
                    num_param(num),
                    val,
                    dmod,
                    plain
                    if rest is None
                    else (None if rest == meta else orjson.dumps(rest).decode()),
                )
                for i, (ts, num, val, dmod, rest) in enumerate(series.rows)
            )
        return created

    def flush(self, *, feed_now: bool = True) -> None:
        """Write the collected instances and merge them into the roll-ups; record them in the
        feed now, or with `feed_now=False` leave that to `record_feed`."""
        rows, self._rows = self._rows, []
        ranges, self._ranges = self._ranges, []
        if not rows:
            return
        partitions.ensure(self.conn, [int(str(row[1])) for row in rows])
        with self.conn.cursor() as cur:
            cur.executemany(_INSERT, rows)
        params = {
            "sids": [r[0] for r in ranges],
            "los": [r[1] for r in ranges],
            "his": [r[2] for r in ranges],
            "ilos": [r[3] for r in ranges],
            "ihis": [r[4] for r in ranges],
        }
        for table, size in ROLLUPS:
            self.conn.execute(_UPSERT.format(table=table, size=size, ranges=_RANGES), params)
        self._feed.extend(ranges)
        if feed_now:
            self.record_feed()

    def record_feed(self) -> None:
        """Number the flushed series in the change feed. This takes the feed's lock, which
        serializes writers until COMMIT, so it is the last statement of a transaction."""
        ranges, self._feed = self._feed, []
        if ranges:
            feed.record(self.conn, ranges)

    def _entity(self, tid: int, entity_id: str, types: list[str]) -> tuple[int, bool]:
        row = self.conn.execute(
            "INSERT INTO hist_entities (tid, id, types) VALUES (%s, %s, %s)"
            " ON CONFLICT (tid, id) DO NOTHING RETURNING heid",
            (tid, entity_id, types),
        ).fetchone()
        if row is not None:
            return int(str(row[0])), True
        row = self.conn.execute(
            "SELECT heid, types FROM hist_entities WHERE tid = %s AND id = %s", (tid, entity_id)
        ).fetchone()
        assert row is not None
        heid = int(str(row[0]))
        if row[1] != types:
            self.conn.execute("UPDATE hist_entities SET types = %s WHERE heid = %s", (types, heid))
        return heid, False

    def _series(self, heid: int, attr: str, dataset: str, inst: Instance) -> tuple[int, Any]:
        meta = rest_of(inst)
        row = self.conn.execute(
            "INSERT INTO hist_series (heid, attr, dataset, meta) VALUES (%s, %s, %s, %s::jsonb)"
            " ON CONFLICT (heid, attr, dataset) DO NOTHING RETURNING sid",
            (heid, attr, dataset, orjson.dumps(meta).decode()),
        ).fetchone()
        if row is not None:
            return int(str(row[0])), meta
        row = self.conn.execute(
            "SELECT sid, meta::text FROM hist_series"
            " WHERE heid = %s AND attr = %s AND dataset = %s",
            (heid, attr, dataset),
        ).fetchone()
        assert row is not None
        return int(str(row[0])), orjson.loads(str(row[1]))

    # -- changes to recorded history -------------------------------------------------

    def heid(self, tid: int, entity_id: str) -> int:
        row = self.conn.execute(
            "SELECT heid FROM hist_entities WHERE tid = %s AND id = %s", (tid, entity_id)
        ).fetchone()
        if row is None:
            raise ResourceNotFound(f"no history of entity {entity_id!r}")
        return int(str(row[0]))

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
        sql = "SELECT sid FROM hist_series WHERE heid = %s"
        params: list[object] = [heid]
        if attr is not None:
            sql += " AND attr = %s"
            params.append(attr)
            if dataset is not None:
                sql += " AND dataset = %s"
                params.append(dataset)
        sids = [int(str(r[0])) for r in self.conn.execute(sql, params)]
        if attr is not None and not sids:
            raise ResourceNotFound(f"entity {entity_id!r} has no history of {attr!r}")
        for table in ("hist", "hist_hourly", "hist_daily", "hist_series"):
            self.conn.execute(f"DELETE FROM {table} WHERE sid = ANY(%s::bigint[])", (sids,))
        if attr is None:
            self.conn.execute("DELETE FROM hist_entities WHERE heid = %s", (heid,))

    def find_instance(self, tid: int, entity_id: str, attr: str, text: str) -> tuple[int, int, int]:
        """(sid, ts, iid) of an instance of that entity and attribute; ResourceNotFound."""
        sid, iid = parse_instance_id(text)
        heid = self.heid(tid, entity_id)
        row = self.conn.execute(
            "SELECT h.ts FROM hist_series AS s JOIN hist AS h ON h.sid = s.sid"
            " WHERE s.sid = %s AND s.heid = %s AND s.attr = %s AND h.iid = %s",
            (sid, heid, attr, iid),
        ).fetchone()
        if row is None:
            raise ResourceNotFound(f"no instance {text!r} of {attr!r} in {entity_id!r}")
        return sid, int(str(row[0])), iid

    def delete_instance(self, tid: int, entity_id: str, attr: str, text: str) -> None:
        sid, ts, iid = self.find_instance(tid, entity_id, attr, text)
        self.conn.execute(
            "DELETE FROM hist WHERE sid = %s AND ts = %s AND iid = %s", (sid, ts, iid)
        )
        self._rebuild(sid, ts)

    def replace_instance(
        self, tid: int, entity_id: str, attr: str, text: str, inst: Instance, now: str
    ) -> None:
        """Replace an instance's value and members, keeping its instanceId."""
        sid, ts, iid = self.find_instance(tid, entity_id, attr, text)
        row = self.conn.execute(
            "SELECT s.meta::text, h.dmod IS NOT NULL FROM hist_series AS s"
            " JOIN hist AS h ON h.sid = s.sid WHERE s.sid = %s AND h.ts = %s AND h.iid = %s",
            (sid, ts, iid),
        ).fetchone()
        assert row is not None
        meta, observed = orjson.loads(str(row[0])), bool(row[1])
        if observed and "observedAt" not in inst:  # a patch of the value keeps its time
            inst = {**inst, "observedAt": format_time(ts)}
        self.conn.execute(
            "DELETE FROM hist WHERE sid = %s AND ts = %s AND iid = %s", (sid, ts, iid)
        )
        prepared = prepare([(attr, {**inst, "modifiedAt": now})], parse_time(now, "modifiedAt"))
        new_ts, num, val, dmod, rest = next(iter(prepared.values())).rows[0]
        extra = _extra(rest or _PROPERTY, meta)
        partitions.ensure(self.conn, [new_ts])
        self.conn.execute(_INSERT, (sid, new_ts, iid, num_param(num), val, dmod, extra))
        self._rebuild(sid, ts)
        if new_ts != ts:
            self._rebuild(sid, new_ts)

    def _rebuild(self, sid: int, ts: int) -> None:
        """Recompute the roll-up buckets holding `ts` from the raw instances."""
        for table, size in ROLLUPS:
            bucket = ts - ts % size
            self.conn.execute(f"DELETE FROM {table} WHERE sid = %s AND bucket = %s", (sid, bucket))
            self.conn.execute(
                _REBUILD.format(table=table), {"sid": sid, "bucket": bucket, "size": size}
            )

    def expire(self, now: int, default_ms: int | None) -> int:
        """Delete raw instances older than their retention (whole UTC days); roll-ups stay."""
        rules: dict[int, dict[str, int]] = {}
        for tid, type_, raw_ms in self.conn.execute("SELECT tid, type, raw_ms FROM hist_retention"):
            rules.setdefault(int(str(tid)), {})[str(type_)] = int(str(raw_ms))
        deleted = 0
        for heid, tid, types in self.conn.execute(
            "SELECT heid, tid, types FROM hist_entities"
        ).fetchall():
            tenant_rules = rules.get(int(str(tid)), {})
            spans = [tenant_rules[t] for t in types if t in tenant_rules]  # type: ignore[attr-defined]
            keep = min(spans) if spans else tenant_rules.get("", default_ms)
            if keep is None:
                continue
            cutoff = now - keep
            cutoff -= cutoff % DAY_MS
            cur = self.conn.execute(
                "DELETE FROM hist WHERE ts < %s AND sid IN (SELECT sid FROM hist_series"
                " WHERE heid = %s)",
                (cutoff, heid),
            )
            deleted += max(cur.rowcount, 0)
        partitions.drop_empty(self.conn, now)
        return deleted
