"""History, aggregates and current state from a running CityFabric as pandas DataFrames.

pandas is optional: `pip install 'cityfabric[frames]'`. Every function takes the
broker's base URL (`http://127.0.0.1:8000`) and, for tests or connection reuse,
an `httpx.Client` (a FastAPI `TestClient` works too). See docs/pandas.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

import httpx

if TYPE_CHECKING:
    import pandas as pd

API: Final = "/ngsi-ld/v1"
LINK_REL: Final = 'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
PAGE: Final = 1000  # the broker's largest page
HISTORY_COLUMNS: Final = ("entityId", "attribute", "datasetId", "observedAt", "value")
AGGREGATE_COLUMNS: Final = (
    "entityId",
    "attribute",
    "datasetId",
    "method",
    "startAt",
    "endAt",
    "value",
)
_NOT_ATTRIBUTES: Final = frozenset({"id", "type", "@context", "scope", "createdAt", "modifiedAt"})
_VALUE_KEYS: Final = ("value", "object", "languageMap", "valueList", "objectList", "json", "vocab")
_VALUES_KEYS: Final = (
    "values",
    "objects",
    "languageMaps",
    "valueLists",
    "objectLists",
    "jsons",
    "vocabs",
)

Time = str | datetime | None
Names = str | Sequence[str] | None


class CityFabricError(RuntimeError):
    """The broker answered with a problem (RFC 9457) instead of data."""


def _require_pandas() -> None:
    try:
        import pandas  # noqa: F401
    except ImportError as err:
        raise ImportError(
            "cityfabric.frames needs pandas: pip install 'cityfabric[frames]' (or pandas>=2)"
        ) from err


@contextmanager
def _session(client: httpx.Client | None) -> Iterator[httpx.Client]:
    if client is not None:
        yield client
        return
    with httpx.Client(timeout=120) as own:
        yield own


def _headers(tenant: str | None, context: str | None) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    if tenant:
        headers["NGSILD-Tenant"] = tenant
    if context:
        headers["Link"] = f"<{context}>; {LINK_REL}"
    return headers


def _fetch(
    client: httpx.Client, url: str, params: dict[str, str], headers: dict[str, str]
) -> tuple[Any, bool]:
    """The JSON answer, and whether it is partial (206: the broker's per-attribute cap)."""
    resp = client.get(url, params=params, headers=headers)
    if not resp.is_success:
        try:
            problem = resp.json()
            reason = f"{problem.get('title')}: {problem.get('detail')}"
        except (ValueError, AttributeError):
            reason = resp.text[:200]
        raise CityFabricError(f"GET {resp.request.url} answered {resp.status_code}: {reason}")
    return resp.json(), resp.status_code == 206


def _get(client: httpx.Client, url: str, params: dict[str, str], headers: dict[str, str]) -> Any:
    body, partial = _fetch(client, url, params, headers)
    if partial:
        raise CityFabricError(f"GET {url} answered only part of the data; narrow the query")
    return body


def _time(value: Time) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _names(value: Names) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return ",".join(value)


def _temporal_params(
    attrs: Names, time_at: Time, end_time_at: Time, timerel: str | None
) -> dict[str, str]:
    """attrs and the time filter; timerel defaults to between (with an end) or after."""
    params: dict[str, str] = {}
    if (names := _names(attrs)) is not None:
        params["attrs"] = names
    start, end = _time(time_at), _time(end_time_at)
    if start is not None:
        params["timerel"] = timerel or ("between" if end is not None else "after")
        params["timeAt"] = start
    elif timerel is not None:
        params["timerel"] = timerel
    if end is not None:
        params["endTimeAt"] = end
    return params


def _temporal_url(url: str, entity_id: str) -> str:
    return f"{url.rstrip('/')}{API}/temporal/entities/{quote(entity_id, safe=':')}"


def _attributes(body: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, one attribute object) of a temporal entity: multi-attributes give several."""
    if not isinstance(body, dict):
        return
    for name, value in body.items():
        if name in _NOT_ATTRIBUTES:
            continue
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict):
                yield name, item


def _value(instance: dict[str, Any]) -> Any:
    return next((instance[k] for k in _VALUE_KEYS if k in instance), None)


def history_rows(body: Any) -> Iterator[tuple[Any, ...]]:
    """(entityId, attribute, datasetId, observedAt, value, instanceId) of a temporal entity.

    Reads both the normalized form (one object per instance) and the
    temporalValues form (`{"values": [[value, time], ...]}` per attribute).
    """
    eid = body.get("id") if isinstance(body, dict) else None
    for name, item in _attributes(body):
        dataset = item.get("datasetId")
        pairs = next((item[k] for k in _VALUES_KEYS if isinstance(item.get(k), list)), None)
        if pairs is None:
            at, iid = item.get("observedAt"), item.get("instanceId")
            yield eid, name, dataset, at, _value(item), iid
            continue
        for pair in pairs:
            if isinstance(pair, list) and len(pair) >= 2:
                yield eid, name, dataset, pair[1], pair[0], None


def _cut_short(body: Any) -> dict[str, str]:
    """Where to resume each attribute of a partial answer.

    The broker caps instances per attribute series, so the longest series of the
    answer are the ones cut short; each resumes at its last time (instances at that
    time come again and are dropped by instanceId).
    """
    times: dict[tuple[str, Any], list[str]] = {}
    for _, name, dataset, at, _, _ in history_rows(body):
        times.setdefault((name, dataset), []).append(str(at))
    cap = max((len(v) for v in times.values()), default=0)
    resume: dict[str, str] = {}
    for (name, _), stamps in times.items():
        if len(stamps) == cap:
            resume[name] = min(resume.get(name, max(stamps)), max(stamps))
    return resume


def _resume(params: dict[str, str], attr: str, start: str) -> dict[str, str]:
    """`params` narrowed to `attr` from `start` on, within the window first asked for."""
    rel = params.get("timerel")
    end = {"between": params.get("endTimeAt"), "before": params.get("timeAt")}.get(rel or "")
    out = {k: v for k, v in params.items() if k not in ("timerel", "timeAt", "endTimeAt")}
    out.update(attrs=attr, timerel="between" if end else "after", timeAt=start)
    if end:
        out["endTimeAt"] = end
    return out


@dataclass
class _Pager:
    """Every instance asked for, following partial (206) answers attribute by attribute."""

    http: httpx.Client
    url: str
    params: dict[str, str]
    headers: dict[str, str]
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    def add(self, body: Any) -> int:
        """Keep the instances not seen yet (by instanceId); how many were new."""
        added = 0
        for *row, iid in history_rows(body):
            if iid is not None:
                if iid in self.seen:
                    continue
                self.seen.add(iid)
            self.rows.append(tuple(row))
            added += 1
        return added

    def fetch(self) -> list[tuple[Any, ...]]:
        body, partial = _fetch(self.http, self.url, self.params, self.headers)
        self.add(body)
        if partial and "lastN" in self.params:
            raise CityFabricError("last_n is above the broker's per-attribute limit; ask fewer")
        for attr, start in (_cut_short(body) if partial else {}).items():
            self._follow(attr, start)
        return self.rows

    def _follow(self, attr: str, start: str) -> None:
        while True:
            params = _resume(self.params, attr, start)
            body, partial = _fetch(self.http, self.url, params, self.headers)
            added = self.add(body)
            if not partial:
                return
            following = _cut_short(body).get(attr)
            if following is None or not added:
                raise CityFabricError(
                    f"cannot page through {attr}: more instances share the time {start} "
                    "than the broker answers at once"
                )
            start = following


def aggregate_rows(body: Any, methods: Sequence[str]) -> Iterator[tuple[Any, ...]]:
    """(entityId, attribute, datasetId, method, startAt, endAt, value) of aggregatedValues."""
    eid = body.get("id") if isinstance(body, dict) else None
    for name, item in _attributes(body):
        for method in methods:
            for triple in item.get(method) or []:
                if isinstance(triple, list) and len(triple) >= 3:
                    yield eid, name, item.get("datasetId"), method, triple[1], triple[2], triple[0]


def _frame(
    rows: list[tuple[Any, ...]], columns: Sequence[str], times: Sequence[str]
) -> pd.DataFrame:
    _require_pandas()
    import pandas as pd

    frame = pd.DataFrame.from_records(rows, columns=list(columns))
    for column in times:
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    return frame


def history_frame(
    url: str,
    entity_id: str,
    attrs: Names = None,
    *,
    tenant: str | None = None,
    context: str | None = None,
    time_at: Time = None,
    end_time_at: Time = None,
    timerel: str | None = None,
    last_n: int | None = None,
    client: httpx.Client | None = None,
) -> pd.DataFrame:
    """One row per attribute instance: entityId, attribute, datasetId, observedAt (UTC), value.

    Rows are sorted by attribute, datasetId (the default instance first), then
    observedAt. Times may be ISO 8601 text or datetimes (naive ones are UTC); with
    `time_at` alone `timerel` defaults to after, with both times to between. Long
    histories come in several requests when the broker answers part of them (206).
    """
    _require_pandas()
    params = _temporal_params(attrs, time_at, end_time_at, timerel)
    if last_n is not None:
        params["lastN"] = str(last_n)
    with _session(client) as http:
        pager = _Pager(http, _temporal_url(url, entity_id), params, _headers(tenant, context))
        rows = pager.fetch()
    frame = _frame(rows, HISTORY_COLUMNS, ["observedAt"])
    keys = ["attribute", "datasetId", "observedAt"]
    return frame.sort_values(keys, kind="stable", na_position="first", ignore_index=True)


def aggregate_frame(
    url: str,
    entity_id: str,
    attrs: Names,
    methods: str | Sequence[str],
    period: str,
    *,
    tenant: str | None = None,
    context: str | None = None,
    time_at: Time = None,
    end_time_at: Time = None,
    timerel: str | None = None,
    client: httpx.Client | None = None,
) -> pd.DataFrame:
    """One row per period and method: entityId, attribute, datasetId, method, startAt, endAt,
    value.

    `methods` are NGSI-LD aggregation methods (avg, min, max, sum, totalCount,
    distinctCount, stddev, sumsq); `period` an ISO 8601 duration such as PT1H or P1D.
    """
    _require_pandas()
    chosen = [m.strip() for m in methods.split(",")] if isinstance(methods, str) else list(methods)
    params = _temporal_params(attrs, time_at, end_time_at, timerel)
    params.update(
        options="aggregatedValues", aggrMethods=",".join(chosen), aggrPeriodDuration=period
    )
    with _session(client) as http:
        body = _get(http, _temporal_url(url, entity_id), params, _headers(tenant, context))
    rows = list(aggregate_rows(body, chosen))
    frame = _frame(rows, AGGREGATE_COLUMNS, ["startAt", "endAt"])
    keys = ["attribute", "datasetId", "method", "startAt"]
    return frame.sort_values(keys, kind="stable", na_position="first", ignore_index=True)


def entities_frame(
    url: str,
    type: str,
    q: str | None = None,
    *,
    attrs: Names = None,
    tenant: str | None = None,
    context: str | None = None,
    client: httpx.Client | None = None,
) -> pd.DataFrame:
    """The current state of every entity of `type` (matching `q`), one row each (keyValues).

    Columns: id, type, then one per attribute; GeoProperty values stay GeoJSON dicts.
    """
    _require_pandas()
    import pandas as pd

    params = {"type": type, "options": "keyValues", "limit": str(PAGE)}
    if q is not None:
        params["q"] = q
    if (names := _names(attrs)) is not None:
        params["attrs"] = names
    records: list[dict[str, Any]] = []
    with _session(client) as http:
        while True:
            params["offset"] = str(len(records))
            page = _get(http, f"{url.rstrip('/')}{API}/entities", params, _headers(tenant, context))
            if not isinstance(page, list):
                raise CityFabricError(f"expected a list of entities, got {str(page)[:200]}")
            records.extend(page)
            if len(page) < PAGE:
                break
    frame = pd.DataFrame.from_records(records)
    return frame if records else pd.DataFrame(columns=["id", "type"])
