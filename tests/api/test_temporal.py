"""/ngsi-ld/v1/temporal through the ASGI app: every parameter, representation and edit."""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityfabric.app import create_app
from cityfabric.config import Settings
from tests.api.test_entities import B, create, problem

T = f"{B}/temporal/entities"
QUERY = f"{B}/temporal/entityOperations/query"
S1 = "urn:ngsi-ld:Sensor:1"
S2 = "urn:ngsi-ld:Sensor:2"
DS_B = "urn:ngsi-ld:Dataset:b"
T0 = "2024-01-01T00:00:00Z"
T1 = "2024-01-01T01:00:00Z"
INSTANCE_ID = re.compile(r"^urn:ngsi-ld:Instance:\d+-\d+$")
TV = {"options": "temporalValues"}


def at(hhmm: str, day: str = "2024-01-01") -> str:
    """The UTC instant `day`T`hhmm` as the broker writes it back."""
    return f"{day}T{hhmm}:00.000Z"


def prop(value: Any, observed: str, **extra: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value, "observedAt": observed, **extra}


def history(client: TestClient, entity_id: str = S1, **params: str) -> Any:
    r = client.get(f"{T}/{entity_id}", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def temporal_create(client: TestClient, body: dict[str, Any], **headers: str) -> None:
    r = client.post(T, json=body, headers=headers)
    assert r.status_code in (201, 204), r.text


def values(client: TestClient, entity_id: str = S1, attr: str = "temp", **params: str) -> Any:
    """The [value, time] pairs of one attribute's default dataset."""
    got = history(client, entity_id, **TV, attrs=attr, **params).get(attr, [])
    series = got if isinstance(got, list) else [got]
    return next((s["values"] for s in series if "datasetId" not in s), [])


# a series with hand-computable aggregates: hour 0 = 1, 2, 2; hour 1 = 5; hour 2 empty; hour 3 = 10
SERIES = [
    (1, "2024-01-01T00:00:00Z"),
    (2, "2024-01-01T00:20:00Z"),
    (2, "2024-01-01T00:40:00Z"),
    (5, "2024-01-01T01:10:00Z"),
    (10, "2024-01-01T03:00:00Z"),
]


def seed_series(client: TestClient, entity_id: str = S1, **headers: str) -> None:
    body = {"id": entity_id, "type": "Sensor", "temp": [prop(v, t) for v, t in SERIES]}
    temporal_create(client, body, **headers)


@pytest.fixture
def small(settings: Settings) -> Iterator[TestClient]:
    """An app that returns at most 3 instances per attribute."""
    with TestClient(create_app(replace(settings, temporal_max_instances=3))) as c:
        yield c


# -- parameter errors -----------------------------------------------------------------------

AGG = {"options": "aggregatedValues", "aggrMethods": "sum"}
BAD_PARAMETERS: list[dict[str, str]] = [
    {**AGG, "aggrPeriodDuration": "PT1X"},
    {**AGG, "aggrPeriodDuration": "1H"},
    {**AGG, "aggrPeriodDuration": ""},
    {**AGG, "aggrPeriodDuration": "P"},
    {**AGG, "aggrPeriodDuration": "PT"},
    {**AGG, "aggrPeriodDuration": "P1H"},
    {**AGG, "aggrPeriodDuration": "-PT1H"},
    {**AGG, "aggrPeriodDuration": "P" + "9" * 30 + "D"},
    {**AGG, "aggrPeriodDuration": "PT" + "9" * 400 + "S"},
    {**AGG, "aggrPeriodDuration": "P99999999999Y"},
    {**AGG, "aggrPeriodDuration": "P99999M"},
    {"timerel": "between", "timeAt": T0},
    {"timerel": "between", "timeAt": T0, "endTimeAt": T0},
    {"timerel": "between", "timeAt": T1, "endTimeAt": T0},
    {"timerel": "between", "timeAt": T0, "endTimeAt": "soon"},
    {"timeAt": T0},
    {"endTimeAt": T1},
    {"timerel": "during", "timeAt": T0},
    {"timerel": "", "timeAt": T0},
    {"timerel": "after"},
    {"timerel": "after", "timeAt": "yesterday"},
    {"timerel": "after", "timeAt": "2024-13-01T00:00:00Z"},
    {"timerel": "after", "timeAt": "2024-01-01T00:00:00+25:00"},
    {"timerel": "after", "timeAt": ""},
    {"timerel": "before", "timeAt": T1, "endTimeAt": T1},
    {"options": "aggregatedValues", "aggrMethods": "median"},
    {"options": "aggregatedValues", "aggrMethods": "sum,"},
    {"options": "aggregatedValues"},
    {"options": "aggregatedValues", "aggrMethods": ""},
    {"aggrMethods": "sum"},
    {"aggrPeriodDuration": "PT1H"},
    {"options": "temporalValues,aggregatedValues", "aggrMethods": "sum"},
    {"lastN": "0"},
    {"lastN": "abc"},
    {"lastN": "-3"},
    {"lastN": ""},
    {"lastN": "100001"},
    {"timeproperty": "deletedAt"},
    {"timeproperty": ""},
    {"options": "fancy"},
    {"attrs": "a b"},
    {"attrs": ""},
]


def test_every_bad_parameter_is_bad_request_data(client: TestClient) -> None:
    seed_series(client)
    for params in BAD_PARAMETERS:
        for url, extra in ((f"{T}/{S1}", {}), (T, {"type": "Sensor"})):
            r = client.get(url, params={**extra, **params})
            assert r.status_code == 400, (params, r.status_code, r.text)
            problem(r, 400, "BadRequestData")


def test_error_messages_name_the_parameter(client: TestClient) -> None:
    seed_series(client)
    cases = [
        ({**AGG, "aggrPeriodDuration": "PT1X"}, "aggrPeriodDuration"),
        ({**AGG, "aggrPeriodDuration": ""}, "aggrPeriodDuration"),
        ({"timerel": "between", "timeAt": T0}, "endTimeAt"),
        ({"timerel": "between", "timeAt": T1, "endTimeAt": T0}, "later than timeAt"),
        ({"timeAt": T0}, "timerel"),
        ({"timerel": "soon", "timeAt": T0}, "timerel"),
        ({"timerel": "after", "timeAt": "noon"}, "timeAt"),
        ({"options": "aggregatedValues", "aggrMethods": "median"}, "median"),
        ({"options": "aggregatedValues"}, "aggrMethods"),
        ({"aggrMethods": "avg"}, "aggregatedValues"),
        ({"options": "temporalValues,aggregatedValues", "aggrMethods": "sum"}, "temporalValues"),
        ({"lastN": "0"}, "lastN"),
        ({"lastN": "abc"}, "lastN"),
        ({"timeproperty": "deletedAt"}, "timeproperty"),
    ]
    for params, word in cases:
        body = problem(client.get(f"{T}/{S1}", params=params), 400, "BadRequestData")
        assert word in body["detail"], (params, body)


def test_request_level_errors(client: TestClient) -> None:
    seed_series(client)
    problem(client.get(T), 400, "BadRequestData")  # a query needs a filter
    problem(client.get(T, params={"type": "Sensor", "count": "maybe"}), 400, "InvalidRequest")
    problem(client.get(T, params={"type": "Sensor", "limit": "0"}), 400, "BadRequestData")
    problem(client.get(T, params={"type": "Sensor", "limit": "x"}), 400, "BadRequestData")
    problem(client.get(T, params={"type": "Sensor", "limit": "5000"}), 403, "TooManyResults")
    problem(client.get(T, params={"type": "Sensor", "q": "temp>>4"}), 400, "BadRequestData")
    problem(client.get(T, params={"type": "Sensor", "idPattern": "("}), 400, "BadRequestData")
    problem(client.get(f"{T}/not-a-uri"), 400, "BadRequestData")
    problem(client.get(f"{T}/{S2}"), 404, "ResourceNotFound")
    problem(client.get(f"{T}/{S1}", headers={"Accept": "text/html"}), 406, "InvalidRequest")
    # an error stays problem+json even when CSV was asked for
    r = client.get(f"{T}/{S1}", params={"lastN": "0"}, headers={"Accept": "text/csv"})
    problem(r, 400, "BadRequestData")


# -- time filters, time zones, timeproperty ------------------------------------------------


def test_timerel_before_after_between(client: TestClient) -> None:
    seed_series(client)
    assert values(client, timerel="before", timeAt="2024-01-01T00:40:00Z") == [
        [1, at("00:00")],
        [2, at("00:20")],
    ]  # before is exclusive
    assert values(client, timerel="after", timeAt="2024-01-01T01:10:00Z") == [
        [5, at("01:10")],
        [10, at("03:00")],
    ]  # after is inclusive
    got = values(client, timerel="between", timeAt="2024-01-01T00:20:00Z", endTimeAt=T1)
    assert got == [[2, at("00:20")], [2, at("00:40")]]
    assert values(client, timerel="after", timeAt="2024-02-01T00:00:00Z") == []
    # an entity whose instances are all outside the range is still returned, without them
    assert history(client, timerel="after", timeAt="2030-01-01T00:00:00Z") == {
        "id": S1,
        "type": "Sensor",
    }


def test_time_zones_in_time_at(client: TestClient) -> None:
    seed_series(client)
    utc = values(client, timerel="after", timeAt="2024-01-01T01:00:00Z")
    assert utc == [[5, at("01:10")], [10, at("03:00")]]
    assert values(client, timerel="after", timeAt="2024-01-01T09:00:00+08:00") == utc
    assert values(client, timerel="after", timeAt="2023-12-31T20:00:00-05:00") == utc
    assert values(client, timerel="after", timeAt="2024-01-01T01:00:00") == utc  # naive = UTC
    assert values(client, timerel="after", timeAt="2024-01-01T01:00:00.000+00:00") == utc
    between = values(
        client,
        timerel="between",
        timeAt="2024-01-01T08:10:00+08:00",
        endTimeAt="2024-01-01T03:00:00+02:00",
    )
    assert between == [[2, at("00:20")], [2, at("00:40")]]
    # an instance written with an offset is stored and returned as its UTC instant
    temporal_create(
        client, {"id": S2, "type": "Sensor", "temp": prop(7, "2024-01-01T08:00:00+08:00")}
    )
    assert values(client, S2) == [[7, at("00:00")]]


def test_timeproperty_modified_at(client: TestClient) -> None:
    create(client, {"id": S1, "type": "Sensor", "temp": prop(1, "2020-01-01T00:00:00Z")})
    create(client, {"id": S2, "type": "Sensor", "state": {"type": "Property", "value": "on"}})
    r = client.patch(f"{B}/entities/{S1}/attrs", json={"temp": prop(2, "2020-01-01T01:00:00Z")})
    assert r.status_code == 204
    by_modified = history(client, **TV, timeproperty="modifiedAt")["temp"]["values"]
    assert [v for v, _ in by_modified] == [1, 2]
    stamps = [t for _, t in by_modified]
    assert all(t.startswith("20") and not t.startswith("2020") for t in stamps)  # write times
    assert stamps == sorted(stamps)
    # observedAt is in 2020; modifiedAt is now: the two time properties select differently
    after_2021 = {"timerel": "after", "timeAt": "2021-01-01T00:00:00Z"}
    assert values(client, **after_2021) == []
    assert len(values(client, **after_2021, timeproperty="modifiedAt")) == 2
    assert len(values(client, **after_2021, timeproperty="createdAt")) == 2
    # instances without observedAt have history by modifiedAt only
    state = history(client, S2, **TV, timeproperty="modifiedAt")["state"]
    assert [v for v, _ in state["values"]] == ["on"]
    assert "state" not in history(client, S2, **TV)
    normalized = history(client, S2, timeproperty="modifiedAt")["state"]
    assert normalized[0]["value"] == "on" and "observedAt" not in normalized[0]


# -- representations ----------------------------------------------------------------------


def rich_entity(client: TestClient) -> None:
    create(
        client,
        {
            "id": S1,
            "type": "Sensor",
            "temp": [
                prop(20, T0, unitCode="CEL", accuracy={"type": "Property", "value": 0.5}),
                prop(30, T0, datasetId=DS_B),
            ],
            "owner": {"type": "Relationship", "object": "urn:ngsi-ld:Person:1", "observedAt": T0},
            "label": {"type": "LanguageProperty", "languageMap": {"en": "hi"}, "observedAt": T0},
        },
    )
    r = client.patch(f"{B}/entities/{S1}/attrs", json={"temp": prop(21, T1, unitCode="CEL")})
    assert r.status_code == 204, r.text


def test_normalized_output(client: TestClient) -> None:
    rich_entity(client)
    got = history(client)
    assert set(got) == {"id", "type", "temp", "owner", "label"}
    assert got["id"] == S1 and got["type"] == "Sensor"
    ids = [i.pop("instanceId") for a in ("temp", "owner", "label") for i in got[a]]
    assert all(INSTANCE_ID.match(i) for i in ids) and len(set(ids)) == len(ids)
    assert got["temp"] == [
        {
            "type": "Property",
            "value": 20,
            "observedAt": at("00:00"),
            "unitCode": "CEL",
            "accuracy": {"type": "Property", "value": 0.5},
        },
        {"type": "Property", "value": 21, "observedAt": at("01:00"), "unitCode": "CEL"},
        {"type": "Property", "value": 30, "observedAt": at("00:00"), "datasetId": DS_B},
    ]
    assert got["owner"] == [
        {"type": "Relationship", "object": "urn:ngsi-ld:Person:1", "observedAt": at("00:00")}
    ]
    assert got["label"] == [
        {"type": "LanguageProperty", "languageMap": {"en": "hi"}, "observedAt": at("00:00")}
    ]
    # sysAttrs adds createdAt and modifiedAt to every instance and sub-attribute
    sys = history(client, options="sysAttrs")
    first = sys["temp"][0]
    assert first["createdAt"].endswith("Z") and first["modifiedAt"].endswith("Z")
    assert first["accuracy"]["createdAt"].endswith("Z")
    assert all("modifiedAt" in i for a in ("temp", "owner", "label") for i in sys[a])
    # attrs picks attributes; instance ids are stable across reads
    picked = history(client, attrs="owner")
    assert set(picked) == {"id", "type", "owner"}
    assert picked["owner"][0]["instanceId"] in ids


def test_temporal_values_shapes(client: TestClient) -> None:
    rich_entity(client)
    got = history(client, **TV)
    assert got["temp"] == [
        {"type": "Property", "values": [[20, at("00:00")], [21, at("01:00")]]},
        {"type": "Property", "values": [[30, at("00:00")]], "datasetId": DS_B},
    ]
    assert got["owner"] == {
        "type": "Relationship",
        "objects": [["urn:ngsi-ld:Person:1", at("00:00")]],
    }
    assert got["label"] == {
        "type": "LanguageProperty",
        "languageMaps": [[{"en": "hi"}, at("00:00")]],
    }
    # one dataset only: a single object, not a list
    create(client, {"id": S2, "type": "Sensor", "temp": prop(5, T0, datasetId=DS_B)})
    assert history(client, S2, **TV)["temp"] == {
        "type": "Property",
        "values": [[5, at("00:00")]],
        "datasetId": DS_B,
    }


def test_multi_typed_and_ld_json(client: TestClient) -> None:
    create(client, {"id": S1, "type": ["Sensor", "Device"], "temp": prop(1, T0)})
    assert history(client)["type"] == ["Sensor", "Device"]
    r = client.get(f"{T}/{S1}", headers={"Accept": "application/ld+json"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/ld+json")
    assert "@context" in r.json()
    r = client.get(T, params={"type": "Device"}, headers={"Accept": "application/ld+json"})
    assert [e["id"] for e in r.json()] == [S1] and "@context" in r.json()[0]
    assert "json-ld#context" in client.get(f"{T}/{S1}").headers["link"]


# -- lastN --------------------------------------------------------------------------------


def test_last_n(client: TestClient) -> None:
    seed_series(client)
    temporal_create(client, {"id": S1, "type": "Sensor", "temp": prop(9, T0, datasetId=DS_B)})
    got = history(client, **TV, lastN="2")
    assert got["temp"][0]["values"] == [[5, at("01:10")], [10, at("03:00")]]  # oldest first
    assert got["temp"][1]["values"] == [[9, at("00:00")]]  # lastN applies per dataset
    assert values(client, lastN="100") == [[v, t.replace("Z", ".000Z")] for v, t in SERIES]
    # lastN counts from the end of the time range
    got = values(client, lastN="1", timerel="before", timeAt=T1)
    assert got == [[2, at("00:40")]]
    normalized = history(client, lastN="1", attrs="temp")["temp"]
    assert [i["value"] for i in normalized] == [10, 9]


# -- aggregatedValues ----------------------------------------------------------------------

ALL_METHODS = "totalCount,distinctCount,sum,avg,min,max,stddev,sumsq"


def aggregates(client: TestClient, entity_id: str = S1, **params: str) -> dict[str, Any]:
    got = history(client, entity_id, options="aggregatedValues", **params)
    item: dict[str, Any] = got.get("temp", {})
    return item


def values_of(periods: list[list[Any]]) -> list[Any]:
    return [p[0] for p in periods]


def test_aggregated_values_per_hour(client: TestClient) -> None:
    seed_series(client)
    got = aggregates(
        client,
        aggrMethods=ALL_METHODS,
        aggrPeriodDuration="PT1H",
        timerel="between",
        timeAt=T0,
        endTimeAt="2024-01-01T04:00:00Z",
    )
    assert got["type"] == "Property"
    bounds = [(at("00:00"), at("01:00")), (at("01:00"), at("02:00")), (at("03:00"), at("04:00"))]
    for method in ALL_METHODS.split(","):
        assert [(lo, hi) for _, lo, hi in got[method]] == bounds, method  # 02:00 omitted
    assert values_of(got["totalCount"]) == [3, 1, 1]
    assert values_of(got["distinctCount"]) == [2, 1, 1]
    assert values_of(got["sum"]) == [5, 5, 10]
    assert values_of(got["avg"]) == pytest.approx([5 / 3, 5, 10])
    assert values_of(got["min"]) == [1, 5, 10]
    assert values_of(got["max"]) == [2, 5, 10]
    assert values_of(got["sumsq"]) == [9, 25, 100]
    # population standard deviation: sqrt(E[x^2] - E[x]^2) = sqrt(3 - 25/9)
    assert values_of(got["stddev"]) == pytest.approx([math.sqrt(2) / 3, 0, 0])


def test_aggregated_roll_ups_match_raw(client: TestClient) -> None:
    """Aligned hourly and daily queries read the roll-ups; the answers must not differ."""
    seed_series(client)
    rollup_methods = "totalCount,sum,avg,min,max,stddev,sumsq"
    for period, end in (("PT1H", "2024-01-01T04:00:00Z"), ("P1D", "2024-01-03T00:00:00Z")):
        window = {"timerel": "between", "timeAt": T0, "endTimeAt": end}
        rolled = aggregates(client, aggrMethods=rollup_methods, aggrPeriodDuration=period, **window)
        # distinctCount forces the raw path
        raw = aggregates(
            client,
            aggrMethods=rollup_methods + ",distinctCount",
            aggrPeriodDuration=period,
            **window,
        )
        for method in rollup_methods.split(","):
            assert [p[1:] for p in rolled[method]] == [p[1:] for p in raw[method]], method
            assert values_of(rolled[method]) == pytest.approx(values_of(raw[method])), method
    day = aggregates(
        client,
        aggrMethods="totalCount,sum,min,max",
        aggrPeriodDuration="P1D",
        timerel="between",
        timeAt=T0,
        endTimeAt="2024-01-03T00:00:00Z",
    )
    assert day["totalCount"] == [[5, at("00:00"), at("00:00", "2024-01-02")]]  # Jan 2 omitted
    assert values_of(day["sum"]) == [20] and values_of(day["max"]) == [10]


def test_aggregated_whole_range_with_pt0s(client: TestClient) -> None:
    seed_series(client)
    for extra in ({"aggrPeriodDuration": "PT0S"}, {}):  # PT0S is the default
        got = aggregates(client, aggrMethods=ALL_METHODS, **extra)
        assert all(len(got[m]) == 1 for m in ALL_METHODS.split(","))
        assert got["totalCount"][0][0] == 5
        assert got["distinctCount"][0][0] == 4
        assert got["sum"][0][0] == 20
        assert got["avg"][0][0] == pytest.approx(4)
        assert got["min"][0][0] == 1 and got["max"][0][0] == 10
        assert got["sumsq"][0][0] == 134
        assert got["stddev"][0][0] == pytest.approx(math.sqrt(134 / 5 - 16))
        assert got["sum"][0][1] == at("00:00")
    # with a time range, PT0S spans exactly that range
    got = aggregates(
        client,
        aggrMethods="sum,totalCount",
        aggrPeriodDuration="PT0S",
        timerel="between",
        timeAt="2024-01-01T00:10:00Z",
        endTimeAt="2024-01-01T02:00:00Z",
    )
    assert got["sum"] == [[9, at("00:10"), at("02:00")]]
    assert got["totalCount"] == [[3, at("00:10"), at("02:00")]]


def test_aggregated_calendar_months(client: TestClient) -> None:
    instances = [
        prop(1, "2024-01-15T00:00:00Z"),
        prop(3, "2024-01-31T23:59:59Z"),
        prop(10, "2024-02-29T12:00:00Z"),
        prop(7, "2024-04-01T00:00:00Z"),
    ]
    temporal_create(client, {"id": S1, "type": "Sensor", "temp": instances})
    got = aggregates(
        client,
        aggrMethods="sum,totalCount,max",
        aggrPeriodDuration="P1M",
        timerel="between",
        timeAt="2024-01-01T00:00:00Z",
        endTimeAt="2024-05-01T00:00:00Z",
    )
    month = "2024-{:02d}-01T00:00:00.000Z".format
    assert got["sum"] == [  # February has 29 days; March is empty and omitted
        [4, month(1), month(2)],
        [10, month(2), month(3)],
        [7, month(4), month(5)],
    ]
    assert values_of(got["totalCount"]) == [2, 1, 1]
    assert values_of(got["max"]) == [3, 10, 7]
    yearly = aggregates(
        client,
        aggrMethods="sum",
        aggrPeriodDuration="P1Y",
        timerel="after",
        timeAt="2024-01-01T00:00:00Z",
    )
    assert values_of(yearly["sum"]) == [21]
    assert yearly["sum"][0][1:] == ["2024-01-01T00:00:00.000Z", "2025-01-01T00:00:00.000Z"]


def test_aggregated_non_numeric_values(client: TestClient) -> None:
    words = [prop("on", T0), prop("off", "2024-01-01T00:30:00Z"), prop("on", T1)]
    temporal_create(client, {"id": S1, "type": "Sensor", "temp": words})
    got = aggregates(client, aggrMethods="totalCount,distinctCount", aggrPeriodDuration="PT1H")
    assert values_of(got["totalCount"]) == [2, 1]
    assert values_of(got["distinctCount"]) == [2, 1]


def test_aggregated_empty_result_leaves_attribute_out(client: TestClient) -> None:
    seed_series(client)
    got = history(
        client,
        options="aggregatedValues",
        aggrMethods="sum",
        timerel="between",
        timeAt="2023-01-01T00:00:00Z",
        endTimeAt="2023-02-01T00:00:00Z",
    )
    assert got == {"id": S1, "type": "Sensor"}
    got = history(
        client,
        options="aggregatedValues",
        aggrMethods="sum",
        timerel="before",
        timeAt="2023-01-01T00:00:00Z",
    )
    assert got == {"id": S1, "type": "Sensor"}


def test_aggregated_after_the_last_instance_is_empty(client: TestClient) -> None:
    seed_series(client)
    r = client.get(
        f"{T}/{S1}",
        params={**AGG, "timerel": "after", "timeAt": "2030-01-01T00:00:00Z"},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"id": S1, "type": "Sensor"}


def test_calendar_periods_near_the_end_of_time(client: TestClient) -> None:
    temporal_create(client, {"id": S1, "type": "Sensor", "temp": prop(1, "9999-06-01T00:00:00Z")})
    r = client.get(f"{T}/{S1}", params={**AGG, "aggrPeriodDuration": "P1Y"})
    assert r.status_code == 200, r.text
    assert values_of(r.json()["temp"]["sum"]) == [1]


# -- history recorded by every kind of entity write ---------------------------------------


def test_history_of_every_write_kind(client: TestClient) -> None:
    def t(hour: int) -> str:
        return f"2024-01-01T{hour:02d}:00:00Z"

    url = f"{B}/entities/{S1}"
    create(client, {"id": S1, "type": "Sensor", "temp": prop(1, t(0))})
    writes = [
        client.patch(f"{url}/attrs", json={"temp": prop(2, t(1))}),
        client.post(f"{url}/attrs", json={"temp": prop(3, t(2)), "wind": prop(7, t(2))}),
        client.patch(url, json={"temp": prop(4, t(3))}),  # merge
        client.patch(f"{url}/attrs/temp", json={"value": 5, "observedAt": t(4)}),
        client.put(url, json={"type": "Sensor", "temp": prop(6, t(5))}),  # replace
        client.put(f"{url}/attrs/temp", json=prop(7, t(6))),
        client.post(
            f"{B}/entityOperations/upsert",
            json=[{"id": S1, "type": "Sensor", "temp": prop(8, t(7))}],
        ),
        client.post(
            f"{B}/entityOperations/upsert",
            params={"options": "update"},
            json=[{"id": S1, "type": "Sensor", "temp": prop(9, t(8))}],
        ),
        client.post(
            f"{B}/entityOperations/update",
            json=[{"id": S1, "type": "Sensor", "temp": prop(10, t(9))}],
        ),
        client.post(
            f"{B}/entityOperations/merge",
            json=[{"id": S1, "type": "Sensor", "temp": prop(11, t(10))}],
        ),
    ]
    assert [r.status_code for r in writes] == [204] * len(writes), [r.text for r in writes]
    r = client.post(
        f"{B}/entityOperations/create", json=[{"id": S2, "type": "Sensor", "temp": prop(100, t(0))}]
    )
    assert r.status_code == 201, r.text
    r = client.post(
        f"{B}/entityOperations/upsert", json=[{"id": S2, "type": "Sensor", "temp": prop(101, t(1))}]
    )
    assert r.status_code == 204, r.text
    assert values(client) == [[v, at(f"{v - 1:02d}:00")] for v in range(1, 12)]
    assert values(client, attr="wind") == [[7, at("02:00")]]  # kept although PUT removed it
    assert values(client, S2) == [[100, at("00:00")], [101, at("01:00")]]
    # a write that changes nothing records nothing
    before = len(values(client))
    assert client.post(
        f"{url}/attrs", params={"options": "noOverwrite"}, json={"temp": prop(99, t(20))}
    ).status_code in (204, 207)
    assert len(values(client)) == before


def test_entity_delete_removes_history(client: TestClient) -> None:
    create(client, {"id": S1, "type": "Sensor", "temp": prop(1, T0)})
    assert client.delete(f"{B}/entities/{S1}").status_code == 204
    problem(client.get(f"{T}/{S1}"), 404, "ResourceNotFound")
    assert client.get(T, params={"type": "Sensor"}).json() == []
    # a new entity with the same id starts a new history
    create(client, {"id": S1, "type": "Sensor", "temp": prop(2, T1)})
    assert values(client) == [[2, at("01:00")]]
    r = client.post(f"{B}/entityOperations/delete", json=[S1])
    assert r.status_code == 204, r.text
    problem(client.get(f"{T}/{S1}"), 404, "ResourceNotFound")


def test_entity_delete_keeps_history_when_configured(settings: Settings) -> None:
    with TestClient(create_app(replace(settings, history_on_delete="keep"))) as client:
        create(client, {"id": S1, "type": "Sensor", "temp": prop(1, T0)})
        create(client, {"id": S2, "type": "Sensor", "temp": prop(5, T0)})
        assert client.delete(f"{B}/entities/{S1}").status_code == 204
        assert values(client) == [[1, at("00:00")]]
        assert [e["id"] for e in client.get(T, params={"type": "Sensor"}).json()] == [S1, S2]
        # q filters on the current state, which the deleted entity no longer has
        got = client.get(T, params={"type": "Sensor", "q": "temp>0"}).json()
        assert [e["id"] for e in got] == [S2]
        create(client, {"id": S1, "type": "Sensor", "temp": prop(2, T1)})
        assert values(client) == [[1, at("00:00")], [2, at("01:00")]]


# -- the temporal API's own writes --------------------------------------------------------


def test_temporal_create_and_append(client: TestClient) -> None:
    body = {"id": S1, "type": "Sensor", "temp": [prop(1, T0), prop(2, T1)]}
    r = client.post(T, json=body)
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"{T}/{S1}"
    assert values(client) == [[1, at("00:00")], [2, at("01:00")]]
    r = client.post(T, json={"id": S1, "type": "Sensor", "temp": prop(3, "2024-01-01T02:00:00Z")})
    assert r.status_code == 204, r.text
    assert not r.content and "location" not in r.headers
    assert [v for v, _ in values(client)] == [1, 2, 3]
    # the temporal API writes history only, not the current state
    problem(client.get(f"{B}/entities/{S1}"), 404, "ResourceNotFound")
    # ld+json with the @context in the body
    r = client.post(
        T,
        json={
            **body,
            "id": S2,
            "@context": "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld",
        },
        headers={"Content-Type": "application/ld+json"},
    )
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    "body",
    [
        [1],
        {"type": "Sensor"},
        {"id": "not a uri", "type": "Sensor"},
        {"id": S1},
        {"id": S1, "type": "Sensor", "temp": []},
        {"id": S1, "type": "Sensor", "temp": {"type": "Property"}},
        {"id": S1, "type": "Sensor", "temp": {"type": "Property", "value": 1, "observedAt": "x"}},
        {"id": S1, "type": "Sensor", "temp": {"type": "Property", "value": 1, "observedAt": 5}},
        {"id": S1, "type": "Sensor", "bad name": prop(1, T0)},
        {"id": S1, "type": "Sensor", "temp": {"type": "Relationship", "object": "no uri"}},
    ],
)
def test_temporal_create_rejects_bad_bodies(client: TestClient, body: Any) -> None:
    problem(client.post(T, json=body), 400, "BadRequestData")


def test_temporal_create_request_errors(client: TestClient) -> None:
    r = client.post(T, content=b"{", headers={"Content-Type": "application/json"})
    problem(r, 400, "InvalidRequest")
    r = client.post(T, content=b"{}", headers={"Content-Type": "text/plain"})
    problem(r, 415, "InvalidRequest")


def test_add_attributes(client: TestClient) -> None:
    seed_series(client)
    url = f"{T}/{S1}/attrs"
    r = client.post(url, json={"temp": prop(11, "2024-01-02T00:00:00Z"), "hum": [prop(50, T0)]})
    assert r.status_code == 204, r.text
    assert values(client, lastN="1") == [[11, at("00:00", "2024-01-02")]]
    assert values(client, attr="hum") == [[50, at("00:00")]]
    assert history(client)["type"] == "Sensor"  # the known type is kept
    problem(client.post(f"{T}/{S2}/attrs", json={"temp": prop(1, T0)}), 404, "ResourceNotFound")
    problem(client.post(url, json={"id": S2, "temp": prop(1, T0)}), 400, "BadRequestData")
    problem(client.post(url, json={}), 400, "BadRequestData")
    problem(client.post(url, json=[prop(1, T0)]), 400, "BadRequestData")
    problem(client.post(f"{T}/nope/attrs", json={"temp": prop(1, T0)}), 400, "BadRequestData")


def instances(client: TestClient, attr: str = "temp") -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = history(client).get(attr, [])
    return got


def test_patch_instance(client: TestClient) -> None:
    seed_series(client)
    first, second = instances(client)[:2]
    url = f"{T}/{S1}/attrs/temp/{first['instanceId']}"
    r = client.patch(url, json={"temp": prop(42, T0, unitCode="CEL")})  # the attribute form
    assert r.status_code == 204, r.text
    now = instances(client)
    assert now[0] == {**prop(42, at("00:00"), unitCode="CEL"), "instanceId": first["instanceId"]}
    assert now[1] == second and len(now) == len(SERIES)
    r = client.patch(url, json=prop(43, T0))  # the bare instance form
    assert r.status_code == 204, r.text
    assert instances(client)[0] == {**prop(43, at("00:00")), "instanceId": first["instanceId"]}
    # a structured value and a sub-attribute are instance members, not attribute names
    r = client.patch(url, json=prop({"a": [1, 2]}, T0, accuracy={"type": "Property", "value": 1}))
    assert r.status_code == 204, r.text
    got = instances(client)[0]
    assert got["value"] == {"a": [1, 2]} and got["accuracy"]["value"] == 1
    r = client.patch(
        url, json={"accuracy": {"type": "Property", "value": 2}, "value": 44, "observedAt": T0}
    )
    assert r.status_code == 204, r.text
    assert instances(client)[0]["value"] == 44
    # the aggregates follow the patched value
    total = aggregates(client, aggrMethods="sum")["sum"][0][0]
    assert total == 44 + sum(v for v, _ in SERIES[1:])


def test_patch_of_the_value_alone_keeps_the_instance_time(client: TestClient) -> None:
    seed_series(client)
    first = instances(client)[0]
    r = client.patch(f"{T}/{S1}/attrs/temp/{first['instanceId']}", json={"value": 7})
    assert r.status_code == 204, r.text
    now = instances(client)[0]
    assert (now["value"], now["observedAt"], now["instanceId"]) == (
        7,
        first["observedAt"],
        first["instanceId"],
    )


def test_patch_instance_moves_it_in_time(client: TestClient) -> None:
    seed_series(client)
    first = instances(client)[0]
    r = client.patch(
        f"{T}/{S1}/attrs/temp/{first['instanceId']}", json=prop(1, "2024-01-01T02:30:00Z")
    )
    assert r.status_code == 204, r.text
    got = instances(client)
    assert [i["value"] for i in got] == [2, 2, 5, 1, 10]  # in time order again
    assert got[3]["instanceId"] == first["instanceId"]
    # both hourly roll-ups touched are rebuilt: hour 0 lost the 1, hour 2 gained it
    window = {"timerel": "between", "timeAt": T0, "endTimeAt": "2024-01-01T04:00:00Z"}
    rolled = aggregates(client, aggrMethods="sum,min", aggrPeriodDuration="PT1H", **window)
    raw = aggregates(
        client, aggrMethods="sum,min,distinctCount", aggrPeriodDuration="PT1H", **window
    )
    assert rolled["sum"] == raw["sum"]
    assert values_of(rolled["sum"]) == [4, 5, 1, 10]
    assert values_of(rolled["min"]) == [2, 5, 1, 10]


def test_patch_instance_errors(client: TestClient) -> None:
    seed_series(client)
    iid = instances(client)[0]["instanceId"]
    url = f"{T}/{S1}/attrs/temp"
    problem(
        client.patch(f"{url}/urn:ngsi-ld:Instance:999-999", json=prop(1, T0)),
        404,
        "ResourceNotFound",
    )
    problem(client.patch(f"{url}/garbage", json=prop(1, T0)), 404, "ResourceNotFound")
    problem(client.patch(f"{T}/{S1}/attrs/hum/{iid}", json=prop(1, T0)), 404, "ResourceNotFound")
    problem(client.patch(f"{T}/{S2}/attrs/temp/{iid}", json=prop(1, T0)), 404, "ResourceNotFound")
    problem(client.patch(f"{url}/{iid}", json={"hum": prop(1, T0)}), 400, "BadRequestData")
    problem(client.patch(f"{url}/{iid}", json=[1]), 400, "BadRequestData")
    problem(client.patch(f"{url}/{iid}", json={}), 400, "BadRequestData")
    problem(client.patch(f"{url}/{iid}", json={"value": None}), 400, "BadRequestData")
    problem(client.patch(f"{url}/{iid}", json=prop(1, "noon")), 400, "BadRequestData")
    assert instances(client)[0]["value"] == 1  # nothing changed


def test_delete_instance(client: TestClient) -> None:
    seed_series(client)
    iid = instances(client)[0]["instanceId"]
    url = f"{T}/{S1}/attrs/temp/{iid}"
    assert client.delete(url).status_code == 204
    assert [i["instanceId"] for i in instances(client)].count(iid) == 0
    assert len(instances(client)) == len(SERIES) - 1
    problem(client.delete(url), 404, "ResourceNotFound")
    problem(client.delete(f"{T}/{S1}/attrs/temp/garbage"), 404, "ResourceNotFound")
    # the hourly roll-up is rebuilt: hour 0 now holds 2 and 2
    got = aggregates(
        client,
        aggrMethods="sum,totalCount,min",
        aggrPeriodDuration="PT1H",
        timerel="between",
        timeAt=T0,
        endTimeAt=T1,
    )
    assert got["sum"][0][0] == 4 and got["totalCount"][0][0] == 2 and got["min"][0][0] == 2


def test_delete_attribute_history_by_dataset(client: TestClient) -> None:
    body = {
        "id": S1,
        "type": "Sensor",
        "temp": [
            prop(1, T0),
            prop(5, T0, datasetId="urn:ngsi-ld:Dataset:a"),
            prop(6, T0, datasetId=DS_B),
        ],
        "hum": prop(50, T0),
    }
    temporal_create(client, body)
    url = f"{T}/{S1}/attrs/temp"
    assert client.delete(url, params={"datasetId": "urn:ngsi-ld:Dataset:a"}).status_code == 204
    got = history(client, **TV)["temp"]
    assert [s.get("datasetId") for s in got] == [None, DS_B]
    assert client.delete(url).status_code == 204  # the default dataset
    assert history(client, **TV)["temp"] == {
        "type": "Property",
        "values": [[6, at("00:00")]],
        "datasetId": DS_B,
    }
    problem(client.delete(url), 404, "ResourceNotFound")  # no default dataset left
    problem(
        client.delete(url, params={"datasetId": "urn:ngsi-ld:Dataset:a"}), 404, "ResourceNotFound"
    )
    temporal_create(client, {"id": S1, "type": "Sensor", "temp": prop(7, T1)})
    assert client.delete(url, params={"deleteAll": "true"}).status_code == 204
    assert set(history(client)) == {"id", "type", "hum"}
    problem(client.delete(url, params={"deleteAll": "true"}), 404, "ResourceNotFound")
    problem(client.delete(f"{T}/{S2}/attrs/temp"), 404, "ResourceNotFound")
    problem(client.delete(url, params={"deleteAll": "maybe"}), 400, "InvalidRequest")


def test_delete_entity_history(client: TestClient) -> None:
    create(client, {"id": S1, "type": "Sensor", "temp": prop(1, T0)})
    assert client.delete(f"{T}/{S1}").status_code == 204
    problem(client.get(f"{T}/{S1}"), 404, "ResourceNotFound")
    problem(client.delete(f"{T}/{S1}"), 404, "ResourceNotFound")
    problem(client.delete(f"{T}/not-a-uri"), 400, "BadRequestData")
    # the current entity is untouched, and records new history again
    assert client.get(f"{B}/entities/{S1}").status_code == 200
    client.patch(f"{B}/entities/{S1}/attrs", json={"temp": prop(2, T1)})
    assert values(client) == [[2, at("01:00")]]


# -- POST /temporal/entityOperations/query -------------------------------------------------


def test_post_query(client: TestClient) -> None:
    seed_series(client)
    seed_series(client, S2)
    body: dict[str, Any] = {
        "type": "Query",
        "entities": [{"type": "Sensor"}],
        "attrs": ["temp"],
        "temporalQ": {"timerel": "between", "timeAt": T0, "endTimeAt": "2024-01-01T00:30:00Z"},
    }
    r = client.post(QUERY, json=body, params={**TV, "count": "true"})
    assert r.status_code == 200, r.text
    assert r.headers["ngsild-results-count"] == "2"
    got = r.json()
    assert [e["id"] for e in got] == [S1, S2]
    assert got[0]["temp"]["values"] == [[1, at("00:00")], [2, at("00:20")]]
    body["temporalQ"] = {"lastN": 1}
    assert client.post(QUERY, json=body, params=TV).json()[0]["temp"]["values"] == [
        [10, at("03:00")]
    ]
    body["temporalQ"] = {
        "timerel": "after",
        "timeAt": "2024-01-01T09:00:00+08:00",
        "timeproperty": "observedAt",
    }
    assert len(client.post(QUERY, json=body, params=TV).json()[1]["temp"]["values"]) == 2
    del body["temporalQ"]
    aggregated = {**body, "aggrMethods": ["sum", "totalCount"], "aggrPeriodDuration": "PT0S"}
    got = client.post(QUERY, json=aggregated, params={"options": "aggregatedValues"}).json()
    assert got[0]["temp"]["sum"][0][0] == 20 and got[0]["temp"]["totalCount"][0][0] == 5
    aggregated["aggrMethods"] = "max"
    got = client.post(QUERY, json=aggregated, params={"options": "aggregatedValues"}).json()
    assert got[1]["temp"]["max"][0][0] == 10
    one = {"type": "Query", "entities": [{"id": S2, "type": "Sensor"}]}
    assert [e["id"] for e in client.post(QUERY, json=one).json()] == [S2]
    paged = client.post(QUERY, json=body, params={"limit": "1"})
    assert len(paged.json()) == 1 and 'rel="next"' in paged.headers["link"]


@pytest.mark.parametrize(
    "body",
    [
        [1],
        {"type": "Entity", "entities": [{"type": "Sensor"}]},
        {"entities": [{"type": "Sensor"}]},
        {"type": "Query"},  # no filter at all
        {"type": "Query", "entities": [{"type": "Sensor"}], "temporalQ": "before"},
        {"type": "Query", "entities": [{"type": "Sensor"}], "temporalQ": []},
        {"type": "Query", "entities": [{"type": "Sensor"}], "temporalQ": 5},
        {"type": "Query", "entities": [{"type": "Sensor"}], "temporalQ": {"timerel": 5}},
        {
            "type": "Query",
            "entities": [{"type": "Sensor"}],
            "temporalQ": {"timerel": "soon", "timeAt": T0},
        },
        {
            "type": "Query",
            "entities": [{"type": "Sensor"}],
            "temporalQ": {"timerel": "between", "timeAt": T0},
        },
        {"type": "Query", "entities": [{"type": "Sensor"}], "temporalQ": {"timeAt": T0}},
        {"type": "Query", "entities": [{"type": "Sensor"}], "temporalQ": {"lastN": 0}},
        {"type": "Query", "entities": [{"type": "Sensor"}], "temporalQ": {"lastN": "x"}},
        {"type": "Query", "entities": [{"type": "Sensor"}], "temporalQ": {"lastN": 1.5}},
        {"type": "Query", "entities": [{"type": "Sensor"}], "temporalQ": {"timeproperty": "x"}},
        {"type": "Query", "entities": "Sensor"},
        {"type": "Query", "entities": [{"type": "Sensor"}], "aggrMethods": ["sum"]},
    ],
)
def test_post_query_rejects_bad_bodies(client: TestClient, body: Any) -> None:
    seed_series(client)
    problem(client.post(QUERY, json=body), 400, "BadRequestData")


@pytest.mark.parametrize(
    "extra",
    [
        {"aggrMethods": [1]},
        {"aggrMethods": ["median"]},
        {"aggrMethods": []},
        {"aggrMethods": 5},
        {},
        {"aggrMethods": "sum", "aggrPeriodDuration": "1H"},
        {"aggrMethods": "sum", "aggrPeriodDuration": 3600},
    ],
)
def test_post_query_rejects_bad_aggregations(client: TestClient, extra: dict[str, Any]) -> None:
    seed_series(client)
    body = {"type": "Query", "entities": [{"type": "Sensor"}], **extra}
    r = client.post(QUERY, json=body, params={"options": "aggregatedValues"})
    problem(r, 400, "BadRequestData")


@pytest.mark.parametrize(
    "member",
    [
        {"q": 5},
        {"q": ["temp>1"]},
        {"scopeQ": 1.5},
        {"entities": [{"type": 5}]},
        {"entities": [{"id": [S1]}]},
        {"entities": [{"idPattern": 5}]},
    ],
)
def test_post_query_non_string_members(client: TestClient, member: dict[str, Any]) -> None:
    seed_series(client)
    body = {"type": "Query", "entities": [{"type": "Sensor"}], **member}
    problem(client.post(QUERY, json=body), 400, "BadRequestData")


def test_post_query_request_errors(client: TestClient) -> None:
    r = client.post(QUERY, content=b"{", headers={"Content-Type": "application/json"})
    problem(r, 400, "InvalidRequest")
    r = client.post(QUERY, content=b"{}", headers={"Content-Type": "text/plain"})
    problem(r, 415, "InvalidRequest")


# -- paging, partial answers, CSV ---------------------------------------------------------


def test_paging_headers(client: TestClient) -> None:
    for n in range(1, 5):
        temporal_create(
            client, {"id": f"urn:ngsi-ld:Sensor:{n}", "type": "Sensor", "temp": prop(n, T0)}
        )
    r = client.get(T, params={"type": "Sensor", "count": "true", "limit": "2"})
    assert r.status_code == 200
    assert r.headers["ngsild-results-count"] == "4"
    assert [e["id"] for e in r.json()] == [S1, S2]
    assert 'offset=2>; rel="next"' in r.headers["link"] and 'rel="prev"' not in r.headers["link"]
    r = client.get(T, params={"type": "Sensor", "count": "true", "limit": "2", "offset": "2"})
    assert [e["id"] for e in r.json()] == ["urn:ngsi-ld:Sensor:3", "urn:ngsi-ld:Sensor:4"]
    assert 'offset=0>; rel="prev"' in r.headers["link"] and 'rel="next"' not in r.headers["link"]
    r = client.get(T, params={"type": "Sensor", "count": "true", "limit": "0"})
    assert r.json() == [] and r.headers["ngsild-results-count"] == "4"
    r = client.get(T, params={"type": "Sensor", "offset": "10"})
    assert r.json() == [] and "ngsild-results-count" not in r.headers
    r = client.get(T, params={"type": "Sensor", "limit": "1", "offset": "1"})
    assert 'rel="next"' in r.headers["link"] and 'rel="prev"' in r.headers["link"]
    # the @context Link header is still there
    assert "json-ld#context" in r.headers["link"]


def test_partial_answer_206_with_content_range(small: TestClient) -> None:
    seed_series(small)
    r = small.get(f"{T}/{S1}", params=TV)
    assert r.status_code == 206, r.text
    assert r.headers["content-range"] == f"date-time {at('00:00')}-{at('00:40')}/*"
    assert [v for v, _ in r.json()["temp"]["values"]] == [1, 2, 2]
    r = small.get(f"{T}/{S1}", params={"timerel": "after", "timeAt": "2024-01-01T00:20:00Z"})
    assert r.status_code == 206
    assert r.headers["content-range"] == f"date-time {at('00:20')}-{at('01:10')}/*"
    # within the limit: a full answer
    for params in ({"lastN": "3"}, {"timerel": "after", "timeAt": "2024-01-01T00:40:00Z"}):
        r = small.get(f"{T}/{S1}", params=params)
        assert r.status_code == 200 and "content-range" not in r.headers, params
    r = small.get(T, params={"type": "Sensor"})
    assert r.status_code == 206 and r.headers["content-range"].startswith("date-time ")
    r = small.get(f"{T}/{S1}", headers={"Accept": "text/csv"})
    assert r.status_code == 206 and len(r.text.splitlines()) == 1 + 3
    # aggregates are computed over every instance: never partial
    r = small.get(f"{T}/{S1}", params={**AGG, "aggrMethods": "totalCount"})
    assert r.status_code == 200 and r.json()["temp"]["totalCount"][0][0] == 5


def test_last_n_beyond_the_limit_returns_the_latest(small: TestClient) -> None:
    seed_series(small)
    r = small.get(f"{T}/{S1}", params={**TV, "lastN": "4"})
    assert r.status_code == 206
    assert [v for v, _ in r.json()["temp"]["values"]] == [2, 5, 10]


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_csv_output(client: TestClient) -> None:
    temporal_create(
        client,
        {
            "id": S1,
            "type": "Sensor",
            "temp": [prop(1.5, T0), prop(2, T1), prop(9, T0, datasetId=DS_B)],
            "flag": prop(True, T0),
            "note": prop({"a": "b,c"}, T0),
        },
    )
    r = client.get(f"{T}/{S1}", headers={"Accept": "text/csv"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert rows(r.text) == [
        ["entityId", "attribute", "datasetId", "observedAt", "value"],
        [S1, "flag", "", at("00:00"), "true"],
        [S1, "note", "", at("00:00"), '{"a":"b,c"}'],
        [S1, "temp", "", at("00:00"), "1.5"],
        [S1, "temp", "", at("01:00"), "2"],
        [S1, "temp", DS_B, at("00:00"), "9"],
    ]
    r = client.get(
        T,
        params={**TV, "type": "Sensor", "attrs": "temp", "timeproperty": "modifiedAt"},
        headers={"Accept": "text/csv"},
    )
    table = rows(r.text)
    assert table[0] == ["entityId", "attribute", "datasetId", "modifiedAt", "value"]
    assert len(table) == 4 and all(row[3].endswith("Z") for row in table[1:])
    r = client.get(
        f"{T}/{S1}",
        params={**AGG, "aggrMethods": "sum,max", "aggrPeriodDuration": "PT1H", "attrs": "temp"},
        headers={"Accept": "text/csv, application/json;q=0.5"},
    )
    assert rows(r.text) == [
        ["entityId", "attribute", "datasetId", "method", "startAt", "endAt", "value"],
        [S1, "temp", "", "sum", at("00:00"), at("01:00"), "1.5"],
        [S1, "temp", "", "sum", at("01:00"), at("02:00"), "2.0"],
        [S1, "temp", "", "max", at("00:00"), at("01:00"), "1.5"],
        [S1, "temp", "", "max", at("01:00"), at("02:00"), "2"],
        [S1, "temp", DS_B, "sum", at("00:00"), at("01:00"), "9.0"],
        [S1, "temp", DS_B, "max", at("00:00"), at("01:00"), "9"],
    ]


# -- tenants ------------------------------------------------------------------------------


def test_tenants(client: TestClient) -> None:
    t1 = {"NGSILD-Tenant": "t1"}
    create(client, {"id": S1, "type": "Sensor", "temp": prop(1, T0)}, **t1)
    assert client.get(f"{T}/{S1}", headers=t1).status_code == 200
    problem(client.get(f"{T}/{S1}"), 404, "ResourceNotFound")  # the default tenant
    assert client.get(T, params={"type": "Sensor"}).json() == []
    assert [e["id"] for e in client.get(T, params={"type": "Sensor"}, headers=t1).json()] == [S1]
    # a temporal create makes its tenant
    t2 = {"NGSILD-Tenant": "t2"}
    assert (
        client.post(
            T, json={"id": S2, "type": "Sensor", "temp": prop(2, T0)}, headers=t2
        ).status_code
        == 201
    )
    problem(client.get(f"{T}/{S2}"), 404, "ResourceNotFound")
    assert client.get(f"{T}/{S2}", headers=t2).json()["temp"][0]["value"] == 2
    problem(client.get(f"{T}/{S2}", headers=t1), 404, "ResourceNotFound")
    problem(
        client.get(T, params={"type": "Sensor"}, headers={"NGSILD-Tenant": "bad tenant!"}),
        400,
        "BadRequestData",
    )


def test_unknown_tenant_is_nonexistent_tenant(client: TestClient) -> None:
    seed_series(client)
    iid = instances(client)[0]["instanceId"]
    nope = {"NGSILD-Tenant": "nope"}
    query = {"type": "Query", "entities": [{"type": "Sensor"}]}
    for r in (
        client.get(f"{T}/{S1}", headers=nope),
        client.get(T, params={"type": "Sensor"}, headers=nope),
        client.post(QUERY, json=query, headers=nope),
        client.post(f"{T}/{S1}/attrs", json={"temp": prop(1, T0)}, headers=nope),
        client.patch(f"{T}/{S1}/attrs/temp/{iid}", json=prop(1, T0), headers=nope),
        client.delete(f"{T}/{S1}/attrs/temp/{iid}", headers=nope),
        client.delete(f"{T}/{S1}/attrs/temp", headers=nope),
        client.delete(f"{T}/{S1}", headers=nope),
    ):
        problem(r, 404, "NonexistentTenant")
    assert len(instances(client)) == len(SERIES)  # the default tenant is untouched


# -- filters --------------------------------------------------------------------------------


def test_filters(client: TestClient) -> None:
    def ids(**params: str) -> list[str]:
        r = client.get(T, params=params)
        assert r.status_code == 200, r.text
        return [e["id"] for e in r.json()]

    create(
        client,
        {
            "id": S1,
            "type": "Sensor",
            "temp": prop(1, T0),
            "location": {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [117.70, 39.1]},
            },
        },
    )
    create(
        client,
        {
            "id": S2,
            "type": "Sensor",
            "temp": prop(10, T0),
            "location": {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [118.70, 39.1]},
            },
        },
    )
    create(client, {"id": "urn:ngsi-ld:Meter:3", "type": ["Meter", "Device"], "hum": prop(50, T0)})
    client.patch(f"{B}/entities/{S1}/attrs", json={"temp": prop(20, T1)})
    assert ids(type="Sensor") == [S1, S2]
    assert ids(type="Meter,Sensor") == [S1, S2, "urn:ngsi-ld:Meter:3"]
    assert ids(type="Device") == ["urn:ngsi-ld:Meter:3"]
    assert ids(type="Meter;Device") == ["urn:ngsi-ld:Meter:3"]
    assert ids(type="Nothing") == []
    assert ids(idPattern="Sensor:[2-9]$") == [S2]
    assert ids(id=f"{S2},urn:ngsi-ld:Meter:3") == [S2, "urn:ngsi-ld:Meter:3"]
    assert ids(attrs="hum") == ["urn:ngsi-ld:Meter:3"]
    # q is evaluated on the current state (temp 20 and 10), not on the history
    assert ids(type="Sensor", q="temp>15") == [S1]
    assert ids(type="Sensor", q="temp<15") == [S2]
    assert ids(type="Sensor", q="temp==1") == []
    # ...and the whole history of the matching entities comes back
    got = client.get(T, params={"type": "Sensor", "q": "temp>15", **TV}).json()
    assert [v for v, _ in got[0]["temp"]["values"]] == [1, 20]
    near = {
        "georel": "near;maxDistance==20000",
        "geometry": "Point",
        "coordinates": "[117.70,39.1]",
    }
    assert ids(type="Sensor", **near) == [S1]
    problem(client.get(T, params={"type": "Sensor", "georel": "near"}), 400, "BadRequestData")


def test_telemetry_with_unit_codes_keeps_each_instances_unit(client: TestClient) -> None:
    """The fast path for {type, value, observedAt, unitCode} stores each instance's unit."""
    body = {
        "id": S1,
        "type": "Sensor",
        "temp": [
            prop(20, T0, unitCode="CEL"),
            prop(293.15, "2024-01-01T00:30:00Z", unitCode="KEL"),
            prop(21, T1),
            prop(22, "2024-01-01T02:00:00Z", unitCode="CEL"),
        ],
    }
    temporal_create(client, body)
    got = [{k: v for k, v in i.items() if k != "instanceId"} for i in history(client)["temp"]]
    assert got == [
        prop(20, at("00:00"), unitCode="CEL"),
        prop(293.15, at("00:30"), unitCode="KEL"),
        prop(21, at("01:00")),
        prop(22, at("02:00"), unitCode="CEL"),
    ]
    bad = {"id": S2, "type": "Sensor", "temp": [prop(1, T0, unitCode="")]}
    assert client.post(T, json=bad).status_code == 400
    bad["temp"] = [prop(1, T0, unitCode=7)]
    assert client.post(T, json=bad).status_code == 400
