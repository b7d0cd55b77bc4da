"""At least once across SIGKILL: notifications queued for a dead receiver survive a crash.

A subscription points at a receiver that is down; 50 acknowledged updates queue 50
notifications (retried in vain). The server is SIGKILLed, the receiver started, the
server restarted on the same data directory: every update reaches the receiver
(duplicates allowed, none lost).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import STREETLIGHT_CTX, link
from tests.e2e.server import free_port, running_server
from tests.notify.receiver import receiver

pytestmark = pytest.mark.e2e

NGSI = "/ngsi-ld/v1"
LAMP = "urn:ngsi-ld:Streetlight:crash"
UPDATES = 50


def test_queued_notifications_survive_kill_9(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITYFABRIC_NOTIFICATION_RETRY_BASE", "0.05")
    monkeypatch.setenv("CITYFABRIC_NOTIFICATION_RETRY_MAX", "0.3")
    monkeypatch.setenv("CITYFABRIC_NOTIFICATION_MAX_ATTEMPTS", "100000")
    monkeypatch.setenv("CITYFABRIC_NOTIFICATION_TIMEOUT", "1")
    data = tmp_path / "data"
    port = free_port()
    headers = link(STREETLIGHT_CTX)
    with running_server(data) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        r = http.post(
            f"{NGSI}/subscriptions",
            headers=headers,
            json={
                "type": "Subscription",
                "entities": [{"type": "Streetlight"}],
                "watchedAttributes": ["powerState"],
                "notification": {"endpoint": {"uri": f"http://127.0.0.1:{port}/notify"}},
            },
        )
        assert r.status_code == 201, r.text
        r = http.post(
            f"{NGSI}/entities",
            headers=headers,
            json={
                "id": LAMP,
                "type": "Streetlight",
                "powerState": {"type": "Property", "value": -1},
            },
        )
        assert r.status_code == 201, r.text
        for i in range(UPDATES):
            r = http.patch(
                f"{NGSI}/entities/{LAMP}/attrs",
                headers=headers,
                json={"powerState": {"type": "Property", "value": i}},
            )
            assert r.status_code == 204, r.text
        server.kill()
    with receiver(port) as rec, running_server(data):
        wanted = set(range(-1, UPDATES))
        rec.wait(lambda _: {e["powerState"]["value"] for e in rec.entities()} >= wanted, 40)
