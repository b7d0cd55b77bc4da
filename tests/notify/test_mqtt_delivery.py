"""MQTT notifications through a real Mosquitto on a free loopback port."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from cityfabric.app import create_app
from cityfabric.config import Settings
from tests.api.test_entities import B
from tests.api.test_notifications import LAMP, lamp, set_state, subscribe, write
from tests.conftest import SDM_CONTEXTS, STREETLIGHT_CTX
from tests.mosquitto import Broker, running_mosquitto
from tests.notify.conftest import Message


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with running_mosquitto(tmp_path) as b:
        yield b


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path / "data",
        context_cache=SDM_CONTEXTS,
        notification_max_attempts=3,
        notification_retry_base=0.05,
        notification_retry_max=0.1,
        notification_timeout=2.0,
    )
    with TestClient(create_app(settings), base_url="http://testserver") as c:
        yield c


def test_update_is_published_with_qos_1(
    client: TestClient, broker: Broker, inbox: queue.Queue[Message]
) -> None:
    sub = subscribe(
        client,
        f"{broker.url}/city/alerts",
        notification={
            "endpoint": {
                "uri": f"{broker.url}/city/alerts",
                "notifierInfo": [{"key": "MQTT-QoS", "value": "1"}],
                "receiverInfo": [{"key": "X-Origin", "value": "cityfabric"}],
            }
        },
        notificationTrigger=["entityUpdated"],
    )
    write(client, lamp())
    set_state(client, "off")
    topic, payload, meta = inbox.get(timeout=10)
    body = orjson.loads(payload)
    assert topic == "city/alerts"
    assert meta["qos"] == 1
    assert meta["content_type"] == "application/json"
    assert meta["user"]["X-Origin"] == "cityfabric"
    assert STREETLIGHT_CTX in meta["user"]["Link"]
    assert body["type"] == "Notification"
    assert body["subscriptionId"] == sub
    assert body["data"][0]["id"] == LAMP
    assert body["data"][0]["powerState"]["value"] == "off"
    wait_status(client, sub, lambda n: n.get("timesSent") == 1)
    store = client.app.state.store  # type: ignore[attr-defined]
    assert client.portal.call(store.pending_notifications) == 0  # type: ignore[union-attr]
    # the connection is reused for the next one
    set_state(client, "on")
    assert orjson.loads(inbox.get(timeout=10)[1])["data"][0]["powerState"]["value"] == "on"


def test_qos_0_and_tenant(client: TestClient, broker: Broker, inbox: queue.Queue[Message]) -> None:
    headers = {"NGSILD-Tenant": "port"}
    subscribe(client, f"{broker.url}/city/lamps", headers=headers)
    write(client, lamp(), **headers)
    topic, payload, meta = inbox.get(timeout=10)
    assert (topic, meta["qos"]) == ("city/lamps", 0)
    assert meta["user"]["NGSILD-Tenant"] == "port"
    assert orjson.loads(payload)["data"][0]["id"] == LAMP


def test_qos_2_is_published_exactly_once(
    client: TestClient, broker: Broker, inbox: queue.Queue[Message]
) -> None:
    target = f"{broker.url}/city/exact"
    sub = subscribe(
        client,
        target,
        notification={
            "endpoint": {"uri": target, "notifierInfo": [{"key": "MQTT-QoS", "value": "2"}]}
        },
    )
    write(client, lamp())
    set_state(client, "off")
    got = [inbox.get(timeout=10), inbox.get(timeout=10)]
    assert [(topic, meta["qos"]) for topic, _, meta in got] == [("city/exact", 2)] * 2
    assert orjson.loads(got[1][1])["data"][0]["powerState"]["value"] == "off"
    found = wait_status(client, sub, lambda n: n.get("timesSent") == 2)
    assert found["timesFailed"] == 0
    with pytest.raises(queue.Empty):
        inbox.get(timeout=0.3)


def test_mqtt_3_1_1_fails_with_a_reason(client: TestClient, broker: Broker) -> None:
    target = f"{broker.url}/city/x"
    info = [{"key": "MQTT-Version", "value": "mqtt3.1.1"}]
    sub = subscribe(
        client, target, notification={"endpoint": {"uri": target, "notifierInfo": info}}
    )
    write(client, lamp())
    found = wait_status(client, sub, lambda n: "gave up" in n.get("lastFailureReason", ""))
    assert "mqtt3.1.1 is not" in found["lastFailureReason"]


def wait_status(client: TestClient, sub: str, done: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        notification: dict[str, Any] = client.get(f"{B}/subscriptions/{sub}").json()["notification"]
        if done(notification):
            return notification
        assert time.monotonic() < deadline, notification
        time.sleep(0.05)
