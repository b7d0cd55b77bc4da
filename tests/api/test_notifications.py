"""HTTP notifications from the app to a real receiver on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityfabric.app import create_app
from cityfabric.config import Settings
from tests.api.test_entities import B
from tests.conftest import SDM_CONTEXTS, STREETLIGHT_CTX, link
from tests.notify.fakeclock import FakeClock, clocked_app
from tests.notify.receiver import Receiver, receiver

SL = link(STREETLIGHT_CTX)
SDM = "https://smartdatamodels.org/dataModel.Streetlighting/"
LAMP = "urn:ngsi-ld:Streetlight:1"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path / "data",
        context_cache=SDM_CONTEXTS,
        notification_max_attempts=3,
        notification_retry_base=0.05,
        notification_retry_max=0.1,
        notification_timeout=2.0,
        notification_process=False,
    )
    with TestClient(create_app(settings), base_url="http://testserver") as c:
        yield c


@pytest.fixture
def rec() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


def subscribe(
    client: TestClient, uri: str, headers: dict[str, str] | None = None, **more: Any
) -> str:
    body: dict[str, Any] = {
        "type": "Subscription",
        "entities": [{"type": "Streetlight"}],
        "notification": {"endpoint": {"uri": uri}},
    }
    notification = more.pop("notification", {})
    body["notification"].update(notification)
    body.update(more)
    r = client.post(f"{B}/subscriptions", json=body, headers={**SL, **(headers or {})})
    assert r.status_code == 201, r.text
    return str(r.headers["location"]).rsplit("/", 1)[1]


def lamp(state: str = "on", entity_id: str = LAMP) -> dict[str, Any]:
    return {
        "id": entity_id,
        "type": "Streetlight",
        "powerState": {"type": "Property", "value": state},
        "location": {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [117.7, 39.1]},
        },
    }


def write(client: TestClient, body: dict[str, Any], **headers: str) -> None:
    r = client.post(f"{B}/entities", json=body, headers={**SL, **headers})
    assert r.status_code == 201, r.text


def set_state(client: TestClient, state: str, entity_id: str = LAMP, **headers: str) -> None:
    r = client.patch(
        f"{B}/entities/{entity_id}/attrs",
        json={"powerState": {"type": "Property", "value": state}},
        headers={**SL, **headers},
    )
    assert r.status_code == 204, r.text


def test_create_update_delete_are_notified(client: TestClient, rec: Receiver) -> None:
    sub = subscribe(
        client, rec.url, notificationTrigger=["entityCreated", "entityUpdated", "entityDeleted"]
    )
    write(client, lamp())
    first = rec.wait(lambda got: len(got) == 1)[0]
    assert first.body["type"] == "Notification"
    assert first.body["subscriptionId"] == sub
    assert first.body["id"].startswith("urn:ngsi-ld:Notification:")
    assert "notifiedAt" in first.body
    assert first.body["data"] == [
        {
            "id": LAMP,
            "type": "Streetlight",
            "powerState": {"type": "Property", "value": "on"},
            "location": lamp()["location"],
        }
    ]
    assert first.headers["Content-Type"] == "application/json"
    assert STREETLIGHT_CTX in first.headers["Link"]
    assert "NGSILD-Tenant" not in first.headers
    set_state(client, "off")
    second = rec.wait(lambda got: len(got) == 2)[1]
    assert second.body["data"][0]["powerState"]["value"] == "off"
    assert client.delete(f"{B}/entities/{LAMP}").status_code == 204
    third = rec.wait(lambda got: len(got) == 3)[2]
    assert third.body["data"] == [{"id": LAMP, "type": "Streetlight"}]
    status = client.get(f"{B}/subscriptions/{sub}").json()
    assert status["notification"]["timesSent"] == 3
    assert status["notification"]["lastSuccess"]
    assert status["status"] == "active"


def test_watched_attributes_and_q(client: TestClient, rec: Receiver) -> None:
    subscribe(client, rec.url, watchedAttributes=["powerState"], q='powerState=="off"')
    write(client, lamp("on"))
    set_state(client, "off")
    got = rec.wait(lambda got: len(got) >= 1)
    time.sleep(0.3)
    assert len(rec.got) == 1
    assert got[0].body["data"][0]["powerState"]["value"] == "off"


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("keyValues", {"id": LAMP, "type": "Streetlight", "powerState": "on"}),
        ("concise", {"id": LAMP, "type": "Streetlight", "powerState": "on"}),
        (
            "normalized",
            {"id": LAMP, "type": "Streetlight", "powerState": {"type": "Property", "value": "on"}},
        ),
    ],
)
def test_formats(client: TestClient, rec: Receiver, fmt: str, expected: dict[str, Any]) -> None:
    subscribe(client, rec.url, notification={"format": fmt, "attributes": ["powerState"]})
    write(client, lamp())
    assert rec.wait(lambda got: len(got) == 1)[0].body["data"] == [expected]


def test_sys_attrs_and_ld_json(client: TestClient, rec: Receiver) -> None:
    subscribe(
        client,
        rec.url,
        notification={
            "sysAttrs": True,
            "attributes": ["powerState"],
            "endpoint": {"uri": rec.url, "accept": "application/ld+json"},
        },
    )
    write(client, lamp())
    got = rec.wait(lambda got: len(got) == 1)[0]
    assert got.headers["Content-Type"] == "application/ld+json"
    assert "Link" not in got.headers
    entity = got.body["data"][0]
    assert entity["@context"] == STREETLIGHT_CTX
    assert "createdAt" in entity and "modifiedAt" in entity


def test_receiver_info_and_tenant(client: TestClient, rec: Receiver) -> None:
    tenant = {"NGSILD-Tenant": "tianjin"}
    subscribe(
        client,
        rec.url,
        headers=tenant,
        notification={
            "endpoint": {"uri": rec.url, "receiverInfo": [{"key": "X-Auth", "value": "s3cret"}]}
        },
    )
    write(client, lamp(), **tenant)
    write(client, lamp(entity_id="urn:ngsi-ld:Streetlight:other-tenant"))  # default tenant
    got = rec.wait(lambda got: len(got) == 1)[0]
    assert got.headers["X-Auth"] == "s3cret"
    assert got.headers["NGSILD-Tenant"] == "tianjin"
    time.sleep(0.3)
    assert len(rec.got) == 1


def test_batched_entities_in_one_notification(client: TestClient, rec: Receiver) -> None:
    rec.status = 503  # hold them until all are queued
    subscribe(client, rec.url)
    for i in range(5):
        write(client, lamp(entity_id=f"urn:ngsi-ld:Streetlight:{i}"))
    rec.wait(lambda _: rec.calls >= 1)
    rec.status = 200
    rec.wait(lambda _: len(rec.entities()) >= 5)
    assert {e["id"] for e in rec.entities()} == {f"urn:ngsi-ld:Streetlight:{i}" for i in range(5)}


def test_failing_endpoint_retries_then_fails(client: TestClient, rec: Receiver) -> None:
    rec.status = 500
    sub = subscribe(client, rec.url)
    write(client, lamp())
    rec.wait(lambda _: rec.calls >= 3)
    deadline = time.monotonic() + 10
    while True:
        body = client.get(f"{B}/subscriptions/{sub}").json()
        if body["notification"].get("lastFailureReason", "").startswith("gave up"):
            break
        assert time.monotonic() < deadline, body
        time.sleep(0.05)
    assert body["status"] == "failed"
    assert body["notification"]["timesFailed"] == 3
    assert body["notification"]["timesSent"] == 0
    assert "HTTP 500" in body["notification"]["lastFailureReason"]
    time.sleep(0.3)
    assert rec.calls == 3  # dropped: no more attempts
    store = client.app.state.store  # type: ignore[attr-defined]
    assert client.portal.call(store.pending_notifications) == 0  # type: ignore[union-attr]


def test_dead_endpoint_does_not_block_others(client: TestClient, rec: Receiver) -> None:
    subscribe(client, "http://127.0.0.1:9/notify")  # nothing listens on the discard port
    subscribe(client, rec.url)
    write(client, lamp())
    rec.wait(lambda got: len(got) == 1)


def test_inactive_subscriptions_are_not_notified(client: TestClient, rec: Receiver) -> None:
    subscribe(client, rec.url, isActive=False)
    write(client, lamp())
    time.sleep(0.5)
    assert rec.got == []
    store = client.app.state.store  # type: ignore[attr-defined]
    assert client.portal.call(store.pending_notifications) == 0  # type: ignore[union-attr]


def test_mqtt_subscriptions_are_queued_and_retried(client: TestClient) -> None:
    # nothing listens on the discard port: the publish fails like a dead HTTP endpoint
    sub = subscribe(client, "mqtt://127.0.0.1:9/lamps")
    write(client, lamp())
    deadline = time.monotonic() + 10
    while True:
        body = client.get(f"{B}/subscriptions/{sub}").json()
        if body["notification"].get("lastFailureReason", "").startswith("gave up"):
            break
        assert time.monotonic() < deadline, body
        time.sleep(0.05)
    assert body["notification"]["timesFailed"] == 3
    assert "mqtt://127.0.0.1:9/lamps" in body["notification"]["lastFailureReason"]


@pytest.fixture
def clocked(tmp_path: Path) -> Iterator[tuple[TestClient, FakeClock]]:
    """The app with its notifier on a clock the test moves (periodic pass: by hand)."""
    with clocked_app(tmp_path, notification_periodic_poll=3600) as (client, clock):
        yield client, clock


def status(client: TestClient, sub: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"{B}/subscriptions/{sub}").json()
    return body


def tick(client: TestClient) -> int:
    periodic = client.app.state.periodic  # type: ignore[attr-defined]
    queued: int = client.portal.call(periodic.async_tick)  # type: ignore[union-attr]
    return queued


def settled(client: TestClient) -> None:
    """Wait until the outbox is empty."""
    store = client.app.state.store  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while client.portal.call(store.pending_notifications):  # type: ignore[union-attr]
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_periodic_notification_carries_what_matches(
    clocked: tuple[TestClient, FakeClock], rec: Receiver
) -> None:
    client, clock = clocked
    write(client, lamp("off"))
    write(client, lamp("on", "urn:ngsi-ld:Streetlight:2"))
    write(client, lamp("off", "urn:ngsi-ld:Streetlight:3"))
    sub = subscribe(
        client,
        rec.url,
        timeInterval=60,
        q='powerState=="off"',
        notification={"format": "keyValues", "attributes": ["powerState"]},
    )
    assert tick(client) == 1
    [first] = rec.wait(lambda got: len(got) == 1)
    assert first.body["subscriptionId"] == sub
    assert sorted(first.body["data"], key=lambda e: e["id"]) == [
        {"id": LAMP, "type": "Streetlight", "powerState": "off"},
        {"id": "urn:ngsi-ld:Streetlight:3", "type": "Streetlight", "powerState": "off"},
    ]
    settled(client)
    found = status(client, sub)["notification"]
    assert (found["timesSent"], found["lastNotification"]) == (1, clock.iso())
    set_state(client, "on")  # a change does not notify a periodic subscription
    clock.advance(59)
    assert tick(client) == 0
    clock.advance(1)
    assert tick(client) == 1
    second = rec.wait(lambda got: len(got) == 2)[1]
    assert [e["id"] for e in second.body["data"]] == ["urn:ngsi-ld:Streetlight:3"]
    settled(client)
    assert status(client, sub)["notification"]["timesSent"] == 2


def test_show_changes_over_http(client: TestClient, rec: Receiver) -> None:
    subscribe(
        client,
        rec.url,
        notificationTrigger=["entityUpdated"],
        notification={"showChanges": True},
    )
    write(client, lamp("on"))
    set_state(client, "off")
    r = client.delete(f"{B}/entities/{LAMP}/attrs/location", headers=SL)
    assert r.status_code == 204, r.text
    first, second = (g.body["data"][0] for g in rec.wait(lambda got: len(got) == 2))
    assert first["powerState"] == {"type": "Property", "value": "off", "previousValue": "on"}
    assert "previousValue" not in first["location"]
    assert second["location"] == {
        "type": "GeoProperty",
        "value": "urn:ngsi-ld:null",
        "previousValue": lamp()["location"]["value"],
    }
    assert second["powerState"] == {"type": "Property", "value": "off"}


def test_dataset_id_over_http(client: TestClient, rec: Receiver) -> None:
    ds = "urn:ngsi-ld:Dataset:meter"
    subscribe(client, rec.url, datasetId=[ds])
    write(client, lamp())
    set_state(client, "off")  # the default instance: not watched
    r = client.post(
        f"{B}/entities/{LAMP}/attrs",
        json={"powerState": {"type": "Property", "value": "dim", "datasetId": ds}},
        headers=SL,
    )
    assert r.status_code in (204, 207), r.text
    [got] = rec.wait(lambda got: len(got) == 1)
    assert got.body["data"] == [
        {
            "id": LAMP,
            "type": "Streetlight",
            "powerState": {"type": "Property", "value": "dim", "datasetId": ds},
        }
    ]
    time.sleep(0.3)
    assert len(rec.got) == 1


def test_throttling_holds_until_the_interval_passed(
    clocked: tuple[TestClient, FakeClock], rec: Receiver
) -> None:
    client, clock = clocked
    subscribe(client, rec.url, throttling=10)
    write(client, lamp("on"))
    rec.wait(lambda got: len(got) == 1)
    set_state(client, "off")
    set_state(client, "dim")
    time.sleep(0.5)  # real time passes; the notifier's clock does not
    assert len(rec.got) == 1
    clock.advance(9)
    client.app.state.delivery.wake()  # type: ignore[attr-defined]
    time.sleep(0.3)
    assert len(rec.got) == 1
    clock.advance(1.1)
    client.app.state.delivery.wake()  # type: ignore[attr-defined]
    second = rec.wait(lambda got: len(got) == 2)[1]
    # both changes held, then sent together
    assert [e["powerState"]["value"] for e in second.body["data"]] == ["off", "dim"]


def test_expires_at_stops_and_a_later_one_revives(
    clocked: tuple[TestClient, FakeClock], rec: Receiver
) -> None:
    client, clock = clocked
    sub = subscribe(client, rec.url, expiresAt=clock.iso(60))
    write(client, lamp("on"))
    rec.wait(lambda got: len(got) == 1)
    clock.advance(61)
    assert status(client, sub)["status"] == "expired"
    set_state(client, "off")
    time.sleep(0.3)
    settled(client)  # nothing was queued
    assert len(rec.got) == 1
    r = client.patch(f"{B}/subscriptions/{sub}", json={"expiresAt": clock.iso(600)})
    assert r.status_code == 204, r.text
    assert status(client, sub)["status"] == "active"
    set_state(client, "dim")
    got = rec.wait(lambda got: len(got) == 2)
    assert got[1].body["data"][0]["powerState"]["value"] == "dim"
