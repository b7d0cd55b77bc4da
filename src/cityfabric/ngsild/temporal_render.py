"""History out to the caller: the temporal representations (clause 4.5.7, 4.5.9, 4.5.19) and CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any, Final

import orjson

from cityfabric.ngsild.model import VALUE_MEMBER
from cityfabric.ngsild.render import Compact, View, render_instance
from cityfabric.ngsild.temporal import format_time
from cityfabric.ngsild.temporal_query import Representation
from cityfabric.store.base import EntityHistory, SeriesHistory

# attribute kind -> the member holding [value, time] pairs in the simplified representation
_VALUES_MEMBER: Final = {
    "Property": "values",
    "GeoProperty": "values",
    "Relationship": "objects",
    "LanguageProperty": "languageMaps",
    "ListProperty": "valueLists",
    "ListRelationship": "objectLists",
    "JsonProperty": "jsons",
    "VocabProperty": "vocabs",
}


def render_history(
    entity: EntityHistory,
    compact: Compact,
    representation: Representation,
    *,
    sys_attrs: bool = False,
    timeproperty: str = "observedAt",
) -> dict[str, Any]:
    """One entity's temporal representation; series without instances are left out."""
    types = [compact(t) for t in entity.types]
    out: dict[str, Any] = {"id": entity.id, "type": types[0] if len(types) == 1 else types}
    for series in entity.series:
        if representation == "aggregatedValues":
            if not any(series.aggregates.values()):
                continue
            item: Any = _aggregated(series)
        elif not series.instances:
            continue
        elif representation == "temporalValues":
            item = _simplified(series, timeproperty)
        else:
            view = View(sys_attrs=sys_attrs)
            item = [_normalized(inst, compact, view) for inst in series.instances]
        name = compact(series.attr)
        if representation == "normalized":
            out.setdefault(name, []).extend(item)
        elif name in out:
            previous = out[name]
            out[name] = [*previous, item] if isinstance(previous, list) else [previous, item]
        else:
            out[name] = item
    return out


def _normalized(inst: dict[str, Any], compact: Compact, view: View) -> Any:
    inst = dict(inst)
    instance_id = inst.pop("instanceId")
    created = inst.get("createdAt", "")
    out = render_instance(inst, compact, view, created)
    out["instanceId"] = instance_id
    return out


def _simplified(series: SeriesHistory, timeproperty: str) -> dict[str, Any]:
    member = VALUE_MEMBER.get(series.kind, "value")
    stamp = "observedAt" if timeproperty == "observedAt" else "modifiedAt"
    pairs = [[inst.get(member), inst.get(stamp)] for inst in series.instances]
    out: dict[str, Any] = {"type": series.kind, _VALUES_MEMBER.get(series.kind, "values"): pairs}
    if series.dataset_id:
        out["datasetId"] = series.dataset_id
    return out


def _aggregated(series: SeriesHistory) -> dict[str, Any]:
    out: dict[str, Any] = {"type": series.kind}
    for method, periods in series.aggregates.items():
        out[method] = [[value, format_time(lo), format_time(hi)] for value, lo, hi in periods]
    if series.dataset_id:
        out["datasetId"] = series.dataset_id
    return out


def content_range(entities: Iterable[EntityHistory]) -> str | None:
    """`date-time <first>-<last>/*` when some attribute had more instances than returned."""
    series = [s for e in entities for s in e.series]
    if not any(s.truncated for s in series):
        return None
    firsts = [s.first for s in series if s.first is not None]
    lasts = [s.last for s in series if s.last is not None]
    if not firsts or not lasts:
        return None
    return f"date-time {format_time(min(firsts))}-{format_time(max(lasts))}/*"


def history_csv(
    entities: Iterable[EntityHistory],
    compact: Compact,
    representation: Representation,
    timeproperty: str = "observedAt",
) -> str:
    """Long-format CSV: one row per instance, or per (method, period) for aggregates."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    aggregated = representation == "aggregatedValues"
    stamp = "observedAt" if timeproperty == "observedAt" else "modifiedAt"
    head = ["method", "startAt", "endAt"] if aggregated else [stamp]
    writer.writerow(["entityId", "attribute", "datasetId", *head, "value"])
    for entity in entities:
        for series in entity.series:
            start = [entity.id, compact(series.attr), series.dataset_id or ""]
            if aggregated:
                for method, periods in series.aggregates.items():
                    for value, lo, hi in periods:
                        row = [method, format_time(lo), format_time(hi), _cell(value)]
                        writer.writerow([*start, *row])
                continue
            member = VALUE_MEMBER.get(series.kind, "value")
            for inst in series.instances:
                writer.writerow([*start, inst.get(stamp, ""), _cell(inst.get(member))])
    return buffer.getvalue()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    return orjson.dumps(value).decode()
