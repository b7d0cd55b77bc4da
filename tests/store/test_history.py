"""History on every engine: aggregates against numpy, roll-ups against raw, retention."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cityfabric.ngsild.history import HistoryService
from cityfabric.ngsild.temporal import (
    DAY_MS,
    HOUR_MS,
    Aggregation,
    TimeFilter,
    format_time,
    parse_duration,
    parse_time,
    period_starts,
)
from cityfabric.store.base import HistoryQuery
from tests.store.conftest import AnyStore, make_store

T0 = parse_time("2026-03-01T00:00:00Z")
METHODS = ("totalCount", "distinctCount", "sum", "avg", "min", "max", "stddev", "sumsq")
ROLLUP_OK = tuple(m for m in METHODS if m != "distinctCount")
ZONES = [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-3, minutes=-30))]
ATTR = "https://example.org/temperature"
_ids = itertools.count()


class Runner:
    """One store and one event loop for a whole hypothesis test."""

    def __init__(self, store: AnyStore) -> None:
        self.loop = asyncio.new_event_loop()
        self.store = store
        self.run(self.store.open())

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self.store.close())
        self.loop.close()


@pytest.fixture
def runner(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Runner]:
    r = Runner(make_store(engine, tmp_path, request))
    yield r
    r.close()


def iso(ms: int, zone: timezone) -> str:
    """The same instant written in another time zone."""
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(zone).isoformat()


def add(runner: Runner, points: list[tuple[int, float]], zone: timezone = UTC) -> str:
    entity_id = f"urn:ngsi-ld:Sensor:{next(_ids)}"
    instances = [
        (ATTR, {"type": "Property", "value": v, "observedAt": iso(t, zone)}) for t, v in points
    ]
    runner.run(
        runner.store.add_history(
            "", entity_id, ["https://example.org/Sensor"], instances, "2026-11-23T00:00:00Z"
        )
    )
    return entity_id


def aggregates(
    runner: Runner,
    entity_id: str,
    methods: tuple[str, ...],
    period: str,
    time: TimeFilter,
    *,
    rollups: bool = True,
) -> dict[str, list[tuple[object, int, int]]]:
    query = HistoryQuery(
        ids=(entity_id,),
        time=time,
        aggregation=Aggregation(methods, parse_duration(period)),
        use_rollups=rollups,
    )
    page = runner.run(runner.store.history("", query))
    if not page.entities or not page.entities[0].series:
        return {}
    return page.entities[0].series[0].aggregates


def reference(
    points: list[tuple[int, float]], methods: tuple[str, ...], period: str, lo: int, hi: int
) -> dict[str, list[tuple[object, int, int]]]:
    """numpy over the points in [lo, hi), grouped by periods starting at lo."""
    duration = parse_duration(period)
    starts = period_starts(lo, hi, duration)
    out: dict[str, list[tuple[object, int, int]]] = {m: [] for m in methods}
    for i, start in enumerate(starts):
        end = hi if duration.is_zero else duration.add_to(start)
        stop = min(end, hi) if i == len(starts) - 1 else end
        values = np.array([v for t, v in points if start <= t < stop and lo <= t < hi])
        if not len(values):
            continue
        found = {
            "totalCount": len(values),
            "distinctCount": len(set(values.tolist())),
            "sum": float(values.sum()),
            "avg": float(values.mean()),
            "min": float(values.min()),
            "max": float(values.max()),
            "stddev": float(values.std()),
            "sumsq": float((values**2).sum()),
        }
        for m in methods:
            out[m].append((found[m], start, end))
    return out


def assert_close(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert set(got) <= set(want)
    for method, periods in want.items():
        assert [(lo, hi) for _, lo, hi in got.get(method, [])] == [
            (lo, hi) for _, lo, hi in periods
        ]
        for (g, _, _), (w, _, _) in zip(got.get(method, []), periods, strict=True):
            assert g == pytest.approx(w, rel=1e-9, abs=1e-4), method


points_st = st.lists(
    st.tuples(
        st.integers(0, 2 * DAY_MS // 60_000).map(lambda m: T0 + m * 60_000),
        st.one_of(st.integers(-1000, 1000), st.floats(-1000, 1000).map(lambda x: round(x, 3))),
    ),
    max_size=150,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    points=points_st,
    period=st.sampled_from(["PT15M", "PT1H", "PT7M", "P1D", "PT0S", "PT90M"]),
    start_min=st.integers(-60, 24 * 60),
    span_min=st.integers(1, 2 * 24 * 60),
    zone=st.sampled_from(ZONES),
)
def test_raw_aggregates_match_numpy(
    runner: Runner,
    points: list[tuple[int, float]],
    period: str,
    start_min: int,
    span_min: int,
    zone: timezone,
) -> None:
    entity_id = add(runner, points, zone)
    lo = T0 + start_min * 60_000
    hi = lo + span_min * 60_000
    got = aggregates(runner, entity_id, METHODS, period, TimeFilter("between", lo, hi))
    assert_close(got, reference(points, METHODS, period, lo, hi))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    points=points_st,
    period=st.sampled_from(["PT1H", "PT3H", "P1D", "PT0S"]),
    start_h=st.integers(-2, 48),
    span_h=st.integers(1, 72),
)
def test_rollups_answer_like_raw(
    runner: Runner, points: list[tuple[int, float]], period: str, start_h: int, span_h: int
) -> None:
    entity_id = add(runner, points)
    lo = T0 + start_h * HOUR_MS
    time = TimeFilter("between", lo, lo + span_h * HOUR_MS)
    from_rollups = aggregates(runner, entity_id, ROLLUP_OK, period, time)
    from_raw = aggregates(runner, entity_id, ROLLUP_OK, period, time, rollups=False)
    assert_close(from_rollups, from_raw)
    assert_close(from_rollups, reference(points, ROLLUP_OK, period, time.start or 0, time.end or 0))


def test_calendar_months(runner: Runner) -> None:
    points = [(parse_time(f"2026-0{m}-15T00:00:00Z"), float(m)) for m in (1, 1, 2, 4)]
    entity_id = add(runner, points)
    lo, hi = parse_time("2026-01-01T00:00:00Z"), parse_time("2026-05-01T00:00:00Z")
    got = aggregates(runner, entity_id, ("totalCount", "avg"), "P1M", TimeFilter("between", lo, hi))
    assert [(v, format_time(a)) for v, a, _ in got["totalCount"]] == [
        (2, "2026-01-01T00:00:00.000Z"),
        (1, "2026-02-01T00:00:00.000Z"),
        (1, "2026-04-01T00:00:00.000Z"),
    ]
    assert [format_time(b) for _, _, b in got["avg"]][-1] == "2026-05-01T00:00:00.000Z"


def test_patched_and_deleted_instances_rebuild_rollups(runner: Runner) -> None:
    points = [(T0 + i * 60_000, float(i)) for i in range(120)]
    entity_id = add(runner, points)
    page = runner.run(runner.store.history("", HistoryQuery(ids=(entity_id,), last_n=2)))
    last, before_last = page.entities[0].series[0].instances[::-1]
    runner.run(
        runner.store.replace_instance(
            "",
            entity_id,
            ATTR,
            last["instanceId"],
            {"type": "Property", "value": 1000.0, "observedAt": last["observedAt"]},
            "2026-11-23T00:00:00Z",
        )
    )
    runner.run(runner.store.delete_instance("", entity_id, ATTR, before_last["instanceId"]))
    time = TimeFilter("between", T0, T0 + 2 * HOUR_MS)
    expected = [*points[:118], (points[119][0], 1000.0)]
    got = aggregates(runner, entity_id, ROLLUP_OK, "PT1H", time)
    assert_close(got, reference(expected, ROLLUP_OK, "PT1H", T0, T0 + 2 * HOUR_MS))
    assert_close(got, aggregates(runner, entity_id, ROLLUP_OK, "PT1H", time, rollups=False))


def test_retention_expires_raw_and_keeps_rollups(runner: Runner) -> None:
    now = T0 + 40 * DAY_MS
    service = HistoryService(runner.store, default_retention_ms=None, clock=lambda: now / 1000)
    points = [(T0 + i * 15 * 60_000, float(i % 17)) for i in range(4 * 24 * 30)]  # 30 days
    entity_id = add(runner, points)
    time = TimeFilter("between", T0, T0 + 30 * DAY_MS)
    before = aggregates(runner, entity_id, ROLLUP_OK, "P1D", time)
    hourly = aggregates(runner, entity_id, ("avg", "max"), "PT1H", time)
    runner.run(runner.store.set_retention("", {"": 20 * DAY_MS}))
    deleted = runner.run(service.expire())
    # raw instances older than 20 days before `now` are gone, cut at a whole UTC day
    assert deleted == 4 * 24 * 20
    page = runner.run(runner.store.history("", HistoryQuery(ids=(entity_id,), time=time)))
    assert len(page.entities[0].series[0].instances) == 4 * 24 * 10
    assert_close(aggregates(runner, entity_id, ROLLUP_OK, "P1D", time), before)
    assert_close(aggregates(runner, entity_id, ("avg", "max"), "PT1H", time), hourly)


def test_retention_per_type_overrides_the_tenant_default(runner: Runner) -> None:
    now = T0 + 10 * DAY_MS
    points = [(T0 + i * HOUR_MS, 1.0) for i in range(24 * 10)]
    kept, expired = add(runner, points), add(runner, points)
    runner.run(
        runner.store.add_history(
            "", kept, ["https://example.org/Archive"], [], "2026-11-23T00:00:00Z"
        )
    )
    rules = {"": 2 * DAY_MS, "https://example.org/Archive": 365 * DAY_MS}
    runner.run(runner.store.set_retention("", rules))
    runner.run(runner.store.expire_history(now))
    counts = {}
    for entity_id in (kept, expired):
        page = runner.run(runner.store.history("", HistoryQuery(ids=(entity_id,))))
        counts[entity_id] = len(page.entities[0].series[0].instances)
    assert counts == {kept: 240, expired: 48}
