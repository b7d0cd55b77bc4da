"""History instances as rows, the same on every engine.

Both stores keep an instance as (ts, num, val, dmod, extra) columns: numbers in
`num` (64-bit integers or floats), any other value as JSON text in `val`, the
modification time as an offset from the observation time, and the members
that are not the series' own as JSON. This module turns instances into those
columns (`prepare`), rows back into instances (`instance_of_row`), and picks
the roll-up table that answers an aggregation exactly (`rollup_table`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import orjson

from cityfabric.ngsild.errors import ResourceNotFound
from cityfabric.ngsild.model import VALUE_MEMBER, EntityDoc, Instance
from cityfabric.ngsild.temporal import (
    DAY_MS,
    HOUR_MS,
    ROLLUP_METHODS,
    Aggregation,
    TimeFilter,
    format_time,
    parse_time,
)

# members of an instance kept in their own columns (or not kept: instanceId is derived)
_OWN: Final = frozenset({"observedAt", "modifiedAt", "createdAt", "instanceId", "datasetId"})
_INT64_MIN: Final = -(2**63)  # integers the num column holds; larger ones go to val
_INT64_MAX: Final = 2**63 - 1
FEED_RETENTION_MS: Final = 24 * 3600 * 1000  # change feed rows kept this long by default


def instance_id(sid: int, iid: int) -> str:
    return f"urn:ngsi-ld:Instance:{sid}-{iid}"


def parse_instance_id(text: str) -> tuple[int, int]:
    """(sid, iid) of an instanceId made by `instance_id`; ResourceNotFound otherwise."""
    prefix = "urn:ngsi-ld:Instance:"
    sid, _, iid = text.removeprefix(prefix).partition("-")
    if not text.startswith(prefix) or not sid.isdigit() or not iid.isdigit():
        raise ResourceNotFound(f"no attribute instance {text!r}")
    return int(sid), int(iid)


def split_value(inst: Instance) -> tuple[Any, str | None]:
    """(num, val) columns of an instance's value: numbers in num, JSON text in val."""
    value: Any = inst.get(VALUE_MEMBER.get(inst.get("type", "Property"), "value"))
    kind = type(value)
    if kind is float or (kind is int and _INT64_MIN <= value <= _INT64_MAX):
        return value, None
    if kind is bool:
        return (1 if value else 0), "true" if value else "false"
    return None, orjson.dumps(value).decode()


def rest_of(inst: Instance) -> dict[str, Any]:
    """The members of an instance that are neither its value nor its own columns."""
    member = VALUE_MEMBER.get(inst.get("type", "Property"), "value")
    return {k: v for k, v in inst.items() if k not in _OWN and k != member}


@dataclass(slots=True)
class SeriesRows:
    """The instances of one series, as columns: (ts, num, val, dmod, rest or None)."""

    first: Instance  # gives the series its meta when it is new
    rows: list[tuple[int, Any, str | None, int | None, dict[str, Any] | None]]
    lo: int  # earliest and latest ts of the rows
    hi: int


Prepared = dict[tuple[str, str], SeriesRows]  # (attribute IRI, datasetId) -> rows


