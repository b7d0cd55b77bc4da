"""The delivery process beside a live server: replaced when it dies, gone when the server dies."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import STREETLIGHT_CTX, link
from tests.e2e.server import running_server
from tests.notify.receiver import receiver

pytestmark = pytest.mark.e2e

NGSI = "/ngsi-ld/v1"
LAMP = "urn:ngsi-ld:Streetlight:proc"


def delivery_processes(server_pid: int) -> list[psutil.Process]:
    return [
        child
        for child in psutil.Process(server_pid).children()
        if "spawn_main" in " ".join(child.cmdline())
    ]


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_dead_delivery_process_is_replaced_and_none_outlives_its_server(
    tmp_path: Path,
) -> None:
    headers = link(STREETLIGHT_CTX)
    with (
        receiver() as rec,
        running_server(tmp_path / "data") as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        first = delivery_processes(server.process.pid)
        assert len(first) == 1
        first[0].kill()
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
        lamp = {"id": LAMP, "type": "Streetlight", "powerState": {"type": "Property", "value": 1}}
        r = http.post(f"{NGSI}/entities", headers=headers, json=lamp)
        assert r.status_code == 201, r.text
        rec.wait(lambda got: len(got) == 1, 20)  # queued while none ran, sent by the next
        (second,) = delivery_processes(server.process.pid)
        assert second.pid != first[0].pid
        server.kill()
        wait_for(lambda: gone(second), 10, "the delivery process to exit")


def gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
