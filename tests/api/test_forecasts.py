"""/cityfabric/v1/forecasts: forecasts of history, stored as Forecast entities."""

from __future__ import annotations

import math
import random
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityfabric.analytics.forecast_sun import Sky
from cityfabric.app import create_app
from cityfabric.config import Settings
from tests.api.test_entities import problem

F = "/cityfabric/v1/forecasts"
T = "/ngsi-ld/v1/temporal/entities"
M1, M2, M3 = (f"urn:ngsi-ld:Meter:{i}" for i in (1, 2, 3))
T0 = datetime(2026, 1, 5, tzinfo=UTC)


def readings(hours: int, seed: int = 1, start: datetime = T0) -> list[dict[str, Any]]:
    """Hourly values with a daily cycle and noise, as temporal Property instances."""
    rng = random.Random(seed)
    out = []
    for k in range(hours):
        value = 50 + 20 * math.sin(2 * math.pi * k / 24) + rng.gauss(0, 2)
        at = (start + timedelta(hours=k)).strftime("%Y-%m-%dT%H:%M:%SZ")
        out.append({"type": "Property", "value": round(value, 2), "observedAt": at})
    return out


def seed(client: TestClient, entity_id: str, hours: int, **headers: str) -> None:
    body = {"id": entity_id, "type": "Meter", "power": readings(hours)}
    r = client.post(T, json=body, headers=headers)
    assert r.status_code in (201, 204), r.text


