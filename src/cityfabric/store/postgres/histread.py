"""Reading history on PostgreSQL: which entities, their instances in a range, aggregates.

The twin of `store/sqlite/histread.py` (same answers): aggregates run in SQL grouped by
period, over the raw instances or over the hourly or daily roll-ups when the range and
period line up with them; calendar periods (months, years) are grouped in Python.
"""

from __future__ import annotations

import bisect
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
from cityfabric.store.postgres.numeric import from_num
from cityfabric.store.postgres.write import Conn

Bucket = tuple[int, Sums]


def history_page(
    conn: Conn, tid: int, query: HistoryQuery, current: tuple[str, dict[str, Any]]
) -> HistoryPage:
    """One page of entities with their series; `current` = SQL selecting ids of live entities."""
    sql = "SELECT heid, id, types FROM hist_entities WHERE tid = %(htid)s"
    params: dict[str, Any] = {"htid": tid}
    if query.ids:
        sql += " AND id = ANY(%(hids)s::text[])"
        params["hids"] = list(query.ids)
    if query.id_pattern:
        sql += " AND id ~ %(hpattern)s"
        params["hpattern"] = query.id_pattern
    if query.types is not None:
        sql += " AND types && %(htypes)s::text[]"
        params["htypes"] = sorted(type_names(query.types))
    if query.attrs:
        sql += " AND heid IN (SELECT heid FROM hist_series WHERE attr = ANY(%(hattrs)s::text[]))"
        params["hattrs"] = list(query.attrs)
    if current[0]:
        sql += f" AND id IN ({current[0]})"
        params.update(current[1])
    rows = conn.execute(sql + " ORDER BY heid", params).fetchall()
    if query.types is not None:
        expr = query.types
        rows = [r for r in rows if type_matches(expr, set(r[2]))]  # type: ignore[call-overload]
    count = len(rows) if query.count else None
    page = rows[query.offset : query.offset + query.limit]
    entities = [
        EntityHistory(
            str(entity_id),
            list(types),  # type: ignore[call-overload]
            _series(conn, int(str(heid)), query) if query.with_series else [],
        )
        for heid, entity_id, types in page
    ]
    return HistoryPage(entities, count)


def _series(conn: Conn, heid: int, query: HistoryQuery) -> list[SeriesHistory]:
    sql = "SELECT sid, attr, dataset, meta::text FROM hist_series WHERE heid = %s"
    params: list[Any] = [heid]
    if query.attrs:
        sql += " AND attr = ANY(%s::text[])"
        params.append(list(query.attrs))
    out: list[SeriesHistory] = []
    rows = conn.execute(sql + ' ORDER BY attr COLLATE "C", dataset COLLATE "C"', params)
    for sid, attr, dataset, meta_text in rows.fetchall():
        meta = orjson.loads(str(meta_text))
        series = SeriesHistory(str(attr), str(dataset) or None, kind=meta.get("type", "Property"))
        if query.aggregation is not None:
            series.aggregates = aggregate(
                conn, int(str(sid)), query.time, query.aggregation, query.use_rollups
            )
        else:
            _instances(conn, int(str(sid)), meta, series, query)
        out.append(series)
    return out


def _time_sql(time: TimeFilter) -> tuple[str, str]:
    if time.timeproperty == "observedAt":
        return "ts", "dmod IS NOT NULL"
    return "(ts + coalesce(dmod, 0))", "true"


def _range_sql(time: TimeFilter, column: str) -> tuple[str, dict[str, int]]:
    parts, params = [], {}
    if time.start is not None:
        parts.append(f"{column} >= %(lo)s")
        params["lo"] = time.start
    if time.end is not None:
        parts.append(f"{column} < %(hi)s")
        params["hi"] = time.end
    return "".join(f" AND {p}" for p in parts), params


