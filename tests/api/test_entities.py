"""/ngsi-ld/v1/entities through the ASGI app on a temporary SQLite file."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import STREETLIGHT_CTX, link

B = "/ngsi-ld/v1"
JSON = {"Content-Type": "application/json"}
ERR = "https://uri.etsi.org/ngsi-ld/errors/"


def lamp(n: int, state: str = "on", level: float = 0.8, lon: float = 117.70) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:Streetlight:{n}",
        "type": "Streetlight",
        "powerState": {"type": "Property", "value": state},
        "illuminanceLevel": {"type": "Property", "value": level, "unitCode": "C62"},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, 39.1]}},
    }


def create(client: TestClient, body: dict[str, Any], **headers: str) -> None:
    r = client.post(f"{B}/entities", json=body, headers=headers)
    assert r.status_code == 201, r.text


def problem(r: Any, status: int, kind: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["type"] == ERR + kind, body
    assert body["title"] == kind
    assert body["detail"]
    return body


def test_create_and_retrieve_normalized(client: TestClient) -> None:
    r = client.post(f"{B}/entities", json=lamp(1))
    assert r.status_code == 201
    assert r.headers["location"] == f"{B}/entities/urn:ngsi-ld:Streetlight:1"
    got = client.get(f"{B}/entities/urn:ngsi-ld:Streetlight:1").json()
    assert got == lamp(1)
    assert (
        "ngsi-ld-core-context"
        in client.get(f"{B}/entities/urn:ngsi-ld:Streetlight:1").headers["link"]
    )


def test_create_twice_is_already_exists(client: TestClient) -> None:
    create(client, lamp(1))
    problem(client.post(f"{B}/entities", json=lamp(1)), 409, "AlreadyExists")


def test_retrieve_representations(client: TestClient) -> None:
    create(client, lamp(1))
    url = f"{B}/entities/urn:ngsi-ld:Streetlight:1"
    kv = client.get(url, params={"options": "keyValues"}).json()
    assert kv["powerState"] == "on"
    assert kv["location"] == {"type": "Point", "coordinates": [117.70, 39.1]}
    concise = client.get(url, params={"options": "concise"}).json()
    assert concise["powerState"] == "on"
    assert concise["illuminanceLevel"] == {"value": 0.8, "unitCode": "C62"}
    assert client.get(url, params={"format": "simplified"}).json() == kv
    sys = client.get(url, params={"options": "sysAttrs"}).json()
    assert sys["createdAt"].endswith("Z") and "modifiedAt" in sys["powerState"]
    # concise output is valid input and means the same entity
    concise["id"] = "urn:ngsi-ld:Streetlight:2"
    create(client, concise)
    again = client.get(f"{B}/entities/urn:ngsi-ld:Streetlight:2").json()
    assert again == {**lamp(1), "id": "urn:ngsi-ld:Streetlight:2"}


def test_pick_omit_attrs(client: TestClient) -> None:
    create(client, lamp(1))
    url = f"{B}/entities/urn:ngsi-ld:Streetlight:1"
    assert set(client.get(url, params={"attrs": "powerState"}).json()) == {
        "id",
        "type",
        "powerState",
    }
    assert set(client.get(url, params={"pick": "id,powerState"}).json()) == {"id", "powerState"}
    assert set(client.get(url, params={"omit": "type,location"}).json()) == {
        "id",
        "powerState",
        "illuminanceLevel",
    }
    problem(client.get(url, params={"pick": "id", "omit": "type"}), 400, "BadRequestData")


def test_ld_json_in_and_out(client: TestClient) -> None:
    body = {**lamp(1), "@context": [STREETLIGHT_CTX]}
    r = client.post(
        f"{B}/entities",
        content=__import__("orjson").dumps(body),
        headers={"Content-Type": "application/ld+json"},
    )
    assert r.status_code == 201, r.text
    r = client.get(
        f"{B}/entities/urn:ngsi-ld:Streetlight:1", headers={"Accept": "application/ld+json"}
    )
    assert r.headers["content-type"].startswith("application/ld+json")
    assert "@context" in r.json()
    # with the core context only, the Smart Data Models names come back as IRIs
    plain = client.get(f"{B}/entities/urn:ngsi-ld:Streetlight:1").json()
    assert "powerState" not in plain
    assert any(k.endswith("powerState") for k in plain)
    with_link = client.get(
        f"{B}/entities/urn:ngsi-ld:Streetlight:1", headers=link(STREETLIGHT_CTX)
    ).json()
    assert with_link["powerState"]["value"] == "on"
    assert with_link["type"] == "Streetlight"


def test_context_rules(client: TestClient) -> None:
    body = {**lamp(1), "@context": STREETLIGHT_CTX}
    problem(client.post(f"{B}/entities", json=body), 400, "BadRequestData")
    r = client.post(
        f"{B}/entities",
        content=b'{"id": "urn:a:b", "type": "T"}',
        headers={"Content-Type": "application/ld+json"},
    )
    problem(r, 400, "BadRequestData")
    r = client.get(f"{B}/entities/urn:a:b", headers=link("http://127.0.0.1:9/none.jsonld"))
    problem(r, 503, "LdContextNotAvailable")


def test_replace_merge_delete(client: TestClient) -> None:
    create(client, lamp(1))
    url = f"{B}/entities/urn:ngsi-ld:Streetlight:1"
    r = client.put(
        url, json={"type": "Streetlight", "powerState": {"type": "Property", "value": "off"}}
    )
    assert r.status_code == 204, r.text
    assert set(client.get(url).json()) == {"id", "type", "powerState"}
    r = client.patch(
        url,
        json={
            "powerState": {"type": "Property", "value": "on"},
            "status": {"type": "Property", "value": "ok"},
        },
    )
    assert r.status_code == 204, r.text
    got = client.get(url, params={"options": "keyValues"}).json()
    assert got["powerState"] == "on" and got["status"] == "ok"
    r = client.patch(url, json={"status": "urn:ngsi-ld:null"})
    assert r.status_code == 204
    assert "status" not in client.get(url).json()
    assert client.delete(url).status_code == 204
    problem(client.get(url), 404, "ResourceNotFound")
    problem(client.delete(url), 404, "ResourceNotFound")
    problem(client.patch(url, json={"a": 1}), 404, "ResourceNotFound")


def test_append_and_update_attrs(client: TestClient) -> None:
    create(client, lamp(1))
    url = f"{B}/entities/urn:ngsi-ld:Streetlight:1/attrs"
    r = client.post(url, json={"status": {"type": "Property", "value": "ok"}})
    assert r.status_code == 204
    r = client.post(
        url,
        params={"options": "noOverwrite"},
        json={
            "status": {"type": "Property", "value": "broken"},
            "circuit": {"type": "Property", "value": "C1"},
        },
    )
    assert r.status_code == 207
    assert r.json()["updated"] == ["circuit"]
    assert r.json()["notUpdated"][0]["attributeName"] == "status"
    r = client.patch(
        url,
        json={
            "status": {"type": "Property", "value": "defect"},
            "unknown": {"type": "Property", "value": 1},
        },
    )
    assert r.status_code == 207
    assert r.json()["notUpdated"][0]["attributeName"] == "unknown"
    got = client.get(f"{B}/entities/urn:ngsi-ld:Streetlight:1", params={"options": "keyValues"})
    assert got.json()["status"] == "defect"
    assert "unknown" not in got.json()
    assert client.patch(url, json={"powerState": {"value": "off"}}).status_code == 204


def test_single_attribute_operations(client: TestClient) -> None:
    create(client, lamp(1))
    url = f"{B}/entities/urn:ngsi-ld:Streetlight:1/attrs/illuminanceLevel"
    assert client.patch(url, json={"value": 0.2}).status_code == 204
    got = client.get(f"{B}/entities/urn:ngsi-ld:Streetlight:1").json()["illuminanceLevel"]
    assert got == {"type": "Property", "value": 0.2, "unitCode": "C62"}
    assert client.patch(url, json={"observedAt": "2026-01-01T00:00:00Z"}).status_code == 204
    got = client.get(f"{B}/entities/urn:ngsi-ld:Streetlight:1").json()["illuminanceLevel"]
    assert got["value"] == 0.2 and got["observedAt"] == "2026-01-01T00:00:00Z"
    assert client.put(url, json={"type": "Property", "value": 0.5}).status_code == 204
    got = client.get(f"{B}/entities/urn:ngsi-ld:Streetlight:1").json()["illuminanceLevel"]
    assert got == {"type": "Property", "value": 0.5}
    assert client.delete(url).status_code == 204
    problem(client.delete(url), 404, "ResourceNotFound")
    problem(client.patch(url, json={"value": 1}), 404, "ResourceNotFound")


def test_multi_attributes_with_dataset_id(client: TestClient) -> None:
    body = {
        "id": "urn:ngsi-ld:Building:1",
        "type": "Building",
        "temperature": [
            {"type": "Property", "value": 20.5},
            {"type": "Property", "value": 21.0, "datasetId": "urn:ngsi-ld:Dataset:floor2"},
        ],
    }
    create(client, body)
    got = client.get(f"{B}/entities/urn:ngsi-ld:Building:1").json()
    assert got["temperature"] == body["temperature"]
    url = f"{B}/entities/urn:ngsi-ld:Building:1/attrs/temperature"
    r = client.delete(url, params={"datasetId": "urn:ngsi-ld:Dataset:floor2"})
    assert r.status_code == 204
    got = client.get(f"{B}/entities/urn:ngsi-ld:Building:1").json()
    assert got["temperature"] == {"type": "Property", "value": 20.5}
    client.post(
        f"{B}/entities/urn:ngsi-ld:Building:1/attrs",
        json={
            "temperature": {"type": "Property", "value": 3, "datasetId": "urn:ngsi-ld:Dataset:x"}
        },
    )
    assert client.delete(url, params={"deleteAll": "true"}).status_code == 204
    assert "temperature" not in client.get(f"{B}/entities/urn:ngsi-ld:Building:1").json()
    dup = {
        **body,
        "id": "urn:ngsi-ld:Building:2",
        "temperature": [{"type": "Property", "value": 1}, {"type": "Property", "value": 2}],
    }
    problem(client.post(f"{B}/entities", json=dup), 400, "BadRequestData")


def test_every_attribute_kind_round_trips(client: TestClient) -> None:
    body = {
        "id": "urn:ngsi-ld:Thing:1",
        "type": "Thing",
        "name": {"type": "LanguageProperty", "languageMap": {"en": "Harbour", "zh": "港口"}},
        "colours": {"type": "ListProperty", "valueList": ["red", "green"]},
        "neighbours": {
            "type": "ListRelationship",
            "objectList": [{"object": "urn:ngsi-ld:Thing:2"}],
        },
        "config": {"type": "JsonProperty", "json": {"any": ["thing", 1]}},
        "category": {"type": "VocabProperty", "vocab": "streetlight"},
        "owner": {
            "type": "Relationship",
            "object": "urn:ngsi-ld:Person:1",
            "since": {"type": "Property", "value": "2020"},
        },
        "area": {
            "type": "GeoProperty",
            "value": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]},
        },
        "temperature": {
            "type": "Property",
            "value": 21,
            "observedAt": "2026-01-01T00:00:00Z",
            "accuracy": {"type": "Property", "value": 0.5},
        },
    }
    create(client, body)
    url = f"{B}/entities/urn:ngsi-ld:Thing:1"
    assert client.get(url).json() == body
    r = client.get(url, params={"lang": "zh"}).json()
    assert r["name"] == {"type": "Property", "value": "港口", "lang": "zh"}
    kv = client.get(url, params={"options": "keyValues", "lang": "en"}).json()
    assert kv["name"] == "Harbour" and kv["owner"] == "urn:ngsi-ld:Person:1"
    assert kv["config"] == {"json": {"any": ["thing", 1]}}


@pytest.mark.parametrize(
    "body",
    [
        {"type": "T"},
        {"id": "not a uri", "type": "T"},
        {"id": "urn:a:b"},
        {"id": "urn:a:b", "type": "T", "bad name!": {"type": "Property", "value": 1}},
        {"id": "urn:a:b", "type": "T", "p": {"type": "Property"}},
        {"id": "urn:a:b", "type": "T", "p": {"type": "Weird", "value": 1}},
        {"id": "urn:a:b", "type": "T", "r": {"type": "Relationship", "object": "no uri"}},
        {
            "id": "urn:a:b",
            "type": "T",
            "location": {"type": "GeoProperty", "value": {"type": "Point"}},
        },
        {
            "id": "urn:a:b",
            "type": "T",
            "location": {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [200, 0]},
            },
        },
        {
            "id": "urn:a:b",
            "type": "T",
            "p": {"type": "Property", "value": 1, "observedAt": "yesterday"},
        },
        {"id": "urn:a:b", "type": "T", "p": {"type": "Property", "value": 1, "datasetId": "x"}},
        {"id": "urn:a:b", "type": "T", "p": {"type": "Property", "value": None}},
        {"id": "urn:a:b", "type": "T", "n": {"type": "LanguageProperty", "languageMap": "x"}},
        {"id": "urn:a:b", "type": "T", "scope": "no-slash"},
        {"id": "urn:a:b", "type": 5},
    ],
)
def test_malformed_entities_are_bad_request_data(client: TestClient, body: Any) -> None:
    problem(client.post(f"{B}/entities", json=body), 400, "BadRequestData")


def test_request_errors(client: TestClient) -> None:
    r = client.post(f"{B}/entities", content=b"{not json", headers=JSON)
    problem(r, 400, "InvalidRequest")
    r = client.post(f"{B}/entities", content=b"{}", headers={"Content-Type": "text/plain"})
    problem(r, 415, "InvalidRequest")
    r = client.post(f"{B}/entities", content=b"[1]", headers=JSON)
    problem(r, 400, "BadRequestData")
    big = b'{"id": "urn:a:b", "type": "T", "p": "' + b"x" * (17 * 1024 * 1024) + b'"}'
    problem(client.post(f"{B}/entities", content=big, headers=JSON), 413, "BadRequestData")
    problem(client.get(f"{B}/entities/not-a-uri"), 400, "BadRequestData")
    problem(client.get(f"{B}/entities/urn:a:b", params={"options": "fancy"}), 400, "BadRequestData")
    problem(
        client.get(f"{B}/entities/urn:a:b", headers={"Accept": "text/html"}), 406, "InvalidRequest"
    )
    problem(client.get(f"{B}/nothing-here"), 404, "ResourceNotFound")
    problem(client.request("TRACE", f"{B}/entities"), 405, "OperationNotSupported")


def test_tenants_are_isolated(client: TestClient) -> None:
    t = {"NGSILD-Tenant": "tashkent"}
    problem(
        client.get(f"{B}/entities", params={"type": "Streetlight"}, headers=t),
        404,
        "NonexistentTenant",
    )
    problem(
        client.get(f"{B}/entities/urn:ngsi-ld:Streetlight:1", headers=t), 404, "NonexistentTenant"
    )
    create(client, lamp(1), **t)
    assert client.get(f"{B}/entities/urn:ngsi-ld:Streetlight:1", headers=t).status_code == 200
    problem(client.get(f"{B}/entities/urn:ngsi-ld:Streetlight:1"), 404, "ResourceNotFound")
    r = client.get(f"{B}/entities", params={"type": "Streetlight"})
    assert r.status_code == 200 and r.json() == []
    problem(
        client.get(f"{B}/types", headers={"NGSILD-Tenant": "bad tenant!"}), 400, "BadRequestData"
    )


def test_health_and_openapi(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
    paths = client.get("/openapi.json").json()["paths"]
    for p in (
        "/ngsi-ld/v1/entities",
        "/ngsi-ld/v1/entities/{entity_id}/attrs/{attr_id}",
        "/ngsi-ld/v1/entityOperations/upsert",
        "/ngsi-ld/v1/types",
        "/ngsi-ld/v1/attributes/{attr_name}",
        "/ngsi-ld/v1/jsonldContexts",
        "/health",
    ):
        assert p in paths


def test_system_timestamps_follow_changes(client: TestClient) -> None:
    import time

    create(client, lamp(1))
    url = f"{B}/entities/urn:ngsi-ld:Streetlight:1"
    first = client.get(url, params={"options": "sysAttrs"}).json()
    created = first["createdAt"]
    assert first["powerState"]["createdAt"] == first["powerState"]["modifiedAt"] == created
    time.sleep(0.01)
    client.patch(f"{url}/attrs", json={"powerState": {"type": "Property", "value": "off"}})
    client.post(
        f"{url}/attrs",
        json={
            "status": {"type": "Property", "value": "ok", "since": {"type": "Property", "value": 1}}
        },
    )
    got = client.get(url, params={"options": "sysAttrs"}).json()
    assert got["createdAt"] == created and got["modifiedAt"] > created
    assert got["powerState"]["createdAt"] == created
    assert got["powerState"]["modifiedAt"] > created
    assert got["illuminanceLevel"]["modifiedAt"] == created
    assert got["status"]["createdAt"] > created
    assert got["status"]["since"]["createdAt"] == got["status"]["createdAt"]
    time.sleep(0.01)
    client.put(url, json={"type": "Streetlight", "powerState": {"type": "Property", "value": "on"}})
    replaced = client.get(url, params={"options": "sysAttrs"}).json()
    assert replaced["createdAt"] == created
    assert replaced["powerState"]["createdAt"] > got["powerState"]["modifiedAt"]


def test_smart_data_models_contexts_ship_with_the_package(tmp_path: Any) -> None:
    from cityfabric.app import create_app
    from cityfabric.config import Settings

    with TestClient(create_app(Settings(data_dir=tmp_path))) as bare:
        r = bare.post(f"{B}/entities", json=lamp(1), headers=link(STREETLIGHT_CTX))
        assert r.status_code == 201, r.text
        got = bare.get(f"{B}/entities/urn:ngsi-ld:Streetlight:1").json()
        assert "https://smartdatamodels.org/dataModel.Streetlighting/powerState" in got
