"""Reading history: which entities, their instances in a time range, and aggregates.

Aggregates run in SQL, grouped by period: over the raw instances, or over
the hourly or daily roll-ups when the query's range and period line up with
them (and no method needs the raw values), which gives the same answers.
Calendar periods (months, years) are grouped in Python.
"""

from __future__ import annotations

import bisect
import sqlite3
from typing import Any

import orjson

from cityfabric.ngsild.temporal import (
    AGGREGATIONS,
    Aggregation,
    Sums,
    TimeFilter,
    period_starts,
    sums_of,
)
from cityfabric.store.base import EntityHistory, HistoryPage, HistoryQuery, SeriesHistory
from cityfabric.store.filters import type_matches, type_names
from cityfabric.store.history_rows import instance_of_row, rollup_table, sum_value

Bucket = tuple[int, Sums]  # period index, its sums


def history_page(
    conn: sqlite3.Connection, tid: int, query: HistoryQuery, current: tuple[str, dict[str, Any]]
) -> HistoryPage:
    """One page of entities with their series; `current` = SQL selecting ids of live entities."""
    sql = "SELECT heid, id, types FROM hist_entities WHERE tid = :htid"
    params: dict[str, Any] = {"htid": tid}
    if query.ids:
        sql += " AND id IN (SELECT value FROM json_each(:hids))"
        params["hids"] = orjson.dumps(query.ids).decode()
    if query.id_pattern:
        sql += " AND regexp(:hpattern, id)"
        params["hpattern"] = query.id_pattern
    if query.types is not None:
        sql += (
            " AND heid IN (SELECT heid FROM hist_types WHERE tid = :htid"
            " AND type IN (SELECT value FROM json_each(:htypes)))"
        )
        params["htypes"] = orjson.dumps(sorted(type_names(query.types))).decode()
    if query.attrs:
        sql += (
            " AND heid IN (SELECT heid FROM hist_series"
            " WHERE attr IN (SELECT value FROM json_each(:hattrs)))"
        )
        params["hattrs"] = orjson.dumps(query.attrs).decode()
    if current[0]:
        sql += f" AND id IN ({current[0]})"
        params.update(current[1])
    rows = conn.execute(sql + " ORDER BY heid", params).fetchall()
    if query.types is not None:
        expr = query.types
        rows = [r for r in rows if type_matches(expr, set(orjson.loads(r[2])))]
    count = len(rows) if query.count else None
    page = rows[query.offset : query.offset + query.limit]
    entities = [
        EntityHistory(
            entity_id, orjson.loads(types), _series(conn, heid, query) if query.with_series else []
        )
        for heid, entity_id, types in page
    ]
    return HistoryPage(entities, count)


def _series(conn: sqlite3.Connection, heid: int, query: HistoryQuery) -> list[SeriesHistory]:
    sql = "SELECT sid, attr, dataset, meta FROM hist_series WHERE heid = ?"
    params: list[Any] = [heid]
    if query.attrs:
        sql += " AND attr IN (SELECT value FROM json_each(?))"
        params.append(orjson.dumps(query.attrs).decode())
    out: list[SeriesHistory] = []
    for sid, attr, dataset, meta_text in conn.execute(sql + " ORDER BY attr, dataset", params):
        meta = orjson.loads(meta_text)
        series = SeriesHistory(attr, dataset or None, kind=meta.get("type", "Property"))
        if query.aggregation is not None:
            series.aggregates = aggregate(
                conn, sid, query.time, query.aggregation, query.use_rollups
            )
        else:
            _instances(conn, sid, meta, series, query)
        out.append(series)
    return out


# -- instances -----------------------------------------------------------------------------


def _time_sql(time: TimeFilter) -> tuple[str, str]:
    """(expression of the queried time, condition an instance must meet to have one)."""
    if time.timeproperty == "observedAt":
        return "ts", "dmod IS NOT NULL"
    return "(ts + coalesce(dmod, 0))", "1"


def _range_sql(time: TimeFilter, column: str) -> tuple[str, dict[str, int]]:
    parts, params = [], {}
    if time.start is not None:
        parts.append(f"{column} >= :lo")
        params["lo"] = time.start
    if time.end is not None:
        parts.append(f"{column} < :hi")
        params["hi"] = time.end
    return "".join(f" AND {p}" for p in parts), params


