"""Temporal query parameters (clause 6.18.3.2, 6.24) to a store `HistoryQuery`."""

from __future__ import annotations

from dataclasses import astuple, dataclass, replace
from typing import Final, Literal

from cityfabric.ngsild.errors import BadRequestData
from cityfabric.ngsild.querybuild import Names, QueryParams, build_query, parse_int
from cityfabric.ngsild.temporal import DAY_MS, Aggregation, parse_aggregation, parse_time_filter
from cityfabric.store.base import HistoryQuery

Representation = Literal["normalized", "temporalValues", "aggregatedValues"]
MAX_LAST_N = 100_000
MAX_PERIOD_MONTHS: Final = 12 * 1000  # aggrPeriodDuration of at most about 1000 years
MAX_PERIOD_MS: Final = 366_000 * DAY_MS
_PARAM_NAMES: Final = (
    "timerel",
    "timeAt",
    "endTimeAt",
    "timeproperty",
    "lastN",
    "aggrMethods",
    "aggrPeriodDuration",
)


@dataclass(frozen=True)
class TemporalParams:
    timerel: str | None = None
    time_at: str | None = None
    end_time_at: str | None = None
    timeproperty: str | None = None
    last_n: str | None = None
    aggr_methods: str | None = None
    aggr_period: str | None = None


def representation_of(flags: frozenset[str]) -> Representation:
    chosen = flags & {"temporalValues", "aggregatedValues"}
    if len(chosen) > 1:
        raise BadRequestData("choose one of temporalValues and aggregatedValues")
    if "temporalValues" in chosen:
        return "temporalValues"
    return "aggregatedValues" if chosen else "normalized"


def build_history_query(
    p: QueryParams,
    t: TemporalParams,
    ctx: Names,
    representation: Representation,
    *,
    max_instances: int,
    entity_id: str | None = None,
) -> HistoryQuery:
    """The store query; BadRequestData names what is wrong."""
    if entity_id is not None:
        p = replace(p, id=entity_id)
    base = build_query(p, ctx, require_filter=entity_id is None)
    for name, value in zip(_PARAM_NAMES, astuple(t), strict=True):
        if value == "":
            raise BadRequestData(f"{name} is empty; leave it out or give it a value")
    time = parse_time_filter(t.timerel, t.time_at, t.end_time_at, t.timeproperty)
    last_n = None
    if t.last_n is not None:
        last_n = parse_int(t.last_n, "lastN", 0, 1)
        if last_n > MAX_LAST_N:
            raise BadRequestData(f"lastN may be at most {MAX_LAST_N}")
    aggregation = None
    if representation == "aggregatedValues":
        aggregation = _aggregation(t.aggr_methods, t.aggr_period)
    elif t.aggr_methods is not None or t.aggr_period is not None:
        raise BadRequestData("aggrMethods and aggrPeriodDuration need options=aggregatedValues")
    needs_current = base.q is not None or base.geo is not None or base.scope_q is not None
    current = (
        replace(base, ids=(), types=None, attrs=(), limit=0, offset=0) if needs_current else None
    )
    return HistoryQuery(
        ids=base.ids,
        id_pattern=base.id_pattern,
        types=base.types,
        attrs=base.attrs,
        current=current,
        time=time,
        last_n=last_n,
        max_instances=max_instances,
        aggregation=aggregation,
        limit=base.limit,
        offset=base.offset,
        count=base.count,
    )


def _aggregation(methods: str | None, period: str | None) -> Aggregation:
    """`parse_aggregation`, refusing periods so long their arithmetic would overflow."""
    try:
        aggregation = parse_aggregation(methods, period)
    except OverflowError:  # more seconds than a float holds
        raise BadRequestData(f"aggrPeriodDuration {period!r} is too long") from None
    if aggregation.period.months > MAX_PERIOD_MONTHS or aggregation.period.ms > MAX_PERIOD_MS:
        raise BadRequestData(f"aggrPeriodDuration {period!r} is too long: 1000 years at most")
    return aggregation
