"""An injected lamp failure in a small simulated city gives an Alert a subscription delivers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityfabric.app import create_app
from cityfabric.config import Settings
from tests.api.test_entities import B
from tests.conftest import SDM_CONTEXTS, STREETLIGHT_CTX, link
from tests.notify.receiver import Receiver, receiver

ALERT_CTX = "https://smart-data-models.github.io/dataModel.Alert/context.jsonld"
LAMPS = [f"urn:ngsi-ld:Streetlight:tianjin-{n}" for n in range(4)]
BROKEN = LAMPS[2]
# 22:00 to 03:45 local time in Tianjin (UTC+8) in June: dark all along
NIGHT = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)
STEP = timedelta(minutes=15)
FAILS_AT = 12  # the broken lamp draws nothing from its 12th reading on (01:00 local)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path / "data",
        context_cache=SDM_CONTEXTS,
        anomaly_interval=0,  # the cycle is driven by the test
        anomaly_settle=0,
        anomaly_watch="Streetlight.powerConsumption:lamp+silence",
        notification_timeout=2.0,
    )
    with TestClient(create_app(settings), base_url="http://testserver") as c:
        yield c


@pytest.fixture
def rec() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


def city(client: TestClient) -> None:
    """Four street lights along a road in Tianjin, each with its location."""
    for n, lamp in enumerate(LAMPS):
        body = {
            "id": lamp,
            "type": "Streetlight",
            "location": {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [117.70 + n * 0.001, 39.10]},
            },
        }
        r = client.post(f"{B}/entities", json=body, headers=link(STREETLIGHT_CTX))
        assert r.status_code == 201, r.text


def telemetry(client: TestClient, lamp: str, span: range, fails_at: int | None) -> None:
    def watts(n: int) -> float:
        return 0.0 if fails_at is not None and n >= fails_at else 58.0 + n % 3

    body: dict[str, Any] = {
        "id": lamp,
        "type": "Streetlight",
        "powerConsumption": [
            {
                "type": "Property",
                "value": watts(n),
                "observedAt": (NIGHT + n * STEP).isoformat(),
            }
            for n in span
        ],
    }
    r = client.post(f"{B}/temporal/entities", json=body, headers=link(STREETLIGHT_CTX))
    assert r.status_code in (201, 204), r.text


def subscribe_to_alerts(client: TestClient, uri: str) -> None:
    body = {
        "type": "Subscription",
        "entities": [{"type": "Alert"}],
        "notification": {"endpoint": {"uri": uri}},
    }
    r = client.post(f"{B}/subscriptions", json=body, headers=link(ALERT_CTX))
    assert r.status_code == 201, r.text


def cycle(client: TestClient) -> int:
    worker = client.app.state.anomaly  # type: ignore[attr-defined]
    done: int = client.portal.call(worker.async_cycle)  # type: ignore[union-attr]
    return done


def test_a_lamp_failure_is_delivered_as_an_alert(client: TestClient, rec: Receiver) -> None:
    city(client)
    subscribe_to_alerts(client, rec.url)
    for lamp in LAMPS:
        telemetry(client, lamp, range(FAILS_AT), None)
    assert cycle(client) == 4 * FAILS_AT
    r = client.get(f"{B}/entities", params={"type": "Alert"}, headers=link(ALERT_CTX))
    assert r.json() == []  # healthy lamps at night: no alert
    for lamp in LAMPS:  # the night goes on; one lamp fails
        telemetry(client, lamp, range(FAILS_AT, FAILS_AT + 8), FAILS_AT if lamp == BROKEN else None)
    assert cycle(client) == 4 * 8  # only the new readings are scored
    got = rec.wait(lambda got: bool(got))
    [alert] = [e for n in got for e in n.body["data"]]
    assert alert["type"] == "Alert"
    assert alert["alertSource"]["value"] == BROKEN
    assert "[lamp_failure]" in alert["description"]["value"]
    issued = (NIGHT + FAILS_AT * STEP).strftime("%Y-%m-%dT%H:%M:%S")
    assert alert["dateIssued"]["value"]["@value"].startswith(issued)
    assert alert["location"]["value"]["coordinates"] == [117.702, 39.1]