def _instances(
    conn: sqlite3.Connection,
    sid: int,
    meta: dict[str, Any],
    series: SeriesHistory,
    query: HistoryQuery,
) -> None:
    column, has_time = _time_sql(query.time)
    where, params = _range_sql(query.time, column)
    wanted = query.max_instances
    order = "ASC"
    if query.last_n is not None:  # the newest ones; at most max_instances of them
        wanted, order = min(query.last_n, wanted), "DESC"
    rows = conn.execute(
        f"SELECT ts, iid, num, val, dmod, extra FROM hist WHERE sid = :sid AND {has_time}{where}"
        f" ORDER BY {column} {order}, iid {order} LIMIT :n",
        {**params, "sid": sid, "n": wanted + 1},
    ).fetchall()
    if len(rows) > wanted:
        rows = rows[:wanted]
        series.truncated = order == "ASC" or (query.last_n or 0) > wanted
    if order == "DESC":
        rows.reverse()
    series.instances = [instance_of_row(sid, meta, series.dataset_id, row) for row in rows]
    if rows:
        series.first, series.last = rows[0][0], rows[-1][0]


# -- aggregates ------------------------------------------------------------------------


def aggregate(
    conn: sqlite3.Connection, sid: int, time: TimeFilter, aggr: Aggregation, use_rollups: bool
) -> dict[str, list[tuple[object, int, int]]]:
    """Per method: [value, period start, period end] for every period holding instances."""
    column, has_time = _time_sql(time)
    where, params = _range_sql(time, column)
    params["sid"] = sid
    first_last: tuple[Any, Any] = (time.start, time.end)
    if time.start is None or time.end is None:  # the range is open: find where the data is
        first_last = conn.execute(
            f"SELECT min({column}), max({column}) FROM hist WHERE sid = :sid AND {has_time}{where}",
            params,
        ).fetchone()
    origin = time.start if time.start is not None else first_last[0]
    table = rollup_table(time, aggr, use_rollups)
    if (origin is None or first_last[1] is None) and table is None:
        return {}  # no instance in the range
    end = time.end if time.end is not None else int(first_last[1]) + 1
    assert origin is not None
    period = aggr.period
    if period.months:
        buckets = _calendar_buckets(conn, column, has_time, where, params, origin, end, aggr)
        starts = period_starts(origin, end, period)
        bounds = [(starts[i], period.add_to(starts[i])) for i, _ in buckets]
    else:
        size = period.ms or (end - origin)
        if table is not None:
            buckets = _grouped(conn, _ROLLUP_SQL.format(table=table), params, origin, size)
        else:
            distinct = (
                "count(DISTINCT coalesce(val, num))" if "distinctCount" in aggr.methods else "NULL"
            )
            sql = _RAW_SQL.format(t=column, has_time=has_time, where=where, distinct=distinct)
            buckets = _grouped(conn, sql, params, origin, size)
        bounds = [
            (origin + b * size, origin + (b + 1) * size if period.ms else end) for b, _ in buckets
        ]
    return {
        method: [
            (AGGREGATIONS[method](sums), lo, hi)
            for (_, sums), (lo, hi) in zip(buckets, bounds, strict=True)
        ]
        for method in aggr.methods
    }


_RAW_SQL = """
SELECT ({t} - :origin) / :size AS b, count(*), count(num), total(num), total(num * num),
       min(num), max(num), {distinct}
FROM hist WHERE sid = :sid AND {has_time}{where} GROUP BY b ORDER BY b
"""
_ROLLUP_SQL = """
SELECT (bucket - :origin) / :size AS b, sum(cnt), sum(n), total(total), total(squares),
       min(low), max(high), NULL
FROM {table} WHERE sid = :sid AND bucket >= :lo AND bucket < :hi GROUP BY b ORDER BY b
"""


def _grouped(
    conn: sqlite3.Connection, sql: str, params: dict[str, Any], origin: int, size: int
) -> list[Bucket]:
    rows = conn.execute(sql, {**params, "origin": origin, "size": size})
    return [
        (int(b), Sums(int(cnt), int(n), float(total), float(sq), low, high, distinct))
        for b, cnt, n, total, sq, low, high, distinct in rows
    ]


def _calendar_buckets(
    conn: sqlite3.Connection,
    column: str,
    has_time: str,
    where: str,
    params: dict[str, Any],
    origin: int,
    end: int,
    aggr: Aggregation,
) -> list[Bucket]:
    """Months and years have no fixed length: group the raw values in Python."""
    starts = period_starts(origin, end, aggr.period)
    groups: dict[int, list[object]] = {}
    rows = conn.execute(
        f"SELECT {column}, num, val FROM hist WHERE sid = :sid AND {has_time}{where}"
        f" ORDER BY {column}",
        params,
    )
    for t, num, val in rows:
        if t < origin:
            continue
        index = bisect.bisect_right(starts, t) - 1
        groups.setdefault(index, []).append(num if val is None else sum_value(val, num))
    return [(index, sums_of(values)) for index, values in sorted(groups.items())]