def post(client: TestClient, body: dict[str, Any], **headers: str) -> Any:
    r = client.post(F, json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def check_forecast(f: dict[str, Any], horizon: int) -> None:
    assert len(f["times"]) == len(f["mean"]) == horizon
    for k in range(horizon):
        lo95, lo80, mean, hi80, hi95 = (f[c][k] for c in ("lo95", "lo80", "mean", "hi80", "hi95"))
        assert lo95 <= lo80 <= mean <= hi80 <= hi95


def test_forecast_of_an_entity_is_stored_as_an_entity(client: TestClient) -> None:
    seed(client, M1, 8 * 24)
    got = post(client, {"entity": M1, "attribute": "power", "horizon": "PT24H"})
    assert got["skipped"] == []
    (f,) = got["forecasts"]
    assert (f["entity"], f["attribute"], f["frequency"], f["horizon"]) == (
        M1,
        "power",
        "PT1H",
        "P1D",
    )
    assert f["model"] == "ets" and f["levels"] == [80, 95]
    check_forecast(f, 24)
    assert f["times"][0] == "2026-01-13T00:00:00.000Z"  # the hour after the last reading
    assert f["id"] == "urn:ngsi-ld:Forecast:Meter:1:power"
    entity = client.get(f"/ngsi-ld/v1/entities/{f['id']}").json()
    assert entity["type"] == "Forecast"
    assert entity["refEntity"] == {"type": "Relationship", "object": M1}
    assert entity["forecast"]["json"]["mean"] == f["mean"]
    listed = client.get("/ngsi-ld/v1/entities", params={"type": "Forecast"}).json()
    assert [e["id"] for e in listed] == [f["id"]]
    assert client.get(F).json() == [f]
    assert client.get(F, params={"entity": M2}).json() == []
    assert client.get(F, params={"entity": M1, "attribute": "power"}).json() == [f]


def test_forecast_follows_the_daily_cycle(client: TestClient) -> None:
    seed(client, M1, 10 * 24)
    (f,) = post(client, {"entity": M1, "attribute": "power", "horizon": 24, "levels": [80]})[
        "forecasts"
    ]
    expected = [50 + 20 * math.sin(2 * math.pi * (240 + k) / 24) for k in range(24)]
    errors = [abs(a - b) for a, b in zip(f["mean"], expected, strict=True)]
    assert sum(errors) / 24 < 3  # the noise is 2
    assert "lo95" not in f and all(lo <= hi for lo, hi in zip(f["lo80"], f["hi80"], strict=True))


def test_solar_output_at_a_located_entity_is_forecast_with_the_sun(client: TestClient) -> None:
    start = datetime(2026, 3, 2, tzinfo=UTC)
    sky = Sky(39.12, 117.71, int(start.timestamp() * 1000), 3_600_000)
    clear = sky.clear(10 * 24)
    rng = random.Random(4)
    power = []
    for k, c in enumerate(clear.tolist()):
        at = (start + timedelta(hours=k)).strftime("%Y-%m-%dT%H:%M:%SZ")
        value = round(c * 0.1 * rng.uniform(0.3, 1.0), 2) if c > 0 else 0.0
        power.append({"type": "Property", "value": value, "observedAt": at})
    for panel, where in (("urn:ngsi-ld:Panel:1", [117.71, 39.12]), ("urn:ngsi-ld:Panel:2", None)):
        now: dict[str, Any] = {"id": panel, "type": "Panel", "power": power[-1]}
        if where is not None:  # the entity's state, where the forecast looks for a site
            point = {"type": "Point", "coordinates": where}
            now["location"] = {"type": "GeoProperty", "value": point}
        assert client.post("/ngsi-ld/v1/entities", json=now).status_code == 201
        r = client.post(T, json={"id": panel, "type": "Panel", "power": power})
        assert r.status_code in (201, 204), r.text
    got = post(client, {"type": "Panel", "attribute": "power", "horizon": 24, "levels": [80]})
    models = {f["entity"]: f["model"] for f in got["forecasts"]}
    assert models["urn:ngsi-ld:Panel:1"] == "sun"  # the entity's location gives the clear sky
    assert models["urn:ngsi-ld:Panel:2"] != "sun"


def test_type_wide_forecast_makes_one_per_entity(client: TestClient) -> None:
    seed(client, M1, 8 * 24)
    seed(client, M2, 9 * 24)
    seed(client, M3, 30)  # too short
    got = post(client, {"type": "Meter", "attribute": "power", "horizon": "PT12H"})
    assert sorted(f["entity"] for f in got["forecasts"]) == [M1, M2]
    for f in got["forecasts"]:
        check_forecast(f, 12)
    ((skipped),) = got["skipped"]
    assert skipped["entity"] == M3 and "at least 48" in skipped["reason"]
    forecasts = client.get("/ngsi-ld/v1/entities", params={"type": "Forecast"}).json()
    assert len(forecasts) == 2


def test_forecasts_stay_in_their_tenant(client: TestClient) -> None:
    seed(client, M1, 8 * 24, **{"NGSILD-Tenant": "city2"})
    post(client, {"entity": M1, "attribute": "power", "horizon": 6}, **{"NGSILD-Tenant": "city2"})
    assert client.get(F).json() == []
    assert len(client.get(F, headers={"NGSILD-Tenant": "city2"}).json()) == 1


@pytest.mark.parametrize(
    ("body", "status", "kind", "words"),
    [
        ({"entity": "urn:ngsi-ld:Meter:9"}, 404, "ResourceNotFound", "not found"),
        ({"attribute": "voltage"}, 404, "ResourceNotFound", "no history of attribute 'voltage'"),
        ({"entity": M2}, 400, "BadRequestData", "at least 48 periods"),
        ({"attribute": "status"}, 400, "BadRequestData", "not numeric"),
        ({"type": "Pump", "entity": None}, 404, "ResourceNotFound", "no entity of type 'Pump'"),
        ({"horizon": "P1M"}, 400, "BadRequestData", "days or less"),
        ({"horizon": "PT90M"}, 400, "BadRequestData", "whole number of periods"),
        ({"horizon": 0}, 400, "BadRequestData", "1 to 2000 periods"),
        ({"horizon": "tomorrow"}, 400, "BadRequestData", "ISO 8601 duration"),
        ({"horizon": None}, 400, "BadRequestData", "horizon is required"),
        ({"frequency": "PT30S"}, 400, "BadRequestData", "between PT1M and P7D"),
        ({"frequency": 3600}, 400, "BadRequestData", "frequency must be"),
        ({"levels": [80, 100]}, 400, "BadRequestData", "levels must be"),
        ({"model": "prophet"}, 400, "BadRequestData", "model must be one of"),
        ({"type": "Meter"}, 400, "BadRequestData", "either entity"),
        ({"attribute": None}, 400, "BadRequestData", "attribute is required"),
        ({"colour": "red"}, 400, "BadRequestData", "unknown member"),
    ],
)
def test_errors_are_clear_problems(
    client: TestClient, body: dict[str, Any], status: int, kind: str, words: str
) -> None:
    seed(client, M1, 8 * 24)
    seed(client, M2, 30)
    words_on = [
        {"type": "Property", "value": "on", "observedAt": f"2026-01-05T{h:02d}:00:00Z"}
        for h in range(3)
    ]
    assert client.post(f"{T}/{M1}/attrs", json={"status": words_on}).status_code == 204
    full = {"entity": M1, "attribute": "power", "horizon": "PT24H", **body}
    r = client.post(F, json={k: v for k, v in full.items() if v is not None})
    detail = problem(r, status, kind)["detail"]
    assert words in detail, detail


def test_bad_payloads(client: TestClient) -> None:
    problem(
        client.post(F, content=b"[1]", headers={"Content-Type": "application/json"}),
        400,
        "BadRequestData",
    )
    problem(client.get(F, params={"entity": "not an id"}), 400, "BadRequestData")


def test_scheduled_reforecast(settings: Settings) -> None:
    with TestClient(create_app(replace(settings, forecast_interval=0.3))) as client:
        seed(client, M1, 8 * 24)
        (first,) = post(client, {"entity": M1, "attribute": "power", "horizon": 6})["forecasts"]
        more = {"power": readings(24, seed=2, start=T0 + timedelta(days=8))}
        assert client.post(f"{T}/{M1}/attrs", json=more).status_code == 204
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            (now,) = client.get(F).json()
            if now["times"] != first["times"]:
                break
            time.sleep(0.1)
        assert now["times"][0] == "2026-01-14T00:00:00.000Z"  # a day later
        assert now["generatedAt"] > first["generatedAt"]