def _instances(
    conn: Conn, sid: int, meta: dict[str, Any], series: SeriesHistory, query: HistoryQuery
) -> None:
    column, has_time = _time_sql(query.time)
    where, params = _range_sql(query.time, column)
    wanted = query.max_instances
    order = "ASC"
    if query.last_n is not None:
        wanted, order = min(query.last_n, wanted), "DESC"
    rows = conn.execute(
        f"SELECT ts, iid, num, val, dmod, extra FROM hist WHERE sid = %(sid)s AND {has_time}"
        f"{where} ORDER BY {column} {order}, iid {order} LIMIT %(n)s",
        {**params, "sid": sid, "n": wanted + 1},
    ).fetchall()
    if len(rows) > wanted:
        rows = rows[:wanted]
        series.truncated = order == "ASC" or (query.last_n or 0) > wanted
    if order == "DESC":
        rows.reverse()
    plain = [
        (
            int(str(ts)),
            int(str(iid)),
            from_num(num),
            val,
            None if dmod is None else int(str(dmod)),
            extra,
        )
        for ts, iid, num, val, dmod, extra in rows
    ]
    series.instances = [instance_of_row(sid, meta, series.dataset_id, row) for row in plain]
    if plain:
        series.first, series.last = plain[0][0], plain[-1][0]


def aggregate(
    conn: Conn, sid: int, time: TimeFilter, aggr: Aggregation, use_rollups: bool
) -> dict[str, list[tuple[object, int, int]]]:
    """Per method: [value, period start, period end] for every period holding instances."""
    column, has_time = _time_sql(time)
    where, params = _range_sql(time, column)
    params["sid"] = sid
    first_last: tuple[Any, Any] = (time.start, time.end)
    if time.start is None or time.end is None:
        row = conn.execute(
            f"SELECT min({column}), max({column}) FROM hist"
            f" WHERE sid = %(sid)s AND {has_time}{where}",
            params,
        ).fetchone()
        assert row is not None
        first_last = (row[0], row[1])
    origin = time.start if time.start is not None else first_last[0]
    table = rollup_table(time, aggr, use_rollups)
    if (origin is None or first_last[1] is None) and table is None:
        return {}
    end = time.end if time.end is not None else int(first_last[1]) + 1
    assert origin is not None
    origin = int(origin)
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
                "count(DISTINCT coalesce(val, num::float8::text))"
                if "distinctCount" in aggr.methods
                else "NULL::bigint"
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


# floor division as SQLite's integer `/` does for the non-negative offsets used here
_RAW_SQL = """
SELECT ({t} - %(origin)s) / %(size)s AS b, count(*), count(num), coalesce(sum(num::float8), 0),
       coalesce(sum(num::float8 * num::float8), 0), min(num), max(num), {distinct}
FROM hist WHERE sid = %(sid)s AND {has_time}{where} GROUP BY b ORDER BY b
"""
_ROLLUP_SQL = """
SELECT (bucket - %(origin)s) / %(size)s AS b, sum(cnt), sum(n), coalesce(sum(total), 0),
       coalesce(sum(squares), 0), min(low), max(high), NULL::bigint
FROM {table} WHERE sid = %(sid)s AND bucket >= %(lo)s AND bucket < %(hi)s GROUP BY b ORDER BY b
"""


def _grouped(conn: Conn, sql: str, params: dict[str, Any], origin: int, size: int) -> list[Bucket]:
    rows = conn.execute(sql, {**params, "origin": origin, "size": size}).fetchall()
    return [
        (
            int(str(b)),
            Sums(
                int(str(cnt)),
                int(str(n)),
                float(str(total)),
                float(str(sq)),
                _float_or_none(low),
                _float_or_none(high),
                None if distinct is None else int(str(distinct)),
            ),
        )
        for b, cnt, n, total, sq, low, high, distinct in rows
    ]


def _calendar_buckets(
    conn: Conn,
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
        f"SELECT {column}, num, val FROM hist WHERE sid = %(sid)s AND {has_time}{where}"
        f" ORDER BY {column}",
        params,
    ).fetchall()
    for t, num, val in rows:
        ts = int(str(t))
        if ts < origin:
            continue
        index = bisect.bisect_right(starts, ts) - 1
        value = from_num(num)
        groups.setdefault(index, []).append(value if val is None else sum_value(str(val), value))
    return [(index, sums_of(values)) for index, values in sorted(groups.items())]


def _int_or_none(value: object) -> int | None:
    return None if value is None else int(str(value))


def _float_or_none(value: object) -> float | None:
    """A numeric low/high as the int or float it was written as (typed float for Sums)."""
    number = from_num(value)
    assert number is None or isinstance(number, int | float)
    return number