def prepare(instances: Iterable[tuple[str, Instance]], default_mod: int) -> Prepared:
    """Instances as row columns, grouped by series; BadRequestData for a bad time.

    `rest` is None for the telemetry shape {type: Property, value, observedAt}; with a
    unitCode too, it is one dict per unit, shared by the rows.
    """
    out: Prepared = {}
    units: dict[str, dict[str, Any]] = {}
    times: dict[str, int] = {}  # the attributes of a reading share their observedAt
    for attr, inst in instances:
        observed = inst.get("observedAt")
        size = len(inst)
        if (
            (size == 3 or (size == 4 and type(inst.get("unitCode")) is str))
            and type(observed) is str
            and inst.get("type") == "Property"
        ):
            value = inst["value"]
            kind = type(value)
            num, val = (
                (value, None)
                if kind is float or (kind is int and _INT64_MIN <= value <= _INT64_MAX)
                else split_value(inst)  # an integer past 64 bits is kept exact, as JSON text
            )
            ts = times.get(observed)
            if ts is None:
                ts = times[observed] = parse_time(observed, "observedAt")
            rest = None if size == 3 else _unit_rest(units, inst["unitCode"])
            row: tuple[int, Any, str | None, int | None, dict[str, Any] | None] = (
                ts,
                num,
                val,
                default_mod - ts,
                rest,
            )
            dataset = ""
        else:
            num, val = split_value(inst)
            mod_text = inst.get("modifiedAt")
            mod = parse_time(mod_text, "modifiedAt") if mod_text else default_mod
            if observed is None:
                row = (mod, num, val, None, rest_of(inst))
            else:
                ts = parse_time(observed, "observedAt")
                row = (ts, num, val, mod - ts, rest_of(inst))
            dataset = inst.get("datasetId", "")
        series = out.get((attr, dataset))
        t = row[0]
        if series is None:
            series = out[(attr, dataset)] = SeriesRows(inst, [], t, t)
        elif t < series.lo:
            series.lo = t
        elif t > series.hi:
            series.hi = t
        series.rows.append(row)
    return out


def _unit_rest(units: dict[str, dict[str, Any]], unit: str) -> dict[str, Any]:
    """`rest_of` a telemetry instance with a unitCode, one dict per unit."""
    rest = units.get(unit)
    if rest is None:
        rest = units[unit] = {"type": "Property", "unitCode": unit}
    return rest


def changed_instances(before: EntityDoc | None, after: EntityDoc) -> Iterator[tuple[str, Instance]]:
    """The instances of `after` that `before` did not have exactly (new or changed)."""
    old_attrs = (before.get("attrs") or {}) if before is not None else {}
    for attr, instances in (after.get("attrs") or {}).items():
        old = old_attrs.get(attr)
        if old == instances:
            continue
        for inst in instances:
            if old is None or inst not in old:
                yield attr, inst


# -- reading back -----------------------------------------------------------------


def instance_of_row(
    sid: int, meta: dict[str, Any], dataset: str | None, row: tuple[Any, ...]
) -> Instance:
    """An instance from its series' meta and its row (ts, iid, num, val, dmod, extra)."""
    ts, iid, num, val, dmod, extra = row
    inst: Instance = dict(meta) if extra is None else orjson.loads(extra)
    value = num if val is None else orjson.loads(val)
    inst[VALUE_MEMBER.get(inst.get("type", "Property"), "value")] = value
    modified = ts if dmod is None else ts + dmod
    if dmod is not None:
        inst["observedAt"] = format_time(ts)
    if dataset:
        inst["datasetId"] = dataset
    inst["instanceId"] = instance_id(sid, iid)
    inst["createdAt"] = inst["modifiedAt"] = format_time(modified)
    return inst


def feed_value(val: str, num: object) -> object:
    """A stored value as the change feed gives it: booleans as booleans."""
    value: object = orjson.loads(val)
    return value if num is None or isinstance(value, bool) else num


def sum_value(val: str, num: object) -> object:
    """A stored non-numeric value; booleans keep their 1/0 so they sum like SQL does."""
    return num if num is not None else orjson.loads(val)


def rollup_table(time: TimeFilter, aggr: Aggregation, use_rollups: bool) -> str | None:
    """The roll-up that answers this exactly, if any: aligned range and period, no raw method."""
    if not use_rollups or time.timeproperty != "observedAt" or aggr.period.months:
        return None
    if not set(aggr.methods) <= ROLLUP_METHODS or time.start is None or time.end is None:
        return None
    for table, size in (("hist_daily", DAY_MS), ("hist_hourly", HOUR_MS)):
        if time.start % size == 0 and time.end % size == 0 and aggr.period.ms % size == 0:
            return table
    return None
