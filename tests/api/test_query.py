"""GET /entities and POST /entityOperations/query: every filter, paging and formats."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.test_entities import B, lamp, problem

# lamps 0..9 along a line of longitude steps of ~86 m at 39.1 N
LAMPS = [lamp(n, "on" if n % 2 else "off", n / 10, lon=117.70 + n * 0.001) for n in range(10)]


@pytest.fixture
def city(client: TestClient) -> TestClient:
    r = client.post(f"{B}/entityOperations/create", json=LAMPS)
    assert r.status_code == 201, r.text
    building = {
        "id": "urn:ngsi-ld:Building:1",
        "type": ["Building", "Asset"],
        "scope": ["/Tianjin/Port", "/Tianjin/EcoCity/North"],
        "address": {"type": "Property", "value": {"city": "Tianjin", "floors": 5}},
        "owner": {"type": "Relationship", "object": "urn:ngsi-ld:Org:port"},
        "opened": {
            "type": "Property",
            "value": {"@type": "DateTime", "@value": "2019-05-01T00:00:00Z"},
        },
        "temperature": {
            "type": "Property",
            "value": 22,
            "observedAt": "2026-11-01T10:00:00Z",
            "accuracy": {"type": "Property", "value": 0.5},
        },
        "tags": {"type": "Property", "value": ["green", "smart"]},
    }
    assert client.post(f"{B}/entities", json=building).status_code == 201
    return client


def ids(client: TestClient, **params: Any) -> list[str]:
    r = client.get(f"{B}/entities", params={"limit": 100, **params})
    assert r.status_code == 200, r.text
    return [e["id"].rsplit(":", 1)[1] for e in r.json()]


def test_by_type_and_id(city: TestClient) -> None:
    assert len(ids(city, type="Streetlight")) == 10
    assert ids(city, type="Building") == ["1"]
    assert ids(city, type="Asset;Building") == ["1"]
    assert len(ids(city, type="Streetlight,Building")) == 11
    assert len(ids(city, type="(Asset;Building)|Streetlight")) == 11
    assert ids(city, id="urn:ngsi-ld:Streetlight:3,urn:ngsi-ld:Streetlight:4") == ["3", "4"]
    assert ids(city, idPattern="Streetlight:[12]$") == ["1", "2"]
    assert ids(city, attrs="owner") == ["1"]


def test_q_language(city: TestClient) -> None:
    assert ids(city, type="Streetlight", q='powerState=="on";illuminanceLevel>0.5') == ["7", "9"]
    assert ids(city, type="Streetlight", q="illuminanceLevel==0.2..0.4") == ["2", "3", "4"]
    assert ids(city, type="Streetlight", q='powerState=="off"|illuminanceLevel>=0.9') == [
        "0",
        "2",
        "4",
        "6",
        "8",
        "9",
    ]
    assert ids(city, q='address[city]=="Tianjin"') == ["1"]
    assert ids(city, q="address[floors]>4") == ["1"]
    assert ids(city, q="owner==urn:ngsi-ld:Org:port") == ["1"]
    assert ids(city, q="opened>2019-01-01T00:00:00Z") == ["1"]
    assert ids(city, q="opened<2019-01-01T00:00:00Z") == []
    assert ids(city, q="temperature.observedAt>=2026-11-01T00:00:00Z") == ["1"]
    assert ids(city, q="temperature.accuracy<1") == ["1"]
    assert ids(city, q='tags=="smart"') == ["1"]
    assert ids(city, q='tags=="green","blue"') == ["1"]
    assert ids(city, type="Streetlight", q='powerState~="o.f"') == ["0", "2", "4", "6", "8"]
    assert ids(city, type="Building", q="temperature") == ["1"]
    assert ids(city, type="Streetlight", q="temperature") == []


def test_scope_q(city: TestClient) -> None:
    assert ids(city, scopeQ="/Tianjin/Port") == ["1"]
    assert ids(city, scopeQ="/Tianjin/#") == ["1"]
    assert ids(city, scopeQ="/Minsk/#") == []


def test_geo_queries(city: TestClient) -> None:
    near = ids(
        city,
        type="Streetlight",
        georel="near;maxDistance==200",
        geometry="Point",
        coordinates="[117.7, 39.1]",
    )
    assert near == ["0", "1", "2"]
    far = ids(
        city,
        type="Streetlight",
        georel="near;minDistance==700",
        geometry="Point",
        coordinates="[117.7, 39.1]",
    )
    assert far == ["9"]
    box = "[[[117.7025,39.0],[117.7055,39.0],[117.7055,39.2],[117.7025,39.2],[117.7025,39.0]]]"
    assert ids(city, georel="within", geometry="Polygon", coordinates=box) == ["3", "4", "5"]
    assert (
        len(ids(city, type="Streetlight", georel="disjoint", geometry="Polygon", coordinates=box))
        == 7
    )
    r = city.get(
        f"{B}/entities",
        params={
            "type": "Streetlight",
            "georel": "near",
            "geometry": "Point",
            "coordinates": "[0,0]",
        },
    )
    problem(r, 400, "BadRequestData")


def test_paging_and_count(city: TestClient) -> None:
    r = city.get(
        f"{B}/entities", params={"type": "Streetlight", "limit": 3, "offset": 3, "count": "true"}
    )
    assert [e["id"][-1] for e in r.json()] == ["3", "4", "5"]
    assert r.headers["NGSILD-Results-Count"] == "10"
    assert 'rel="next"' in r.headers["link"] and 'rel="prev"' in r.headers["link"]
    r = city.get(f"{B}/entities", params={"type": "Streetlight", "limit": 0, "count": "true"})
    assert r.json() == [] and r.headers["NGSILD-Results-Count"] == "10"
    problem(
        city.get(f"{B}/entities", params={"type": "Streetlight", "limit": 5000}),
        403,
        "TooManyResults",
    )
    problem(
        city.get(f"{B}/entities", params={"type": "Streetlight", "limit": "x"}),
        400,
        "BadRequestData",
    )


def test_geojson(city: TestClient) -> None:
    r = city.get(
        f"{B}/entities",
        params={"type": "Streetlight", "format": "geojson", "options": "keyValues", "limit": 2},
    )
    assert r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    assert fc["type"] == "FeatureCollection"
    assert fc["features"][0]["geometry"]["type"] == "Point"
    assert fc["features"][0]["properties"]["powerState"] == "off"
    r = city.get(
        f"{B}/entities/urn:ngsi-ld:Streetlight:1", headers={"Accept": "application/geo+json"}
    )
    assert r.json()["type"] == "Feature"


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"type": "Streetlight", "q": "powerState=="},
        {"type": "Streetlight", "q": "(a==1"},
        {"type": "Streetlight", "q": 'a~="("'},
        {"type": "Streetlight,"},
        {"type": "Streetlight", "georel": "near;maxDistance==10"},
        {"type": "Streetlight", "georel": "within", "geometry": "Polygon", "coordinates": "[1"},
        {"type": "Streetlight", "geometry": "Circle", "georel": "within", "coordinates": "[1,2]"},
        {"id": "not a uri"},
        {"idPattern": "("},
        {"type": "Streetlight", "scopeQ": "nope"},
    ],
)
def test_query_errors(city: TestClient, params: dict[str, str]) -> None:
    problem(city.get(f"{B}/entities", params=params), 400, "BadRequestData")


def test_post_query(city: TestClient) -> None:
    body = {
        "type": "Query",
        "entities": [{"type": "Streetlight"}],
        "q": "illuminanceLevel>0.5",
        "attrs": ["illuminanceLevel"],
        "geoQ": {
            "geometry": "Point",
            "coordinates": [117.7, 39.1],
            "georel": "near;maxDistance==800",
        },
    }
    r = city.post(f"{B}/entityOperations/query", json=body, params={"count": "true"})
    assert r.status_code == 200, r.text
    assert [e["id"][-1] for e in r.json()] == ["6", "7", "8", "9"]
    assert set(r.json()[0]) == {"id", "type", "illuminanceLevel"}
    assert r.headers["NGSILD-Results-Count"] == "4"
    problem(city.post(f"{B}/entityOperations/query", json={"q": "a==1"}), 400, "BadRequestData")
