"""pandas frames from the HTTP API: current state, history (paged), aggregates, errors."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from cityfabric.app import create_app
from cityfabric.config import Settings
from cityfabric.frames import (
    CityFabricError,
    aggregate_frame,
    entities_frame,
    history_frame,
    history_rows,
)
from tests.conftest import STREETLIGHT_CTX, link

URL = "http://testserver"
TEMPORAL = "/ngsi-ld/v1/temporal/entities"
EID = "urn:ngsi-ld:WeatherObserved:frames-1"
T0 = datetime(2024, 3, 1, tzinfo=UTC)


def needs_temporal(client: TestClient) -> None:
    if "post" not in client.get("/openapi.json").json()["paths"].get(TEMPORAL, {}):
        pytest.skip("POST /ngsi-ld/v1/temporal/entities is not served yet (issue 3, item 2)")


def upsert(client: TestClient, docs: list[dict[str, Any]], ctx: str | None = None) -> None:
    headers = link(ctx) if ctx else {}
    resp = client.post("/ngsi-ld/v1/entityOperations/upsert", json=docs, headers=headers)
    assert resp.status_code in (201, 204), resp.text


def at(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.fixture
def small_pages(settings: Settings) -> Iterator[TestClient]:
    """A broker that answers at most 7 instances per attribute, so that paging is exercised."""
    with TestClient(create_app(replace(settings, temporal_max_instances=7)), base_url=URL) as c:
        yield c


@pytest.fixture
def readings(client: TestClient) -> dict[str, list[tuple[int, float]]]:
    """Three hours of minute temperatures and 10-minute humidity for one station."""
    needs_temporal(client)
    rng = np.random.default_rng(7)
    series = {
        "temperature": [(m, round(float(rng.normal(12, 3)), 3)) for m in range(180)],
        "humidity": [(m, float(rng.integers(30, 90))) for m in range(0, 180, 10)],
    }
    body: dict[str, Any] = {"id": EID, "type": "WeatherObserved"}
    for name, points in series.items():
        body[name] = [{"type": "Property", "value": v, "observedAt": at(m)} for m, v in points]
    assert client.post(TEMPORAL, json=body).status_code == 201
    return series


# -- current state --------------------------------------------------------------------


def test_entities_frame_with_a_context_and_q(client: TestClient) -> None:
    lights = [
        {
            "id": f"urn:ngsi-ld:Streetlight:f-{n}",
            "type": "Streetlight",
            "powerState": {"type": "Property", "value": "on" if n % 2 else "off"},
            "illuminanceLevel": {"type": "Property", "value": n / 10},
            "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [n, 1]}},
        }
        for n in range(5)
    ]
    upsert(client, lights, STREETLIGHT_CTX)
    frame = entities_frame(URL, "Streetlight", client=client, context=STREETLIGHT_CTX)
    assert len(frame) == 5
    assert {"id", "type", "powerState", "illuminanceLevel", "location"} <= set(frame.columns)
    assert frame["illuminanceLevel"].dtype == np.float64
    assert frame.loc[0, "location"] == {"type": "Point", "coordinates": [0, 1]}
    on = entities_frame(
        URL, "Streetlight", 'powerState=="on"', client=client, context=STREETLIGHT_CTX
    )
    assert sorted(on["id"]) == ["urn:ngsi-ld:Streetlight:f-1", "urn:ngsi-ld:Streetlight:f-3"]


def test_entities_frame_pages_past_1000_and_can_be_empty(client: TestClient) -> None:
    poles = [
        {"id": f"urn:ngsi-ld:Pole:{n}", "type": "Pole", "height": {"type": "Property", "value": n}}
        for n in range(1003)
    ]
    upsert(client, poles)
    frame = entities_frame(URL, "Pole", attrs=["height"], client=client)
    assert len(frame) == 1003 and frame["id"].is_unique
    assert frame["height"].sum() == sum(range(1003))
    empty = entities_frame(URL, "Nothing", client=client)
    assert empty.empty and list(empty.columns) == ["id", "type"]


def test_a_problem_becomes_a_clear_error(client: TestClient) -> None:
    with pytest.raises(CityFabricError, match="400: BadRequestData: q:"):
        entities_frame(URL, "Pole", "height>>", client=client)


def test_without_pandas_the_error_says_how_to_install_it(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"pip install 'cityfabric\[frames\]'"):
        entities_frame(URL, "Pole", client=client)


# -- history --------------------------------------------------------------------------


def expected(series: dict[str, list[tuple[int, float]]], names: list[str]) -> pd.DataFrame:
    rows = [(EID, n, None, at(m), v) for n in sorted(names) for m, v in series[n]]
    frame = pd.DataFrame(
        rows, columns=["entityId", "attribute", "datasetId", "observedAt", "value"]
    )
    frame["observedAt"] = pd.to_datetime(frame["observedAt"], utc=True)
    return frame


def test_history_frame(client: TestClient, readings: dict[str, list[tuple[int, float]]]) -> None:
    frame = history_frame(URL, EID, client=client)
    assert list(frame.columns) == ["entityId", "attribute", "datasetId", "observedAt", "value"]
    assert str(frame["observedAt"].dt.tz) == "UTC"
    want = expected(readings, ["temperature", "humidity"])
    pd.testing.assert_frame_equal(frame, want, check_dtype=False)


def test_history_frame_time_windows_and_last_n(
    client: TestClient, readings: dict[str, list[tuple[int, float]]]
) -> None:
    naive_start = datetime(2024, 3, 1, 1, 0)  # naive: UTC
    end = datetime(2024, 3, 1, 3, 30, tzinfo=timezone(timedelta(hours=2)))  # 01:30 UTC
    frame = history_frame(
        URL, EID, "temperature", client=client, time_at=naive_start, end_time_at=end
    )
    assert list(frame["value"]) == [v for m, v in readings["temperature"] if 60 <= m < 90]
    after = history_frame(URL, EID, ["humidity"], client=client, time_at="2024-03-01T02:00:00Z")
    assert list(after["value"]) == [v for m, v in readings["humidity"] if m >= 120]
    before = history_frame(URL, EID, "humidity", client=client, timerel="before", time_at=at(30))
    assert list(before["value"]) == [v for m, v in readings["humidity"] if m < 30]
    last = history_frame(URL, EID, "temperature", client=client, last_n=4)
    assert list(last["value"]) == [v for _, v in readings["temperature"][-4:]]


def test_history_frame_follows_partial_answers(small_pages: TestClient) -> None:
    needs_temporal(small_pages)
    body = {
        "id": EID,
        "type": "WeatherObserved",
        "temperature": [
            *({"type": "Property", "value": m, "observedAt": at(m)} for m in range(30)),
            *(
                {"type": "Property", "value": -m, "observedAt": at(m), "datasetId": "urn:d:2"}
                for m in range(10)
            ),
        ],
        "humidity": [{"type": "Property", "value": m, "observedAt": at(m)} for m in range(3)],
    }
    assert small_pages.post(TEMPORAL, json=body).status_code == 201
    assert small_pages.get(f"{TEMPORAL}/{EID}").status_code == 206
    frame = history_frame(URL, EID, client=small_pages)
    # NaN keys compare by identity, so the default instance is counted under ""
    keys = frame.assign(datasetId=frame["datasetId"].fillna(""))
    sizes = keys.groupby(["attribute", "datasetId"]).size().to_dict()
    assert sizes == {
        ("humidity", ""): 3,
        ("temperature", ""): 30,
        ("temperature", "urn:d:2"): 10,
    }
    default = frame[frame["attribute"].eq("temperature") & frame["datasetId"].isna()]
    assert list(default["value"]) == list(range(30))
    window = history_frame(
        URL, EID, "temperature", client=small_pages, time_at=at(5), end_time_at=at(25)
    )
    assert len(window) == 20 + 5
    with pytest.raises(CityFabricError, match="last_n"):
        history_frame(URL, EID, client=small_pages, last_n=20)


def test_history_rows_read_the_temporal_values_form_too(
    client: TestClient, readings: dict[str, list[tuple[int, float]]]
) -> None:
    simplified = client.get(f"{TEMPORAL}/{EID}", params={"options": "temporalValues"}).json()
    normalized = client.get(f"{TEMPORAL}/{EID}").json()
    assert sorted(r[:5] for r in history_rows(simplified)) == sorted(
        r[:5] for r in history_rows(normalized)
    )


# -- aggregates -----------------------------------------------------------------------


def test_aggregate_frame_matches_pandas(
    client: TestClient, readings: dict[str, list[tuple[int, float]]]
) -> None:
    methods = ["avg", "min", "max", "sum", "totalCount"]
    frame = aggregate_frame(
        URL,
        EID,
        ["temperature"],
        methods,
        "PT1H",
        client=client,
        time_at=at(0),
        end_time_at=at(180),
    )
    assert list(frame.columns) == [
        "entityId",
        "attribute",
        "datasetId",
        "method",
        "startAt",
        "endAt",
        "value",
    ]
    raw = expected(readings, ["temperature"]).set_index("observedAt")["value"]
    hourly = raw.resample("1h").agg(["mean", "min", "max", "sum", "count"])
    hourly.columns = methods
    for method in methods:
        got = frame[frame["method"] == method]
        assert list(got["startAt"]) == list(hourly.index)
        assert list(got["endAt"]) == list(hourly.index + pd.Timedelta(hours=1))
        assert np.allclose(got["value"].astype(float), hourly[method].astype(float))


def test_aggregate_frame_reports_bad_parameters(
    client: TestClient, readings: dict[str, list[tuple[int, float]]]
) -> None:
    with pytest.raises(CityFabricError, match="aggrPeriodDuration"):
        aggregate_frame(URL, EID, "temperature", "avg", "an hour", client=client)
    with pytest.raises(CityFabricError, match="median"):
        aggregate_frame(URL, EID, "temperature", "avg,median", "PT1H", client=client)
