"""GET /cityfabric/v1/tenants lists the tenants written to."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_tenants_appear_once_written(client: TestClient) -> None:
    assert client.get("/cityfabric/v1/tenants").json() == {"tenants": []}
    lamp = {"id": "urn:ngsi-ld:Streetlight:1", "type": "Streetlight"}
    for tenant in ("minsk", "tashkent", "minsk"):
        r = client.post("/ngsi-ld/v1/entities", json=lamp, headers={"NGSILD-Tenant": tenant})
        assert r.status_code in (201, 409)
    assert client.get("/cityfabric/v1/tenants").json() == {"tenants": ["minsk", "tashkent"]}
