"""Monthly range partitions of `hist` on `ts` (UTC ms): created ahead and on demand, dropped
when retention has emptied them.

A partition is named `hist_YYYYMM`. `ensure` creates the months a write needs (a backfill
may reach far into the past) under an advisory lock, so several processes never race on
one; `ahead` creates the current month and the next ones at start-up and at every
retention pass; `drop_empty` drops the partitions of months before the previous one that
hold no row. Existence is looked up in the catalog on every write (one round trip, no
cache that a rolled-back transaction or another process could make stale).
"""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Iterable
from datetime import UTC, datetime

from cityfabric.ngsild.temporal import DAY_MS
from cityfabric.store.postgres.write import Conn

PARTITION_LOCK = 0x63667061  # pg_advisory_xact_lock key ("cfpa")
AHEAD_MONTHS = 2


def month_of(ts: int) -> int:
    """Months since 1970-01 of a time in UTC ms."""
    moment = datetime.fromtimestamp(ts / 1000, UTC)
    return (moment.year - 1970) * 12 + moment.month - 1


def _bounds(month: int) -> tuple[str, int, int]:
    year, index = divmod(month, 12)
    lo = datetime(1970 + year, index + 1, 1, tzinfo=UTC)
    lo_ms = int(lo.timestamp() * 1000)
    # the end by day count: the month after 9999-12 is past datetime's range
    hi_ms = lo_ms + monthrange(lo.year, lo.month)[1] * DAY_MS
    return f"hist_{1970 + year:04d}{index + 1:02d}", lo_ms, hi_ms


def ensure(conn: Conn, times: Iterable[int]) -> None:
    """Create the partitions holding these times when missing (in the caller's transaction)."""
    names = {month: _bounds(month)[0] for month in {month_of(ts) for ts in times}}
    found = conn.execute(
        "SELECT n FROM unnest(%s::text[]) AS n WHERE to_regclass(n) IS NULL",
        (list(names.values()),),
    ).fetchall()
    absent = {str(row[0]) for row in found}
    missing = sorted(m for m, name in names.items() if name in absent)
    if not missing:
        return
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (PARTITION_LOCK,))
    for month in missing:
        name, lo, hi = _bounds(month)
        # names and bounds are computed here from integers, never user input
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF hist"
            f" FOR VALUES FROM ({lo}) TO ({hi})".encode()
        )


def ahead(conn: Conn, now_ms: int) -> None:
    """The current month and the next `AHEAD_MONTHS`."""
    first = month_of(now_ms)
    months = range(first, first + AHEAD_MONTHS + 1)
    ensure(conn, [_bounds(m)[1] for m in months])


def drop_empty(conn: Conn, now_ms: int) -> list[str]:
    """Drop the partitions of months before the previous one that hold no row; their names."""
    current = month_of(now_ms)
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (PARTITION_LOCK,))
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'hist'::regclass ORDER BY c.relname"
    ).fetchall()
    dropped: list[str] = []
    for (name,) in rows:
        text = str(name)
        if not (text.startswith("hist_") and text[5:].isdigit()):
            continue
        month = (int(text[5:9]) - 1970) * 12 + int(text[9:11]) - 1
        if month >= current - 1:
            continue
        if conn.execute(f"SELECT 1 FROM {text} LIMIT 1".encode()).fetchone() is None:
            conn.execute(f"DROP TABLE {text}".encode())
            dropped.append(text)
    return dropped
