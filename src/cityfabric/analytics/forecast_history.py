"""Series to forecast, read from history as the mean of each period (roll-ups when aligned)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from cityfabric.analytics.forecast_models import Series
from cityfabric.ngsild.history import HistoryService
from cityfabric.ngsild.temporal import Aggregation, Duration, TimeFilter
from cityfabric.store.base import EntityHistory, HistoryQuery, SeriesHistory

PAGE = 1000  # entities per history read


@dataclass
class Loaded:
    """The series found (keyed by entity id) and the entities skipped, with the reason."""

    series: list[Series] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)  # every entity with history
    non_numeric: set[str] = field(default_factory=set)


async def _pages(history: HistoryService, tenant: str, query: HistoryQuery) -> list[EntityHistory]:
    out: list[EntityHistory] = []
    offset = 0
    while True:
        page = await history.query(tenant, replace(query, limit=PAGE, offset=offset))
        out += page.entities
        if len(page.entities) < PAGE:
            return out
        offset += PAGE


def _default_series(entity: EntityHistory, attr: str) -> SeriesHistory | None:
    """The attribute's default instance (no datasetId), else its first dataset."""
    found = [s for s in entity.series if s.attr == attr]
    return next((s for s in found if s.dataset_id is None), found[0] if found else None)


async def load_series(
    history: HistoryService,
    tenant: str,
    base: HistoryQuery,
    attr: str,
    step_ms: int,
    window_ms: int,
) -> Loaded:
    """Mean per period of `attr` over the `window_ms` before its newest instance.

    `base` selects the entities (ids or types). The window ends with the period holding
    the newest instance of all selected entities, on a grid of whole `step_ms` since the
    epoch (so hourly and daily periods come from the roll-ups).
    """
    newest = await _pages(history, tenant, replace(base, attrs=(attr,), last_n=1))
    loaded = Loaded(seen={e.id for e in newest})
    lasts = [s.last for e in newest if (s := _default_series(e, attr)) and s.last is not None]
    if not lasts:
        return loaded
    end = (max(lasts) // step_ms + 1) * step_ms
    start = end - (window_ms // step_ms) * step_ms
    periods = (end - start) // step_ms
    query = replace(
        base,
        attrs=(attr,),
        time=TimeFilter("between", start, end, "observedAt"),
        aggregation=Aggregation(("avg", "totalCount"), Duration(ms=step_ms)),
    )
    for entity in await _pages(history, tenant, query):
        series = _default_series(entity, attr)
        if series is None:
            continue
        values = np.full(periods, np.nan)
        numeric = False
        for value, begin, _ in series.aggregates.get("avg", []):
            if isinstance(value, int | float) and math.isfinite(value):
                values[(begin - start) // step_ms] = float(value)
                numeric = True
        if not numeric and series.aggregates.get("totalCount"):
            loaded.non_numeric.add(entity.id)
            loaded.skipped[entity.id] = "the attribute's values are not numbers"
            continue
        loaded.series.append(Series(entity.id, start, values))
    return loaded
