"""/cityfabric/v1/retention: raw history retention rules per tenant and entity type."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityfabric.ngsild.temporal import parse_time
from tests.api.test_entities import problem
from tests.api.test_temporal import S1, S2, history, prop, temporal_create, values
from tests.conftest import STREETLIGHT_CTX, link

R = "/cityfabric/v1/retention"


def put(client: TestClient, body: Any, **headers: str) -> Any:
    r = client.put(R, json=body, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_no_rules_at_first(client: TestClient) -> None:
    r = client.get(R)
    assert r.status_code == 200
    assert r.json() == {"default": None, "types": {}}


def test_put_and_get_back(client: TestClient) -> None:
    body = {"default": "P30D", "types": {"Sensor": "P7D", "Streetlight": "PT12H"}}
    assert put(client, body) == body
    assert client.get(R).json() == body
    # PUT replaces every rule
    assert put(client, {"types": {"Sensor": "P2W"}}) == {
        "default": None,
        "types": {"Sensor": "P14D"},
    }
    assert put(client, {"default": "PT90M"}) == {"default": "PT5400S", "types": {}}
    assert put(client, {"default": "P1DT1H"}) == {"default": "PT25H", "types": {}}
    assert put(client, {}) == {"default": None, "types": {}}
    assert put(client, {"default": None, "types": None}) == {"default": None, "types": {}}
    assert client.get(R).json() == {"default": None, "types": {}}


def test_type_names_follow_the_context(client: TestClient) -> None:
    put(client, {"types": {"Sensor": "P1D", "https://example.org/Pump": "P2D"}})
    got = client.get(R).json()["types"]
    assert got == {"Sensor": "P1D", "https://example.org/Pump": "P2D"}
    # with another @context, the same IRIs are compacted with it
    r = client.put(R, json={"types": {"Streetlight": "P3D"}}, headers=link(STREETLIGHT_CTX))
    assert r.status_code == 200, r.text
    assert r.json()["types"] == {"Streetlight": "P3D"}
    assert list(client.get(R).json()["types"]) != ["Streetlight"]  # an IRI the core can't compact
    assert client.get(R, headers=link(STREETLIGHT_CTX)).json()["types"] == {"Streetlight": "P3D"}


@pytest.mark.parametrize(
    "body",
    [
        {"default": "P1M"},
        {"default": "P1Y"},
        {"types": {"Sensor": "P1M"}},
        {"default": "1D"},
        {"default": "PT1X"},
        {"default": ""},
        {"default": "P"},
        {"default": "PT0S"},
        {"default": "P0D"},
        {"default": 30},
        {"default": ["P1D"]},
        {"types": {"Sensor": 7}},
        {"types": {"Sensor": None}},
        {"types": {"bad name": "P1D"}},
        {"types": []},
        {"types": "Sensor"},
        {"default": "P" + "9" * 30 + "D"},
        {"default": "PT" + "9" * 400 + "S"},
        {"default": "P1000000D"},
        {"other": "P1D"},
        [{"default": "P1D"}],
        "P1D",
    ],
)
def test_bad_rules_are_bad_request_data(client: TestClient, body: Any) -> None:
    put(client, {"default": "P9D"})
    problem(client.put(R, json=body), 400, "BadRequestData")
    assert client.get(R).json() == {"default": "P9D", "types": {}}  # nothing changed


def test_error_messages(client: TestClient) -> None:
    body = problem(client.put(R, json={"default": "P1M"}), 400, "BadRequestData")
    assert "P1M" in body["detail"] and "days" in body["detail"]
    body = problem(client.put(R, json={"types": {"Sensor": "1D"}}), 400, "BadRequestData")
    assert "retention of 'Sensor'" in body["detail"] and "aggrPeriodDuration" not in body["detail"]


def test_request_errors(client: TestClient) -> None:
    r = client.put(R, content=b"{", headers={"Content-Type": "application/json"})
    problem(r, 400, "InvalidRequest")
    r = client.put(R, content=b"{}", headers={"Content-Type": "text/plain"})
    problem(r, 415, "InvalidRequest")
    problem(client.get(R, headers={"NGSILD-Tenant": "bad tenant!"}), 400, "BadRequestData")


def test_rules_are_per_tenant(client: TestClient) -> None:
    t1 = {"NGSILD-Tenant": "t1"}
    put(client, {"default": "P1D"}, **t1)
    put(client, {"default": "P5D"})
    assert client.get(R, headers=t1).json()["default"] == "P1D"
    assert client.get(R).json()["default"] == "P5D"
    assert client.get(R, headers={"NGSILD-Tenant": "t2"}).json() == {"default": None, "types": {}}


def expire(client: TestClient, now: str) -> int:
    """Run one retention pass at `now`, on the app's event loop."""
    deleted: int = client.portal.call(client.app.state.history.expire, parse_time(now))  # type: ignore[union-attr,attr-defined]
    return deleted


def test_expiry_deletes_raw_history_and_keeps_roll_ups(client: TestClient) -> None:
    old = [prop(1, "2024-01-01T00:00:00Z"), prop(3, "2024-01-01T00:30:00Z")]
    recent = prop(5, "2024-01-09T12:00:00Z")
    temporal_create(client, {"id": S1, "type": "Sensor", "temp": [*old, recent]})
    temporal_create(client, {"id": S2, "type": "Meter", "temp": old})
    put(client, {"default": "P30D", "types": {"Sensor": "P7D"}})
    assert expire(client, "2024-01-10T00:00:00Z") == 2  # Sensor: older than Jan 3
    assert values(client) == [[5, "2024-01-09T12:00:00.000Z"]]
    assert len(values(client, S2)) == 2  # Meter falls under the default of 30 days
    # hourly and daily roll-ups outlive the raw instances
    hourly = history(
        client,
        options="aggregatedValues",
        aggrMethods="sum,totalCount,max",
        aggrPeriodDuration="PT1H",
        timerel="between",
        timeAt="2024-01-01T00:00:00Z",
        endTimeAt="2024-01-10T00:00:00Z",
    )["temp"]
    assert [p[0] for p in hourly["sum"]] == [4, 5]
    assert [p[0] for p in hourly["totalCount"]] == [2, 1]
    assert [p[0] for p in hourly["max"]] == [3, 5]
    assert expire(client, "2024-03-01T00:00:00Z") == 3
    assert values(client, S2) == []
    assert history(client, S2) == {"id": S2, "type": "Meter"}  # the entity's history remains
