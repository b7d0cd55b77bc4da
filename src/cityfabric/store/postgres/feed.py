"""The history change feed on PostgreSQL (see `store/sqlite/feed.py` for its contract).

Feed numbers must follow commit order even with several writing processes: a writer
takes a transaction-scoped advisory lock just before it numbers its rows (max + 1) and
holds it until COMMIT, so a reader that sees fid n sees every smaller one. Only the
tail of each history write is serialized this way: `record` is the last statement of a
write transaction (after the change hook), so the lock covers it and the COMMIT.
"""

from __future__ import annotations

import time
from typing import Final

from cityfabric.store.base import ChangedSeries, ChangePage, ChangeQuery, Recorded
from cityfabric.store.history_rows import feed_value
from cityfabric.store.postgres.numeric import from_num
from cityfabric.store.postgres.write import Conn

FEED_LOCK: Final = 0x63666664  # pg_advisory_xact_lock key ("cffd")

_RECORD: Final = """
INSERT INTO hist_changes (fid, at, sid, lo, hi, ilo, ihi)
SELECT (SELECT coalesce(max(fid), 0) FROM hist_changes) + row_number() OVER (ORDER BY sid),
       %(at)s, sid, min(lo), max(hi), min(ilo), max(ihi)
FROM unnest(%(sids)s::bigint[], %(los)s::bigint[], %(his)s::bigint[],
            %(ilos)s::bigint[], %(ihis)s::bigint[]) AS r(sid, lo, hi, ilo, ihi)
GROUP BY sid
"""
_PRUNE: Final = (
    "DELETE FROM hist_changes WHERE at < %s AND fid < (SELECT max(fid) FROM hist_changes)"
)
_ROWS: Final = """
SELECT c.fid, c.sid, c.lo, c.hi, c.ilo, c.ihi, c.ihi - c.ilo + 1
FROM hist_changes AS c JOIN hist_series AS s ON s.sid = c.sid
JOIN hist_entities AS e ON e.heid = s.heid
WHERE c.fid > %(after)s AND c.fid <= %(upper)s AND s.attr = ANY(%(attrs)s::text[])
  AND e.tid = %(tid)s AND e.types @> ARRAY[%(type)s::text]
ORDER BY c.fid
"""
_SERIES: Final = """
SELECT s.sid, e.id, s.attr, s.dataset FROM hist_series AS s
JOIN hist_entities AS e ON e.heid = s.heid WHERE s.sid = ANY(%s::bigint[])
"""
_INSTANCES: Final = """
SELECT ts, num, val, dmod IS NOT NULL FROM hist
WHERE sid = %s AND ts BETWEEN %s AND %s AND iid BETWEEN %s AND %s ORDER BY ts, iid
"""
_FIRST_LATE: Final = "SELECT min(fid) FROM hist_changes WHERE at >= %s AND fid > %s"


def record(conn: Conn, ranges: list[tuple[int, int, int, int, int]]) -> None:
    """In the writer's transaction: one feed row per series written (see the module doc).

    The lock and the insert go in one pipeline (one round trip under the lock); the insert
    still runs after the lock is granted, with a snapshot taken then (READ COMMITTED), so
    it sees the rows of the transaction that held the lock before."""
    params = {
        "at": int(time.time() * 1000),
        "sids": [r[0] for r in ranges],
        "los": [r[1] for r in ranges],
        "his": [r[2] for r in ranges],
        "ilos": [r[3] for r in ranges],
        "ihis": [r[4] for r in ranges],
    }
    with conn.pipeline():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (FEED_LOCK,))
        conn.execute(_RECORD, params)


def prune(conn: Conn, before_ms: int) -> int:
    """Delete feed rows committed before `before_ms`; how many."""
    return max(conn.execute(_PRUNE, (before_ms,)).rowcount, 0)


def changes(conn: Conn, tid: int, query: ChangeQuery) -> ChangePage:
    """Whole feed rows after the cursor up to `max_instances`, with their instances."""
    upper = _upper(conn, query)
    params = {
        "after": query.after,
        "upper": upper,
        "attrs": list(query.attrs),
        "tid": tid,
        "type": query.entity_type,
    }
    taken: list[tuple[int, int, int, int, int, int]] = []
    budget = max(query.max_instances, 1)
    for fid, sid, lo, hi, ilo, ihi, size in conn.execute(_ROWS, params).fetchall():
        n = int(str(size))
        if taken and n > budget:
            return ChangePage(_series(conn, taken), taken[-1][0], True)
        taken.append(tuple(int(str(v)) for v in (fid, sid, lo, hi, ilo, ihi)))  # type: ignore[arg-type]
        budget -= n
    return ChangePage(_series(conn, taken), max(upper, query.after), False)


def _upper(conn: Conn, query: ChangeQuery) -> int:
    if query.before_ms is not None:
        row = conn.execute(_FIRST_LATE, (query.before_ms, query.after)).fetchone()
        if row is not None and row[0] is not None:
            return int(str(row[0])) - 1
    row = conn.execute("SELECT coalesce(max(fid), 0) FROM hist_changes").fetchone()
    return 0 if row is None else int(str(row[0]))


def _series(conn: Conn, taken: list[tuple[int, int, int, int, int, int]]) -> list[ChangedSeries]:
    if not taken:
        return []
    sids = sorted({row[1] for row in taken})
    by_sid: dict[int, ChangedSeries] = {
        int(str(sid)): ChangedSeries(str(entity_id), str(attr), str(dataset) or None)
        for sid, entity_id, attr, dataset in conn.execute(_SERIES, (sids,))
    }
    for _, sid, lo, hi, ilo, ihi in taken:
        series = by_sid.get(sid)
        if series is None:  # its history was deleted since
            continue
        for ts, num, val, observed in conn.execute(_INSTANCES, (sid, lo, hi, ilo, ihi)):
            value = from_num(num) if val is None else feed_value(str(val), from_num(num))
            series.instances.append(Recorded(int(str(ts)), value, bool(observed)))
    return [s for s in by_sid.values() if s.instances]
