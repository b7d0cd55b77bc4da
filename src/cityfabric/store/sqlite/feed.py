"""The history change feed: which series each write transaction appended to.

hist_changes(fid, at, sid, lo, hi, ilo, ihi)
    one row per series per flush of the writer's history rows (normally one per
    transaction): fid numbers them in commit order (max + 1, taken under the write lock,
    so a reader that sees fid n sees every smaller one; pruning keeps the newest row, so
    numbers never go back); at = the commit time (UTC ms, indexed for the upper bound and
    pruning); lo/hi and ilo/ihi bound the ts and instance numbers of the rows written, so
    the rows of a feed row are one range seek on hist's primary key (sid, ts, iid).

The writer adds the rows with one INSERT ... SELECT from the ranges it keeps for the
roll-ups (`record`); `changes` answers `ChangeQuery`; `prune` drops old rows in the
retention pass. Instances replaced in place (`replace_instance`) are not in the feed.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Final

import orjson

from cityfabric.store.base import ChangedSeries, ChangePage, ChangeQuery, Recorded
from cityfabric.store.history_rows import feed_value

SCHEMA: Final = """
CREATE TABLE hist_changes (
    fid INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    sid INTEGER NOT NULL,
    lo INTEGER NOT NULL,
    hi INTEGER NOT NULL,
    ilo INTEGER NOT NULL,
    ihi INTEGER NOT NULL
);
CREATE INDEX hist_changes_at ON hist_changes (at);
"""

# the newest row stays, so that a new row's fid (max + 1) never goes back
_PRUNE: Final = (
    "DELETE FROM hist_changes WHERE at < ? AND fid < (SELECT max(fid) FROM hist_changes)"
)
_RECORD: Final = """
INSERT INTO hist_changes (at, sid, lo, hi, ilo, ihi)
SELECT ?, sid, min(lo), max(hi), min(ilo), max(ihi) FROM temp.new_ranges GROUP BY sid
"""

# the feed rows after the cursor whose series belong to the type and attributes
_ROWS: Final = """
SELECT c.fid, c.sid, c.lo, c.hi, c.ilo, c.ihi, c.ihi - c.ilo + 1
FROM hist_changes AS c JOIN hist_series AS s ON s.sid = c.sid
WHERE c.fid > :after AND c.fid <= :upper
  AND s.attr IN (SELECT value FROM json_each(:attrs))
  AND s.heid IN (SELECT heid FROM hist_types WHERE tid = :tid AND type = :type)
ORDER BY c.fid
"""
_SERIES: Final = """
SELECT s.sid, e.id, s.attr, s.dataset FROM hist_series AS s
JOIN hist_entities AS e ON e.heid = s.heid
WHERE s.sid IN (SELECT value FROM json_each(:sids))
"""
_INSTANCES: Final = """
SELECT ts, num, val, dmod IS NOT NULL FROM hist
WHERE sid = ? AND ts BETWEEN ? AND ? AND iid BETWEEN ? AND ? ORDER BY ts, iid
"""
# by the index on `at`: the rows committed since `before_ms` are few
_FIRST_LATE: Final = (
    "SELECT min(fid) FROM hist_changes INDEXED BY hist_changes_at WHERE at >= ? AND fid > ?"
)


def record(conn: sqlite3.Connection) -> None:
    """On the writer, in its transaction: one feed row per series in `temp.new_ranges`."""
    conn.execute(_RECORD, (int(time.time() * 1000),))


def prune(conn: sqlite3.Connection, before_ms: int) -> int:
    """Delete feed rows committed before `before_ms`; how many."""
    cur = conn.execute(_PRUNE, (before_ms,))
    return max(cur.rowcount, 0)


def changes(conn: sqlite3.Connection, tid: int, query: ChangeQuery) -> ChangePage:
    """Whole feed rows after the cursor up to `max_instances`, with their instances.

    With nothing more to take, the cursor moves to the last feed row that may be read (of
    any series), so rows of other types are never scanned twice."""
    upper = _upper(conn, query)
    params = {
        "after": query.after,
        "upper": upper,
        "attrs": orjson.dumps(query.attrs).decode(),
        "tid": tid,
        "type": query.entity_type,
    }
    taken: list[tuple[int, int, int, int, int, int]] = []
    budget = max(query.max_instances, 1)
    for fid, sid, lo, hi, ilo, ihi, size in conn.execute(_ROWS, params):
        if taken and size > budget:
            return ChangePage(_series(conn, taken), taken[-1][0], True)
        taken.append((fid, sid, lo, hi, ilo, ihi))
        budget -= size
    return ChangePage(_series(conn, taken), max(upper, query.after), False)


def _upper(conn: sqlite3.Connection, query: ChangeQuery) -> int:
    """The last feed row that may be read: all up to it were committed before `before_ms`."""
    if query.before_ms is not None:
        row = conn.execute(_FIRST_LATE, (query.before_ms, query.after)).fetchone()
        if row[0] is not None:
            return int(row[0]) - 1
    return int(conn.execute("SELECT coalesce(max(fid), 0) FROM hist_changes").fetchone()[0])


def _series(
    conn: sqlite3.Connection, taken: list[tuple[int, int, int, int, int, int]]
) -> list[ChangedSeries]:
    if not taken:
        return []
    sids = sorted({row[1] for row in taken})
    by_sid: dict[int, ChangedSeries] = {
        sid: ChangedSeries(entity_id, attr, dataset or None)
        for sid, entity_id, attr, dataset in conn.execute(
            _SERIES, {"sids": orjson.dumps(sids).decode()}
        )
    }
    for _, sid, lo, hi, ilo, ihi in taken:
        series = by_sid.get(sid)
        if series is None:  # its history was deleted since
            continue
        series.instances.extend(
            Recorded(ts, num if val is None else feed_value(val, num), bool(observed))
            for ts, num, val, observed in conn.execute(_INSTANCES, (sid, lo, hi, ilo, ihi))
        )
    return [s for s in by_sid.values() if s.instances]
