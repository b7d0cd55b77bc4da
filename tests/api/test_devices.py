"""/cityfabric/v1/devices: provisioning device profiles over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityfabric.ingest.profiles import DeviceProfiles

D = "/cityfabric/v1/devices"
MINSK = {"NGSILD-Tenant": "minsk"}


def profile(device: str = "pv-1", **extra: Any) -> dict[str, Any]:
    return {
        "deviceId": device,
        "entityType": "PhotovoltaicMeasurement",
        "measurements": {"p": {"attribute": "activePower", "unitCode": "KWT", "scale": 0.001}},
        **extra,
    }


def test_create_read_list_delete(client: TestClient) -> None:
    r = client.post(D, json=profile())
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"{D}/pv-1"
    body = r.json()
    assert body["entityId"] == "urn:ngsi-ld:PhotovoltaicMeasurement:pv-1"
    assert body["measurements"]["p"] == {
        "attribute": "activePower",
        "kind": "Property",
        "unitCode": "KWT",
        "scale": 0.001,
    }
    assert client.get(f"{D}/pv-1").json() == body
    assert client.get(D).json() == [body]
    # everything is an entity: the profile is a DeviceProfile entity
    r = client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:DeviceProfile:pv-1")
    assert r.json()["type"] == "DeviceProfile"
    assert client.delete(f"{D}/pv-1").status_code == 204
    assert client.get(f"{D}/pv-1").status_code == 404
    assert client.delete(f"{D}/pv-1").json()["title"] == "ResourceNotFound"


def test_a_list_and_paging(client: TestClient) -> None:
    r = client.post(D, json=[profile(f"d-{n}") for n in range(5)])
    assert r.status_code == 201 and [p["deviceId"] for p in r.json()] == [
        f"d-{n}" for n in range(5)
    ]
    page = client.get(D, params={"limit": 2, "offset": 2}).json()
    assert [p["deviceId"] for p in page] == ["d-2", "d-3"]
    assert client.get(D, params={"limit": 5000}).status_code == 403


def test_post_replaces_and_refreshes_the_cache(client: TestClient) -> None:
    assert client.post(D, json=profile()).status_code == 201
    changed = profile(measurements={"p": "power"})
    assert client.post(D, json=changed).status_code == 201
    assert client.get(f"{D}/pv-1").json()["measurements"]["p"]["attribute"] == "power"
    cache: DeviceProfiles = client.app.state.device_profiles  # type: ignore[attr-defined]
    cached = cache.cached("", "pv-1")
    assert cached is not None and cached.profile.measurements["p"].attribute == "power"
    client.delete(f"{D}/pv-1")
    assert cache.cached("", "pv-1") is None


def test_tenants(client: TestClient) -> None:
    assert client.post(D, json=profile(), headers=MINSK).status_code == 201
    assert client.get(f"{D}/pv-1", headers=MINSK).status_code == 200
    assert client.get(f"{D}/pv-1").status_code == 404
    assert client.get(D).json() == []
    r = client.get(D, headers={"NGSILD-Tenant": "nowhere"})
    assert r.status_code == 404 and r.json()["title"] == "NonexistentTenant"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (profile(measurements={"p": {"scale": "x"}}), "measurements.p.scale must be a finite"),
        (profile(deviceId="a b"), "deviceId must be 1-256"),
        ([profile(), profile("x", unmapped="no")], "profile #2"),
        ([profile(), profile()], "device 'pv-1' appears twice"),
        ([], "non-empty array"),
        ("text", "must be a device profile"),
        (profile(tenant="minsk"), "unknown member(s) ['tenant']"),
    ],
)
def test_bad_profiles_are_400_with_a_precise_detail(
    client: TestClient, body: object, says: str
) -> None:
    r = client.post(D, json=body)
    assert r.status_code == 400, r.text
    problem = r.json()
    assert problem["title"] == "BadRequestData" and says in problem["detail"]
    assert client.get(D).json() == []  # nothing of a bad request is stored


def test_limits_and_media_type(client: TestClient) -> None:
    r = client.post(D, json=[profile(f"d-{n}") for n in range(1001)])
    assert r.status_code == 413
    r = client.post(D, content=b"{}", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415


def test_unloadable_context_is_refused(client: TestClient) -> None:
    r = client.post(D, json=profile(context="http://127.0.0.1:9/ctx.jsonld"))
    assert r.status_code == 503 and r.json()["title"] == "LdContextNotAvailable"
    assert client.get(f"{D}/pv-1").status_code == 404


def test_known_context_is_used(client: TestClient) -> None:
    ctx = "https://smart-data-models.github.io/dataModel.GreenEnergy/context.jsonld"
    assert client.post(D, json=profile(context=ctx)).status_code == 201
    cache: DeviceProfiles = client.app.state.device_profiles  # type: ignore[attr-defined]
    resolved = cache.cached("", "pv-1")
    assert resolved is not None
    assert resolved.context.expand("activePower") != "activePower"
