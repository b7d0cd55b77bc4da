"""The worker's state per series in the store: only what changed is read and written."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityfabric.app import create_app
from cityfabric.config import Settings
from tests.analytics.test_anomaly_worker import DEVICE_CTX, START, STEP, alerts, cycle, reading
from tests.api.test_entities import B
from tests.conftest import link

METERS = [f"urn:ngsi-ld:DeviceMeasurement:m{n}" for n in range(3)]


def settings_for(data_dir: Path, **more: Any) -> Settings:
    from tests.analytics.test_anomaly_worker import settings_for as base

    return replace(base(data_dir), **more)


def app(data_dir: Path, **more: Any) -> TestClient:
    return TestClient(create_app(settings_for(data_dir, **more)), base_url="http://testserver")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def client(data_dir: Path) -> Iterator[TestClient]:
    with app(data_dir) as c:
        yield c


def send(client: TestClient, meter: str, first: int, last: int) -> None:
    body = {
        "id": meter,
        "type": "DeviceMeasurement",
        "numValue": [reading(n) for n in range(first, last)],
    }
    r = client.post(f"{B}/temporal/entities", json=body, headers=link(DEVICE_CTX))
    assert r.status_code in (201, 204), r.text


def stored(client: TestClient) -> dict[str, bytes]:
    """Every key/value the worker keeps for DeviceMeasurement.numValue."""
    worker = client.app.state.anomaly  # type: ignore[attr-defined]
    store = worker.entities.store
    [namespace] = {p.namespace for p in worker._pairs.values()}
    rows = client.portal.call(store.kv_scan, "", namespace, "", "", 1000)  # type: ignore[union-attr]
    return dict(rows)


def score_count(client: TestClient, meter: str) -> int:
    r = client.get(
        f"{B}/temporal/entities/{meter}",
        params={"attrs": "anomalyScore", "options": "temporalValues"},
    )
    assert r.status_code == 200, r.text
    body = r.json()["anomalyScore"]
    return len(body["values"])


def test_each_series_has_its_own_state_and_only_changed_ones_are_written(
    client: TestClient,
) -> None:
    for meter in METERS:
        send(client, meter, 0, 50)
    assert cycle(client) == 150
    before = stored(client)
    assert sorted(before) == ["@pair", *(f"s {m}|" for m in METERS)]
    send(client, METERS[1], 50, 55)
    assert cycle(client) == 5
    after = stored(client)
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed == {"@pair", f"s {METERS[1]}|"}
    r = client.get(f"{B}/entities", params={"type": "AnomalyDetectorState"})
    assert r.json() == []  # no bookkeeping entity any more


def test_a_crash_before_the_state_is_saved_rescores_one_cycle(data_dir: Path) -> None:
    with app(data_dir) as first:
        send(first, METERS[0], 0, 40)
        assert cycle(first) == 40
        send(first, METERS[0], 40, 60)
        worker = first.app.state.anomaly  # type: ignore[attr-defined]

        async def crash(*_: Any) -> None:
            raise RuntimeError("killed between the results and the state")

        worker.states.save = crash
        with pytest.raises(RuntimeError):
            cycle(first)
        assert score_count(first, METERS[0]) == 60  # the results were written
    with app(data_dir) as again:
        assert cycle(again) == 20  # that cycle again, nothing before it
        assert score_count(again, METERS[0]) == 80  # 20 duplicates, none missing
        assert cycle(again) == 0


def test_a_failed_save_is_retried_by_the_same_worker(client: TestClient) -> None:
    send(client, METERS[0], 0, 40)
    worker = client.app.state.anomaly  # type: ignore[attr-defined]
    put = worker.entities.store.kv_put_many

    async def fail(*_: Any) -> None:
        raise RuntimeError("disk full")

    worker.entities.store.kv_put_many = fail
    with pytest.raises(RuntimeError):
        cycle(client)
    worker.entities.store.kv_put_many = put
    assert cycle(client) == 40  # the cursor did not move in memory either
    assert cycle(client) == 0


def test_a_silent_series_is_found_after_a_restart(data_dir: Path) -> None:
    watch = "DeviceMeasurement.numValue:silence"
    with app(data_dir, anomaly_watch=watch) as first:
        for meter in METERS[:2]:
            send(first, meter, 0, 20)
        assert cycle(first) == 40
        assert alerts(first) == []
    with app(data_dir, anomaly_watch=watch) as again:  # the silence index comes from the store
        send(again, METERS[1], 20, 30)  # the first meter says nothing for 100 minutes
        assert cycle(again) == 10
        [alert] = alerts(again)
        assert alert["alertSource"]["value"] == METERS[0]
        assert "[comm_loss]" in alert["description"]["value"]
        silent_since = (START + 29 * STEP).strftime("%Y-%m-%dT%H:%M:%S")
        assert alert["dateIssued"]["value"]["@value"].startswith(silent_since)
        send(again, METERS[1], 30, 35)
        assert cycle(again) == 5
        assert len(alerts(again)) == 1  # raised once, not at every cycle


def test_a_backlog_is_read_in_bounded_pages_within_one_cycle(data_dir: Path) -> None:
    with app(data_dir, anomaly_max_instances=25) as client:
        for meter in METERS:
            for start in range(0, 100, 20):  # 5 writes of 20 readings per meter
                send(client, meter, start, start + 20)
        assert cycle(client) == 300
        assert [score_count(client, m) for m in METERS] == [100, 100, 100]
        assert cycle(client) == 0


def test_the_background_worker_scores_on_its_own_when_turned_on(data_dir: Path) -> None:
    with app(data_dir, anomaly_interval=0.05) as client:
        send(client, METERS[0], 0, 30)
        deadline = time.monotonic() + 10
        while score_count_or_zero(client, METERS[0]) < 30:
            assert time.monotonic() < deadline, "the worker did not score within 10 s"
            time.sleep(0.05)


def score_count_or_zero(client: TestClient, meter: str) -> int:
    r = client.get(f"{B}/temporal/entities/{meter}", params={"attrs": "anomalyScore"})
    return score_count(client, meter) if "anomalyScore" in r.json() else 0
