"""MQTT ingestion end to end: a real Mosquitto and a real `cityfabric run --mqtt` process.

The publisher is paho with QoS 1; a message counts as accepted once Mosquitto
acknowledged it (PUBACK). Every accepted message must reach the store: the
last value of each device, and (when the temporal API is there) its history
count, which may exceed what was published (redelivery after a crash is
allowed, loss is not).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.e2e.server import Server, running_server
from tests.mosquitto import Broker, running_mosquitto

pytestmark = pytest.mark.e2e
NGSI = "/ngsi-ld/v1"
DEVICES = "/cityfabric/v1/devices"


class Publisher:
    """A QoS-1 paho publisher that counts what Mosquitto acknowledged.

    Driven from the calling thread (`loop`), not by a network thread: a second
    thread would fight the test for the GIL and publish several times slower.
    """

    def __init__(self, broker: Broker, client_id: str) -> None:
        self.acked = 0
        self.published = 0
        client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311
        )
        client.max_inflight_messages_set(0)
        client.max_queued_messages_set(0)
        client.on_publish = self._on_publish
        client.connect(broker.host, broker.port)
        self.client = client

    def _on_publish(self, *_: Any) -> None:
        self.acked += 1

    def publish(self, topic: str, payload: bytes | str) -> None:
        self.client.publish(topic, payload, qos=1)
        self.published += 1
        if self.published % 200 == 0:
            self.client.loop(0)

    def wait_acked(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.acked < self.published and time.monotonic() < deadline:
            self.client.loop(0.1)
        assert self.acked == self.published, f"Mosquitto acked {self.acked}/{self.published}"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop(0.1)
        sock = self.client.socket()
        if sock is not None:
            sock.close()


@contextmanager
def publisher(broker: Broker, client_id: str = "test-publisher") -> Iterator[Publisher]:
    pub = Publisher(broker, client_id)
    try:
        yield pub
    finally:
        pub.close()


@contextmanager
def mqtt_server(data: Path, broker: Broker) -> Iterator[tuple[Server, httpx.Client]]:
    """`cityfabric run --mqtt` on `data`, and an HTTP client for it."""
    with (
        running_server(data, extra=("--mqtt", broker.url)) as server,
        httpx.Client(base_url=server.url, timeout=60) as http,
    ):
        yield server, http


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def provision(http: httpx.Client, count: int) -> None:
    profiles = [
        {
            "deviceId": f"dev-{n:04d}",
            "entityType": "LoadTest",
            "measurements": {"seq": "seq", "p": {"attribute": "power", "unitCode": "KWT"}},
        }
        for n in range(count)
    ]
    assert http.post(DEVICES, json=profiles).status_code == 201


def seq_values(http: httpx.Client) -> dict[str, int]:
    """The current seq of every LoadTest entity, by id."""
    out: dict[str, int] = {}
    offset = 0
    while True:
        r = http.get(
            f"{NGSI}/entities",
            params={
                "type": "LoadTest",
                "attrs": "seq",
                "format": "keyValues",
                "limit": 1000,
                "offset": offset,
            },
        )
        assert r.status_code == 200, r.text
        page = r.json()
        out.update({e["id"]: e["seq"] for e in page if "seq" in e})
        if len(page) < 1000:
            return out
        offset += 1000


def history_available(http: httpx.Client, entity_id: str) -> bool:
    return http.get(f"{NGSI}/temporal/entities/{entity_id}").status_code == 200


def history_count(http: httpx.Client, entity_id: str) -> int:
    r = http.get(
        f"{NGSI}/temporal/entities/{entity_id}",
        params={
            "attrs": "seq",
            "aggrMethods": "totalCount",
            "options": "aggregatedValues",
            "aggrPeriodDuration": "PT0S",
        },
    )
    assert r.status_code == 200, r.text
    series = r.json().get("seq", {}).get("totalCount", [])
    return sum(int(point[0]) for point in series)


def device_messages(devices: int, per_device: int) -> Iterable[tuple[str, bytes]]:
    """Round robin over the devices; message k of a device carries seq k."""
    for k in range(per_device):
        for n in range(devices):
            yield f"cityfabric/default/devices/dev-{n:04d}", orjson.dumps({"seq": k, "p": k * 0.5})


def check_all_arrived(http: httpx.Client, devices: int, per_device: int) -> str:
    """Every device's last seq is there; with history, every instance too. Says how."""
    want = {f"urn:ngsi-ld:LoadTest:dev-{n:04d}": per_device - 1 for n in range(devices)}
    wait_for(lambda: seq_values(http) == want, 120, "every device's last message")
    first = next(iter(want))
    if not history_available(http, first):
        return "last value per device"
    for entity_id in want:
        wait_for(
            lambda e=entity_id: history_count(http, e) >= per_device,  # type: ignore[misc]
            30,
            f"history of {entity_id}",
        )
    return "last value and history count per device"


