"""/ngsi-ld/v1/entityOperations batch operations and /types, /attributes discovery."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.test_entities import B, lamp, problem


def test_batch_create_reports_each_failure(client: TestClient) -> None:
    r = client.post(f"{B}/entityOperations/create", json=[lamp(1), lamp(2)])
    assert r.status_code == 201
    assert r.json() == ["urn:ngsi-ld:Streetlight:1", "urn:ngsi-ld:Streetlight:2"]
    r = client.post(f"{B}/entityOperations/create", json=[lamp(2), lamp(3), {"id": "bad"}])
    assert r.status_code == 207
    body = r.json()
    assert body["success"] == ["urn:ngsi-ld:Streetlight:3"]
    errors = {e["entityId"]: e["error"]["title"] for e in body["errors"]}
    assert errors == {"urn:ngsi-ld:Streetlight:2": "AlreadyExists", "bad": "BadRequestData"}


def test_batch_upsert_replace_and_update(client: TestClient) -> None:
    r = client.post(f"{B}/entityOperations/upsert", json=[lamp(1)])
    assert r.status_code == 201 and r.json() == ["urn:ngsi-ld:Streetlight:1"]
    changed = {
        "id": "urn:ngsi-ld:Streetlight:1",
        "type": "Streetlight",
        "status": {"type": "Property", "value": "ok"},
    }
    r = client.post(f"{B}/entityOperations/upsert", json=[changed], params={"options": "update"})
    assert r.status_code == 204
    got = client.get(f"{B}/entities/urn:ngsi-ld:Streetlight:1").json()
    assert got["status"]["value"] == "ok" and got["powerState"]["value"] == "on"
    r = client.post(f"{B}/entityOperations/upsert", json=[changed, lamp(2)])
    assert r.status_code == 201 and r.json() == ["urn:ngsi-ld:Streetlight:2"]
    got = client.get(f"{B}/entities/urn:ngsi-ld:Streetlight:1").json()
    assert "powerState" not in got


def test_batch_update_merge_delete(client: TestClient) -> None:
    client.post(f"{B}/entityOperations/create", json=[lamp(1), lamp(2)])
    upd = [{"id": "urn:ngsi-ld:Streetlight:1", "powerState": {"type": "Property", "value": "off"}}]
    assert client.post(f"{B}/entityOperations/update", json=upd).status_code == 204
    missing = [{"id": "urn:ngsi-ld:Streetlight:9", "powerState": {"value": "off"}}]
    r = client.post(f"{B}/entityOperations/update", json=missing)
    assert r.status_code == 207 and r.json()["errors"][0]["error"]["title"] == "ResourceNotFound"
    merge = [{"id": "urn:ngsi-ld:Streetlight:2", "illuminanceLevel": {"value": 0.1}}]
    assert client.post(f"{B}/entityOperations/merge", json=merge).status_code == 204
    got = client.get(f"{B}/entities/urn:ngsi-ld:Streetlight:2").json()
    assert got["illuminanceLevel"] == {"type": "Property", "value": 0.1, "unitCode": "C62"}
    r = client.post(
        f"{B}/entityOperations/delete",
        json=["urn:ngsi-ld:Streetlight:1", "urn:ngsi-ld:Streetlight:9"],
    )
    assert r.status_code == 207
    assert r.json()["success"] == ["urn:ngsi-ld:Streetlight:1"]
    r = client.post(f"{B}/entityOperations/delete", json=["urn:ngsi-ld:Streetlight:2"])
    assert r.status_code == 204


def test_batch_errors(client: TestClient) -> None:
    problem(client.post(f"{B}/entityOperations/create", json={"id": "x"}), 400, "BadRequestData")
    problem(client.post(f"{B}/entityOperations/create", json=[]), 400, "BadRequestData")
    big = [lamp(i) for i in range(10_001)]
    problem(client.post(f"{B}/entityOperations/upsert", json=big), 413, "BadRequestData")
    problem(
        client.post(f"{B}/entityOperations/upsert", json=[lamp(1)], params={"options": "bogus"}),
        400,
        "BadRequestData",
    )


def test_types_and_attributes(client: TestClient) -> None:
    client.post(f"{B}/entityOperations/create", json=[lamp(1), lamp(2)])
    client.post(
        f"{B}/entities",
        json={
            "id": "urn:ngsi-ld:Building:1",
            "type": "Building",
            "owner": {"type": "Relationship", "object": "urn:ngsi-ld:Org:1"},
        },
    )
    types = client.get(f"{B}/types").json()
    assert types["type"] == "EntityTypeList"
    assert types["typeList"] == ["Building", "Streetlight"]
    details = client.get(f"{B}/types", params={"details": "true"}).json()
    lamp_type = next(t for t in details if t["typeName"] == "Streetlight")
    assert set(lamp_type["attributeNames"]) == {"powerState", "illuminanceLevel", "location"}
    info = client.get(f"{B}/types/Streetlight").json()
    assert info["type"] == "EntityTypeInfo" and info["entityCount"] == 2
    assert {a["attributeName"]: a["attributeTypes"] for a in info["attributeDetails"]}[
        "location"
    ] == ["GeoProperty"]
    attrs = client.get(f"{B}/attributes").json()
    assert attrs["attributeList"] == ["illuminanceLevel", "location", "owner", "powerState"]
    one = client.get(f"{B}/attributes/owner").json()
    assert one["attributeCount"] == 1 and one["attributeTypes"] == ["Relationship"]
    assert one["typeNames"] == ["Building"]
    detailed = client.get(f"{B}/attributes", params={"details": "true"}).json()
    assert {a["attributeName"] for a in detailed} == set(attrs["attributeList"])
    problem(client.get(f"{B}/types/Nothing"), 404, "ResourceNotFound")
    problem(client.get(f"{B}/attributes/nothing"), 404, "ResourceNotFound")


def test_ld_json_batch_items_carry_their_context(client: TestClient) -> None:
    import orjson

    from tests.conftest import STREETLIGHT_CTX, link

    ld = {"Content-Type": "application/ld+json"}
    items = [{**lamp(1), "@context": STREETLIGHT_CTX}, {**lamp(2), "@context": STREETLIGHT_CTX}]
    r = client.post(f"{B}/entityOperations/upsert", content=orjson.dumps(items), headers=ld)
    assert r.status_code == 201, r.text
    got = client.get(f"{B}/entities/urn:ngsi-ld:Streetlight:2", headers=link(STREETLIGHT_CTX))
    assert got.json()["powerState"]["value"] == "on"
    r = client.post(f"{B}/entityOperations/upsert", content=orjson.dumps([lamp(3)]), headers=ld)
    problem(r, 400, "BadRequestData")
    r = client.post(f"{B}/entityOperations/upsert", json=items)
    problem(r, 400, "BadRequestData")
