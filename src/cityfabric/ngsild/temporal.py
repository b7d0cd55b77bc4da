"""The temporal side of NGSI-LD: times, durations, temporal queries, aggregation methods.

Times travel through the history layer as integer milliseconds since the
Unix epoch (UTC); ISO 8601 strings exist only at the edges.
"""

from __future__ import annotations

import calendar
import functools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import MAXYEAR, UTC, datetime, timedelta
from typing import Final, Literal

from cityfabric.ngsild.errors import BadRequestData

Timerel = Literal["before", "after", "between"]
TimeProperty = Literal["observedAt", "createdAt", "modifiedAt"]
TIMERELS: Final = ("before", "after", "between")
TIME_PROPERTIES: Final = ("observedAt", "createdAt", "modifiedAt")
HOUR_MS: Final = 3_600_000
DAY_MS: Final = 24 * HOUR_MS


def parse_time(text: str, what: str = "timeAt") -> int:
    """An ISO 8601 date-time as UTC milliseconds; without an offset it is UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError) as err:
        raise BadRequestData(f"{what} is not an ISO 8601 date-time: {text!r}") from err
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _ms(moment)


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // _MILLISECOND


_END_OF_TIME: Final = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last time there is
_MILLISECOND: Final = timedelta(milliseconds=1)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@functools.lru_cache(maxsize=65536)
def format_time(ms: int) -> str:
    """UTC milliseconds as NGSI-LD writes timestamps: `2026-11-23T16:00:00.000Z`.

    A time past 9999 (only the end of a period holding the last hours of 9999) is written
    as the last millisecond of 9999, the last time ISO 8601 writes without expansion."""
    sec, milli = divmod(min(ms, _END_OF_TIME), 1000)
    return time_text(sec) + f".{milli:03d}Z"


def time_text(sec: int) -> str:
    moment = datetime.fromtimestamp(sec, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


# -- ISO 8601 durations (aggrPeriodDuration) --------------------------------------------

_DURATION = re.compile(
    r"P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
    r"(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?"
)


@dataclass(frozen=True)
class Duration:
    """A duration in calendar months plus exact milliseconds."""

    months: int = 0
    ms: int = 0

    @property
    def is_zero(self) -> bool:
        return self.months == 0 and self.ms == 0

    def add_to(self, start: int) -> int:
        """`start` (UTC ms) moved on by this duration; months follow the calendar."""
        if self.months:
            start = _add_months(start, self.months)
        return start + self.ms


def parse_duration(text: str) -> Duration:
    """`PT15M`, `PT1H`, `P1D`, `P1W`, `P1M`, `P1Y`, `PT0S`...; BadRequestData otherwise."""
    match = _DURATION.fullmatch(text or "")
    if match is None:
        raise BadRequestData(
            f"aggrPeriodDuration {text!r} is not an ISO 8601 duration such as PT15M, PT1H or P1D"
        )
    years, months, weeks, days, hours, minutes, seconds = match.groups()
    ms = round(float(seconds or 0) * 1000)
    ms += (int(minutes or 0) * 60 + int(hours or 0) * 3600) * 1000
    ms += (int(days or 0) + 7 * int(weeks or 0)) * DAY_MS
    return Duration(months=int(years or 0) * 12 + int(months or 0), ms=ms)


def _add_months(ms: int, months: int) -> int:
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    total = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(total, 12)
    if year > MAXYEAR:  # past the calendar: later than any time there can be
        return _END_OF_TIME
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return _ms(moment.replace(year=year, month=month + 1, day=day))


def period_starts(origin: int, end: int, period: Duration) -> list[int]:
    """The starts of consecutive periods from `origin` until `end` (exclusive)."""
    starts = [origin]
    if period.is_zero:
        return starts
    while True:
        nxt = period.add_to(starts[-1])
        if nxt >= end or nxt <= starts[-1]:
            return starts
        starts.append(nxt)


# -- aggregation methods (clause 4.5.19) -----------------------------------------------


@dataclass(frozen=True)
class Sums:
    """What every method is computed from: counts, sums and extremes of one period."""

    count: int  # every instance
    n: int  # numeric instances
    total: float
    squares: float
    low: float | None
    high: float | None
    distinct: int | None = None  # only from raw instances


def _stddev(s: Sums) -> float | None:
    if not s.n:
        return None
    mean = s.total / s.n
    return math.sqrt(max(s.squares / s.n - mean * mean, 0.0))


AGGREGATIONS: Final[dict[str, Callable[[Sums], float | int | None]]] = {
    "totalCount": lambda s: s.count,
    "distinctCount": lambda s: s.distinct,
    "sum": lambda s: s.total if s.n else None,
    "avg": lambda s: s.total / s.n if s.n else None,
    "min": lambda s: s.low,
    "max": lambda s: s.high,
    "stddev": _stddev,  # population standard deviation
    "sumsq": lambda s: s.squares if s.n else None,
}
ROLLUP_METHODS: Final = frozenset(AGGREGATIONS) - {"distinctCount"}


def parse_methods(text: str | None) -> tuple[str, ...]:
    if not text:
        raise BadRequestData("options=aggregatedValues needs aggrMethods, e.g. aggrMethods=avg")
    methods = tuple(dict.fromkeys(m.strip() for m in text.split(",")))
    unknown = [m for m in methods if m not in AGGREGATIONS]
    if unknown:
        raise BadRequestData(
            f"unknown aggregation method {unknown[0]!r}; use {', '.join(AGGREGATIONS)}"
        )
    return methods


def sums_of(values: Sequence[object]) -> Sums:
    """The sums of one period from raw values (the reference the SQL paths must match)."""
    nums = [float(v) for v in values if isinstance(v, int | float)]  # booleans count as 1/0
    distinct = len({repr(v) for v in values})
    return Sums(
        count=len(values),
        n=len(nums),
        total=math.fsum(nums),
        squares=math.fsum(x * x for x in nums),
        low=min(nums) if nums else None,
        high=max(nums) if nums else None,
        distinct=distinct,
    )


# -- the temporal part of a query (clause 6.18.3.2) -----------------------------------


@dataclass(frozen=True)
class TimeFilter:
    """timerel/timeAt/endTimeAt/timeproperty, resolved to a half-open [start, end) in ms."""

    timerel: Timerel | None = None
    time_at: int | None = None
    end_time_at: int | None = None
    timeproperty: TimeProperty = "observedAt"

    @property
    def start(self) -> int | None:
        return self.time_at if self.timerel in ("after", "between") else None

    @property
    def end(self) -> int | None:
        if self.timerel == "before":
            return self.time_at
        return self.end_time_at if self.timerel == "between" else None


def parse_time_filter(
    timerel: str | None,
    time_at: str | None,
    end_time_at: str | None,
    timeproperty: str | None,
) -> TimeFilter:
    prop = timeproperty or "observedAt"
    if prop not in TIME_PROPERTIES:
        raise BadRequestData(f"timeproperty must be one of {', '.join(TIME_PROPERTIES)}")
    if timerel is None:
        if time_at is not None or end_time_at is not None:
            raise BadRequestData("timeAt and endTimeAt need timerel (before, after or between)")
        return TimeFilter(timeproperty=prop)  # type: ignore[arg-type]
    if timerel not in TIMERELS:
        raise BadRequestData(f"timerel must be before, after or between, not {timerel!r}")
    if time_at is None:
        raise BadRequestData(f"timerel={timerel} needs timeAt")
    start = parse_time(time_at, "timeAt")
    end = None
    if timerel == "between":
        if end_time_at is None:
            raise BadRequestData("timerel=between needs endTimeAt")
        end = parse_time(end_time_at, "endTimeAt")
        if end <= start:
            raise BadRequestData("endTimeAt must be later than timeAt")
    elif end_time_at is not None:
        raise BadRequestData(f"endTimeAt is only allowed with timerel=between, not {timerel}")
    return TimeFilter(timerel, start, end, prop)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Aggregation:
    methods: tuple[str, ...]
    period: Duration


def parse_aggregation(methods: str | None, period: str | None) -> Aggregation:
    return Aggregation(parse_methods(methods), parse_duration(period or "PT0S"))