def test_fragments_devices_and_dead_letters(tmp_path: Path) -> None:
    with running_mosquitto(tmp_path) as broker, mqtt_server(tmp_path / "data", broker) as (_, http):
        lamp = {
            "id": "urn:ngsi-ld:Streetlight:1",
            "type": "Streetlight",
            "status": {"type": "Property", "value": "off"},
        }
        assert http.post(f"{NGSI}/entities", json=lamp).status_code == 201
        profile = {
            "deviceId": "pv-7",
            "entityId": "urn:ngsi-ld:PhotovoltaicMeasurement:pv-7",
            "entityType": "PhotovoltaicMeasurement",
            "measurements": {
                "p": {"attribute": "activePower", "unitCode": "KWT", "scale": 0.001},
                "t": {"attribute": "temperature", "unitCode": "CEL", "offset": -273.15},
            },
        }
        assert http.post(DEVICES, json=profile).status_code == 201
        with publisher(broker) as pub:
            topic = "cityfabric/default/entities/urn:ngsi-ld:Streetlight:1/attrs"
            pub.publish(
                topic,
                orjson.dumps(
                    {
                        "status": {"type": "Property", "value": "on"},
                        "dim": {"type": "Property", "value": 70},
                    }
                ),
            )
            pub.publish(
                "cityfabric/default/devices/pv-7",
                orjson.dumps({"ts": "2026-11-23T10:00:00Z", "p": 42100, "t": 300}),
            )
            pub.publish("cityfabric/default/devices/pv-7", b"{not json")
            pub.publish("cityfabric/default/devices/unknown-9", b'{"p": 1}')
            pub.publish(
                "cityfabric/default/entities/urn:ngsi-ld:Nothing:1/attrs",
                b'{"x": {"type": "Property", "value": 1}}',
            )
            pub.publish("cityfabric/no.such!tenant/devices/x", b"[]")
            pub.publish("cityfabric/default/devices/pv-7", bytes([0xFF, 0xFE, 0x00]))
            pub.wait_acked()

        def lamp_on() -> bool:
            r = http.get(
                f"{NGSI}/entities/urn:ngsi-ld:Streetlight:1", params={"format": "keyValues"}
            )
            return r.json().get("status") == "on"

        wait_for(lamp_on, 20, "the fragment")
        assert http.get(f"{NGSI}/entities/urn:ngsi-ld:Streetlight:1").json()["dim"]["value"] == 70
        pv = http.get(f"{NGSI}/entities/urn:ngsi-ld:PhotovoltaicMeasurement:pv-7").json()
        assert pv["activePower"] == {
            "type": "Property",
            "value": 42.1,
            "unitCode": "KWT",
            "observedAt": "2026-11-23T10:00:00Z",
        }
        assert pv["temperature"]["value"] == pytest.approx(26.85)

        def letters() -> list[dict[str, Any]]:
            r = http.get(
                f"{NGSI}/entities",
                params={"type": "DeadLetter", "format": "keyValues", "limit": 100},
            )
            return list(r.json())

        wait_for(lambda: len(letters()) == 5, 20, "five dead letters")
        by_payload = {d["payload"]: d for d in letters()}
        assert "not valid JSON" in by_payload["{not json"]["reason"]
        assert "unknown device 'unknown-9'" in by_payload['{"p": 1}']["reason"]
        assert "ResourceNotFound" in by_payload['{"x": {"type": "Property", "value": 1}}']["reason"]
        assert "not a valid tenant name" in by_payload["[]"]["reason"]
        binary = by_payload["//4A"]
        assert binary["payloadEncoding"] == "base64" and binary["topic"].endswith("pv-7")


def test_100k_messages_all_reach_the_store(tmp_path: Path) -> None:
    devices, per_device = 1000, 100
    with running_mosquitto(tmp_path) as broker, mqtt_server(tmp_path / "data", broker) as (_, http):
        provision(http, devices)
        with publisher(broker) as pub:
            for topic, payload in device_messages(devices, per_device):
                pub.publish(topic, payload)
            pub.wait_acked(120)
            assert pub.acked == devices * per_device
        how = check_all_arrived(http, devices, per_device)
        print(f"100,000 messages checked by {how}")


def test_nothing_acknowledged_is_lost_when_killed(tmp_path: Path) -> None:
    devices, per_device = 200, 100
    with running_mosquitto(tmp_path) as broker:
        data = tmp_path / "data"
        with mqtt_server(data, broker) as (first, http):
            provision(http, devices)
            with publisher(broker) as pub:
                messages = iter(device_messages(devices, per_device))
                for _ in range(devices * per_device // 2):
                    pub.publish(*next(messages))
                # kill while the bridge holds unacked messages and more are on the way
                wait_for(lambda: len(seq_values(http)) > 0, 30, "the first writes")
                first.kill()
                for topic, payload in messages:
                    pub.publish(topic, payload)
                pub.wait_acked(120)
        with mqtt_server(data, broker) as (_, http):
            how = check_all_arrived(http, devices, per_device)
            print(f"nothing lost across kill -9, checked by {how}")
