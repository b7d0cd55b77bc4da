"""No input yields a 500: random bodies, fragments and query strings against every endpoint."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.test_entities import B, lamp

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
names = st.sampled_from(["powerState", "location", "id", "type", "x", "@context", "a b", ""])
kinds = st.sampled_from(
    [
        "Property",
        "GeoProperty",
        "Relationship",
        "LanguageProperty",
        "ListProperty",
        "ListRelationship",
        "JsonProperty",
        "VocabProperty",
        "Nope",
    ]
)
members = st.sampled_from(
    [
        "value",
        "object",
        "languageMap",
        "valueList",
        "objectList",
        "json",
        "vocab",
        "observedAt",
        "unitCode",
        "datasetId",
        "objectType",
        "sub",
    ]
)
attribute = st.fixed_dictionaries({"type": kinds}) | st.dictionaries(
    members, json_values, max_size=4
)
fragment = st.dictionaries(names, attribute | json_values, max_size=4)
entity = st.builds(
    lambda extra, id_, type_: {**extra, "id": id_, "type": type_},
    fragment,
    st.sampled_from(["urn:ngsi-ld:T:1", "bad id", 5, None]),
    st.sampled_from(["T", ["T", "U"], "", 3, None]),
)
query_text = st.lists(
    st.sampled_from([*'abcxyz019.;|()[]=!<>~",:/#+- ', "..", "==", "urn:", "powerState"]),
    max_size=20,
).map("".join)
geo_text = st.sampled_from(
    ["near;maxDistance==10", "near", "within", "bogus", "near;minDistance==-1", ""]
)

FAST = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def ok(r: Any) -> None:
    assert r.status_code < 500, (r.status_code, r.text)
    if r.status_code >= 400:
        assert r.json()["type"].startswith("https://uri.etsi.org/ngsi-ld/errors/")


@FAST
@given(body=entity | json_values)
def test_create_any_body(client: TestClient, body: Any) -> None:
    ok(client.post(f"{B}/entities", json=body))
    ok(client.post(f"{B}/entityOperations/upsert", json=[body]))


@FAST
@given(body=fragment | json_values, attr=names)
def test_update_any_fragment(client: TestClient, body: Any, attr: str) -> None:
    client.post(f"{B}/entities", json=lamp(1))
    url = f"{B}/entities/urn:ngsi-ld:Streetlight:1"
    ok(client.patch(url, json=body))
    ok(client.post(f"{url}/attrs", json=body))
    ok(client.patch(f"{url}/attrs", json=body))
    ok(client.put(url, json=body))
    if attr:
        ok(client.patch(f"{url}/attrs/{attr}", json=body))
        ok(client.put(f"{url}/attrs/{attr}", json=body))
    ok(client.post(f"{B}/entityOperations/merge", json=[body]))


@FAST
@given(q=query_text, t=query_text, scope=query_text, georel=geo_text, coords=query_text)
def test_any_query(
    client: TestClient, q: str, t: str, scope: str, georel: str, coords: str
) -> None:
    client.post(f"{B}/entities", json=lamp(1))
    ok(client.get(f"{B}/entities", params={"type": t or "T", "q": q}))
    ok(client.get(f"{B}/entities", params={"type": "T", "scopeQ": scope}))
    ok(
        client.get(
            f"{B}/entities",
            params={"type": "T", "georel": georel, "geometry": "Point", "coordinates": coords},
        )
    )
    ok(
        client.post(
            f"{B}/entityOperations/query", json={"type": "Query", "q": q, "entities": [{"type": t}]}
        )
    )


@FAST
@given(body=json_values)
def test_query_body_and_contexts(client: TestClient, body: Any) -> None:
    ok(client.post(f"{B}/entityOperations/query", json=body))
    ok(client.post(f"{B}/jsonldContexts", json=body))
    ok(client.post(f"{B}/entityOperations/delete", json=body))


times = st.sampled_from(
    ["2026-01-01T00:00:00Z", "2026-01-01T08:00:00+08:00", "2026-13-01T00:00:00Z", "x", ""]
)
durations = st.sampled_from(["PT1H", "P1D", "PT0S", "P1M", "P9999999Y", "1H", "", "PT"])
temporal_attr = st.lists(
    st.builds(lambda a, t: {**a, "observedAt": t}, attribute, times | json_values), max_size=3
)
temporal_entity = st.builds(
    lambda attrs, id_: {"id": id_, "type": "T", "temp": attrs},
    temporal_attr | json_values,
    st.sampled_from(["urn:ngsi-ld:T:1", "bad id", 5]),
)


@FAST
@given(body=temporal_entity | json_values, other=json_values)
def test_temporal_writes_any_body(client: TestClient, body: Any, other: Any) -> None:
    ok(client.post(f"{B}/temporal/entities", json=body))
    ok(client.post(f"{B}/temporal/entities/urn:ngsi-ld:T:1/attrs", json=body))
    ok(client.patch(f"{B}/temporal/entities/urn:ngsi-ld:T:1/attrs/temp/x", json=other))
    ok(client.post(f"{B}/temporal/entityOperations/query", json=other))
    ok(client.put("/cityfabric/v1/retention", json=other))


@FAST
@given(
    rel=st.sampled_from(["before", "after", "between", "", "x"]),
    at=times,
    end=times,
    prop=st.sampled_from(["observedAt", "modifiedAt", "", "x"]),
    last=st.sampled_from(["1", "0", "-1", "x", "99999999"]),
    methods=st.sampled_from(["avg", "sum,max", "bogus", "", "distinctCount,stddev"]),
    period=durations,
    opts=st.sampled_from(["aggregatedValues", "temporalValues", "sysAttrs", "x", ""]),
)
def test_temporal_any_query(
    client: TestClient,
    rel: str,
    at: str,
    end: str,
    prop: str,
    last: str,
    methods: str,
    period: str,
    opts: str,
) -> None:
    client.post(
        f"{B}/temporal/entities",
        json={
            "id": "urn:ngsi-ld:T:1",
            "type": "T",
            "temp": [{"type": "Property", "value": 1, "observedAt": "2026-01-01T00:00:00Z"}],
        },
    )
    params = {
        "type": "T",
        "timerel": rel,
        "timeAt": at,
        "endTimeAt": end,
        "timeproperty": prop,
        "lastN": last,
        "aggrMethods": methods,
        "aggrPeriodDuration": period,
        "options": opts,
    }
    ok(client.get(f"{B}/temporal/entities", params=params))
    ok(client.get(f"{B}/temporal/entities/urn:ngsi-ld:T:1", params=params))


@FAST
@given(body=json_values)
def test_subscriptions_and_devices_any_body(client: TestClient, body: Any) -> None:
    ok(client.post(f"{B}/subscriptions", json=body))
    ok(client.patch(f"{B}/subscriptions/urn:ngsi-ld:Subscription:1", json=body))
    ok(client.post("/cityfabric/v1/devices", json=body))


U64 = 2**64 - 1  # orjson reads integers up to here; SQLite's integers stop at 2**63 - 1
LAST = "9999-12-31T23:59:59Z"  # its hour's period ends past 9999


def test_the_edges_of_numbers_and_time(client: TestClient) -> None:
    """Values at the limits of the engines' integers and of ISO 8601 time: never a 500."""
    temporal = {
        "id": "urn:ngsi-ld:T:1",
        "type": "T",
        "p": [
            {"type": "Property", "value": U64, "observedAt": "2024-01-01T00:00:00Z"},
            {"type": "Property", "value": 2.5, "observedAt": LAST},
        ],
    }
    assert client.post(f"{B}/temporal/entities", json=temporal).status_code == 201
    entity = {"id": "urn:ngsi-ld:T:2", "type": "T", "p": {"type": "Property", "value": U64}}
    assert client.post(f"{B}/entities", json=entity).status_code == 201
    assert client.get(f"{B}/entities/urn:ngsi-ld:T:2").json()["p"]["value"] == U64
    hist = client.get(f"{B}/temporal/entities/urn:ngsi-ld:T:1").json()
    assert sorted(i["value"] for i in hist["p"]) == [2.5, U64]
    agg = client.get(
        f"{B}/temporal/entities/urn:ngsi-ld:T:1",
        params={
            "options": "aggregatedValues",
            "aggrMethods": "sum",
            "aggrPeriodDuration": "PT1H",
            "timerel": "after",
            "timeAt": "9999-12-31T00:00:00Z",
        },
        headers={"Accept": "application/json"},
    )
    assert agg.status_code == 200, agg.text
    assert agg.json()["p"]["sum"] == [[2.5, "9999-12-31T23:00:00.000Z", "9999-12-31T23:59:59.999Z"]]
    for q in (f"p=={U64}", f"p>{2**70}", "p<-" + "9" * 30):
        ok(client.get(f"{B}/entities", params={"type": "T", "q": q}))
    r = client.get(f"{B}/entities", params={"type": "T", "q": "p==1" + "0" * 400})
    assert r.status_code == 400 and "out of range" in r.json()["detail"]
    r = client.get(f"{B}/entities", params={"type": "T", "offset": str(2**70)})
    assert r.status_code == 400 and "offset must be at most" in r.json()["detail"]
