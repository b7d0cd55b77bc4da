"""What the anomaly worker reads of entities and writes back, through the services.

- `resolve_watch`: a watch entry's terms as IRIs, with the @context of the Smart Data Model
  that defines the type (the shipped ones), else the core context.
- `site_of`: what the physics checks may know of an asset (its location, a PV peak).
- `write_results`: scores as `anomalyScore` history (all but each series' newest through the
  temporal API, the newest through a batch update, which also records it), then the Alert
  and Anomaly entities of the episodes that started or ended, in batches.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Final

import orjson

from cityfabric.analytics.alerts_entities import (
    ALERT_CONTEXT,
    alert_entity,
    anomaly_entity,
    cleared_alert,
)
from cityfabric.analytics.anomaly_config import SCORE_ATTR, Watch
from cityfabric.analytics.anomaly_cycle import SeriesOutput
from cityfabric.analytics.physics_checks import Site
from cityfabric.analytics.physics_checks_pv import clear_sky_pv
from cityfabric.ngsild.context import core_context
from cityfabric.ngsild.contexts_store import shipped_contexts
from cityfabric.ngsild.errors import ResourceNotFound
from cityfabric.ngsild.history import HistoryService
from cityfabric.ngsild.model import DEFAULT_VOCAB, EntityDoc
from cityfabric.ngsild.service import EntityService
from cityfabric.ngsild.temporal import format_time

log = logging.getLogger(__name__)
LOCATION: Final = "https://uri.etsi.org/ngsi-ld/location"
_SDM_PREFIX: Final = "https://smart-data-models.github.io/"


@dataclass(frozen=True)
class Names:
    entity_type: str  # IRI
    attribute: str  # IRI
    alert_ctx: Any  # the dataModel.Alert active context


def _sdm_urls() -> list[str]:
    index = orjson.loads((shipped_contexts() / "index.json").read_bytes())
    return sorted(url for url in index if url.startswith(_SDM_PREFIX))


async def resolve_watch(contexts: Any, watch: Watch) -> Names:
    ctx = core_context()
    for url in _sdm_urls():
        candidate = await contexts.resolve(url)
        if not candidate.expand(watch.entity_type).startswith(DEFAULT_VOCAB):
            ctx = candidate
            break
    alert_ctx = await contexts.resolve(ALERT_CONTEXT)
    return Names(ctx.expand(watch.entity_type), ctx.expand(watch.attribute), alert_ctx)


def _first_value(doc: EntityDoc, suffix: str) -> Any:
    for iri, instances in doc.get("attrs", {}).items():
        if iri.endswith(suffix) and instances:
            return instances[0].get("value")
    return None


def site_of(doc: EntityDoc) -> Site:
    """An asset's location (a Point's coordinates) and, for a panel, its nominal power."""
    location = _first_value(doc, LOCATION)
    lon = lat = None
    if isinstance(location, dict) and location.get("type") == "Point":
        lon, lat = (float(c) for c in location["coordinates"][:2])
    peak = _first_value(doc, "/NominalPower")
    peak = float(peak) if isinstance(peak, int | float) else None
    site = Site(lat, lon, peak, extra={"location": location})
    if peak is None or lat is None:
        return site
    # without measured weather, a clear sky bounds the output: enough to tell a dead panel
    return Site(lat, lon, peak, _clear_sky(site, peak), extra=site.extra)


def _clear_sky(site: Site, peak: float) -> Any:
    def expected(seconds: float) -> float | None:
        sun = site.sun(seconds)
        return None if sun is None else clear_sky_pv(sun, peak)

    return expected


def _score(seconds: float, score: float, dataset: str) -> dict[str, Any]:
    at = format_time(round(seconds * 1000))
    return {"type": "Property", "value": score, "observedAt": at, "datasetId": dataset}


async def write_results(
    entities: EntityService,
    history: HistoryService,
    tenant: str,
    names: Names,
    outputs: list[SeriesOutput],
    sites: dict[str, Site],
) -> None:
    core = core_context()
    older: dict[str, list[dict[str, Any]]] = defaultdict(list)
    newest: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for out in outputs:
        if not out.scores:
            continue
        dataset = names.attribute if out.dataset_id is None else out.dataset_id
        *before, last = sorted(out.scores)
        if before:
            older[out.entity_id] += [_score(t, s, dataset) for t, s in before]
        newest[out.entity_id].append(_score(*last, dataset))
    updates: list[tuple[object, Any]] = [
        ({"id": i, SCORE_ATTR: v}, core) for i, v in newest.items()
    ]
    for entity_id in await _batch(entities, tenant, "update", updates, quiet=ResourceNotFound):
        older[entity_id] += newest[entity_id]  # history only: no current entity to update
    for entity_id, instances in older.items():
        body = {"id": entity_id, "type": names.entity_type, SCORE_ATTR: instances}
        await history.create(tenant, body, core)
    await _write_episodes(entities, tenant, names, outputs, sites)


async def _write_episodes(
    entities: EntityService,
    tenant: str,
    names: Names,
    outputs: list[SeriesOutput],
    sites: dict[str, Site],
) -> None:
    raised: dict[str, tuple[object, Any]] = {}
    cleared: dict[str, tuple[object, Any]] = {}
    for out in outputs:
        for event in out.events:
            eid, attr = out.entity_id, names.attribute
            if event.what == "raised":
                where = sites.get(eid, Site()).extra.get("location")
                alert = alert_entity(eid, names.entity_type, attr, event, where)
                raised[alert["id"]] = (alert, names.alert_ctx)
                anomaly = anomaly_entity(eid, attr, event)
                raised[anomaly["id"]] = (anomaly, names.alert_ctx)
                cleared.pop(alert["id"], None)
            else:
                alert = cleared_alert(eid, attr, event)
                cleared[alert["id"]] = (alert, names.alert_ctx)
    await _batch(entities, tenant, "upsert", list(raised.values()))
    await _batch(entities, tenant, "upsert", list(cleared.values()), mode="update")


async def _batch(
    entities: EntityService,
    tenant: str,
    kind: Any,
    items: list[tuple[object, Any]],
    mode: Any = "replace",
    quiet: type[Exception] | None = None,
) -> list[str]:
    """Write in batches of 1000; the ids that failed with `quiet` (others are logged)."""
    failed: list[str] = []
    for start in range(0, len(items), 1000):
        result = await entities.batch(tenant, kind, items[start : start + 1000], upsert_mode=mode)
        for entity_id, err in result.errors:
            if quiet is not None and isinstance(err, quiet):
                failed.append(entity_id)
            else:
                log.warning("anomaly results for %s not written: %s", entity_id, err)
    return failed
