"""The server-sent-events stream of a subscription, against a live server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.conftest import STREETLIGHT_CTX, link
from tests.e2e.server import running_server
from tests.notify.receiver import receiver

pytestmark = pytest.mark.e2e

NGSI = "/ngsi-ld/v1"
LAMP = "urn:ngsi-ld:Streetlight:sse"
TENANT = {"NGSILD-Tenant": "harbour"}


def lamp(state: str) -> dict[str, object]:
    return {"id": LAMP, "type": "Streetlight", "powerState": {"type": "Property", "value": state}}


def data_lines(lines: Iterator[str]) -> Iterator[str]:
    """The `data:` payloads of a stream, after its opening comment."""
    assert next(lines) == ": listening"
    for line in lines:
        if line.startswith("data: "):
            yield line.removeprefix("data: ")


def test_update_arrives_on_the_stream_within_a_second(tmp_path: Path) -> None:
    headers = {**link(STREETLIGHT_CTX), **TENANT}
    with (
        receiver() as rec,
        running_server(tmp_path / "data") as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        r = http.post(
            f"{NGSI}/subscriptions",
            headers=headers,
            json={
                "type": "Subscription",
                "entities": [{"type": "Streetlight"}],
                "notification": {"endpoint": {"uri": rec.url}},
            },
        )
        assert r.status_code == 201, r.text
        sub = r.headers["location"].rsplit("/", 1)[1]
        path = f"/cityfabric/v1/subscriptions/{sub}/events"
        assert http.get(path).status_code == 404  # another tenant's subscription
        with http.stream("GET", path, headers=TENANT) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            events = data_lines(stream.iter_lines())
            assert http.post(f"{NGSI}/entities", json=lamp("on"), headers=headers).is_success
            start = time.monotonic()
            first = orjson.loads(next(events))
            assert time.monotonic() - start < 1.0
            assert first["type"] == "Notification"
            assert first["subscriptionId"] == sub
            assert first["data"][0]["powerState"]["value"] == "on"
            r = http.patch(
                f"{NGSI}/entities/{LAMP}/attrs",
                json={"powerState": {"type": "Property", "value": "off"}},
                headers=headers,
            )
            assert r.status_code == 204, r.text
            assert orjson.loads(next(events))["data"][0]["powerState"]["value"] == "off"
        rec.wait(lambda got: len(got) == 2)  # the endpoint is notified as well


def test_unknown_subscription_is_404(tmp_path: Path) -> None:
    with running_server(tmp_path / "data") as server:
        r = httpx.get(f"{server.url}/cityfabric/v1/subscriptions/urn:x:nope/events", timeout=10)
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("application/")
