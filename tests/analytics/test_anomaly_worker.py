"""The anomaly worker through the running app: scores, Alert and Anomaly, recovery, restart."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityfabric.app import create_app
from cityfabric.config import Settings
from tests.api.test_entities import B
from tests.conftest import SDM_CONTEXTS, link

DEVICE_CTX = "https://smart-data-models.github.io/dataModel.Device/context.jsonld"
ALERT_CTX = "https://smart-data-models.github.io/dataModel.Alert/context.jsonld"
METER = "urn:ngsi-ld:DeviceMeasurement:meter-1"
NUM_VALUE = "https://smartdatamodels.org/dataModel.Device/numValue"
START = datetime(2026, 11, 1, tzinfo=UTC)
STEP = timedelta(minutes=10)


def settings_for(data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        context_cache=SDM_CONTEXTS,
        anomaly_interval=0,  # cycles run by the tests, one at a time
        anomaly_settle=0,
        anomaly_watch="DeviceMeasurement.numValue:default",
        anomaly_warmup=200,  # past the first days, when every value is a new extreme
        anomaly_clear_after=3,
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def client(data_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(data_dir)), base_url="http://testserver") as c:
        yield c


def reading(n: int, spike_at: int | None = None) -> dict[str, Any]:
    """A meter with a daily cycle, a little deterministic wobble and maybe one spike."""
    t = START + n * STEP
    hours = n * STEP.total_seconds() / 3600
    value = 20 + 8 * math.sin(2 * math.pi * hours / 24) + 0.7 * math.sin(n * 1.7)
    if n == spike_at:
        value *= 6
    return {"type": "Property", "value": round(value, 2), "observedAt": t.isoformat()}


def send(client: TestClient, first: int, last: int, spike_at: int | None = None) -> None:
    body = {
        "id": METER,
        "type": "DeviceMeasurement",
        "numValue": [reading(n, spike_at) for n in range(first, last)],
    }
    r = client.post(f"{B}/temporal/entities", json=body, headers=link(DEVICE_CTX))
    assert r.status_code in (201, 204), r.text


def cycle(client: TestClient) -> int:
    worker = client.app.state.anomaly  # type: ignore[attr-defined]
    done: int = client.portal.call(worker.async_cycle)  # type: ignore[union-attr]
    return done


def alerts(client: TestClient, kind: str = "Alert") -> list[dict[str, Any]]:
    r = client.get(f"{B}/entities", params={"type": kind}, headers=link(ALERT_CTX))
    assert r.status_code == 200, r.text
    return list(r.json())


def scores(client: TestClient) -> list[Any]:
    r = client.get(
        f"{B}/temporal/entities/{METER}",
        params={"attrs": "anomalyScore", "options": "temporalValues", "datasetId": NUM_VALUE},
    )
    assert r.status_code == 200, r.text
    body = r.json()["anomalyScore"]
    return (
        list(body["values"]) if isinstance(body, dict) else [v for b in body for v in b["values"]]
    )


@pytest.fixture
def meter(client: TestClient) -> TestClient:
    entity = {"id": METER, "type": "DeviceMeasurement", "numValue": reading(0)}
    r = client.post(f"{B}/entities", json=entity, headers=link(DEVICE_CTX))
    assert r.status_code == 201, r.text
    return client


def test_a_spike_gives_scores_an_anomaly_and_an_alert(meter: TestClient) -> None:
    client = meter
    send(client, 1, 600, spike_at=590)
    assert cycle(client) == 600  # the entity's own instance and the 599 sent
    values = scores(client)
    assert len(values) == 600
    by_time = {t: s for s, t in values}
    spike_time = (START + 590 * STEP).strftime("%Y-%m-%dT%H:%M:%S")
    spike = next(s for t, s in by_time.items() if t.startswith(spike_time))
    assert spike >= 0.9
    assert max(s for t, s in by_time.items() if not t.startswith(spike_time)) < 0.9
    [alert] = alerts(client)
    assert alert["alertSource"]["value"] == METER
    assert alert["dateIssued"]["value"]["@value"].startswith(spike_time)
    recovered = (START + 593 * STEP).strftime("%Y-%m-%dT%H:%M:%S")  # 3 calm readings later
    assert alert["validTo"]["value"]["@value"].startswith(recovered)
    assert "numValue" in alert["description"]["value"]
    [anomaly] = alerts(client, "Anomaly")
    assert anomaly["detectedBy"]["object"] == METER
    assert anomaly["anomalousProperty"]["value"] == "numValue"
    entity = client.get(f"{B}/entities/{METER}").json()
    assert entity["anomalyScore"]["datasetId"] == NUM_VALUE
    assert cycle(client) == 0  # nothing new: nothing re-read


def test_the_alert_clears_when_the_series_recovers(meter: TestClient) -> None:
    client = meter
    send(client, 1, 600, spike_at=599)
    cycle(client)
    [alert] = alerts(client)
    assert "validTo" not in alert
    send(client, 600, 610)
    assert cycle(client) == 10
    [alert] = alerts(client)
    cleared_at = (START + 602 * STEP).strftime("%Y-%m-%dT%H:%M:%S")
    assert alert["validTo"]["value"]["@value"].startswith(cleared_at)


def test_a_restart_continues_from_the_saved_state(meter: TestClient, data_dir: Path) -> None:
    client = meter
    send(client, 1, 600, spike_at=599)
    cycle(client)
    [before] = alerts(client)
    client.__exit__(None, None, None)
    with TestClient(create_app(settings_for(data_dir)), base_url="http://testserver") as again:
        assert cycle(again) == 0  # the watermark was saved: nothing is scored twice
        send(again, 600, 601)
        assert cycle(again) == 1
        [after] = alerts(again)
        assert after["dateIssued"] == before["dateIssued"]  # the same episode, not a new one
        assert len(scores(again)) == 601
        assert len(alerts(again, "Anomaly")) == 1
