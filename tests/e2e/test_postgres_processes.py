"""Several `cityfabric run` processes on one PostgreSQL database: no lost update, complete
history, and no acknowledged write lost when one process is killed (-9) mid-load."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.server import Server, running_server
from tests.postgres import Cluster, fresh_database

pytestmark = pytest.mark.e2e
B = "/ngsi-ld/v1"
CLOSE = {"Connection": "close"}
ENTITIES, WRITERS, ROUNDS = 10, 3, 8


@pytest.fixture
def servers(pg_cluster: Cluster, tmp_path: Path) -> Iterator[list[Server]]:
    """Three API processes, each with its own data dir (hosted contexts), one database."""
    url = fresh_database(pg_cluster)
    with ExitStack() as stack:
        yield [
            stack.enter_context(running_server(tmp_path / f"p{i}", extra=("--database", url)))
            for i in range(3)
        ]


def observed(second: int) -> str:
    return f"2026-06-01T00:{second // 60:02d}:{second % 60:02d}Z"


def lamp(n: int) -> dict[str, Any]:
    """A lamp whose a0, a1, ... start at 0 (without observedAt: not in the history below)."""
    attrs = {f"a{w}": {"type": "Property", "value": 0} for w in range(WRITERS)}
    return {"id": f"urn:ngsi-ld:Lamp:{n}", "type": "Lamp", **attrs}


def test_concurrent_patches_through_three_processes_lose_nothing(servers: list[Server]) -> None:
    with httpx.Client(base_url=servers[0].url, timeout=30) as c:
        r = c.post(f"{B}/entityOperations/create", json=[lamp(n) for n in range(ENTITIES)])
        assert r.status_code == 201, r.text

    def writer(w: int) -> None:
        # writer w owns attribute a{w} of every entity; its patches go through every
        # process in turn, racing the other writers' patches of the same entities
        clients = [httpx.Client(base_url=s.url, timeout=30, headers=CLOSE) for s in servers]
        try:
            for k in range(1, ROUNDS + 1):
                for n in range(ENTITIES):
                    body = {f"a{w}": {"type": "Property", "value": k, "observedAt": observed(k)}}
                    r = clients[(n + k + w) % 3].patch(
                        f"{B}/entities/urn:ngsi-ld:Lamp:{n}/attrs", json=body
                    )
                    assert r.status_code == 204, r.text
        finally:
            for client in clients:
                client.close()

    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(writer, range(WRITERS)))
    with httpx.Client(base_url=servers[2].url, timeout=30) as c:
        for n in range(ENTITIES):
            entity = c.get(f"{B}/entities/urn:ngsi-ld:Lamp:{n}", params={"options": "keyValues"})
            assert {f"a{w}": entity.json().get(f"a{w}") for w in range(WRITERS)} == {
                f"a{w}": ROUNDS for w in range(WRITERS)
            }, entity.text
            r = c.get(
                f"{B}/temporal/entities/urn:ngsi-ld:Lamp:{n}", params={"options": "temporalValues"}
            )
            assert r.status_code == 200, r.text
            for w in range(WRITERS):
                series = r.json()[f"a{w}"]
                assert [v for v, _ in series["values"]] == list(range(1, ROUNDS + 1)), series


def test_kill_9_of_one_process_loses_no_acknowledged_write(servers: list[Server]) -> None:
    victim, survivor = servers[0], servers[1]
    acknowledged: list[int] = []
    stop = threading.Event()

    def load(start: int) -> None:
        with httpx.Client(base_url=victim.url, timeout=10) as c:
            n = start
            while not stop.is_set():
                try:
                    r = c.post(f"{B}/entities", json=lamp(n))
                except httpx.HTTPError:
                    return  # the process is gone: this write was never acknowledged
                if r.status_code == 201:
                    acknowledged.append(n)
                n += 1

    threads = [threading.Thread(target=load, args=(i * 1_000_000,)) for i in range(4)]
    for thread in threads:
        thread.start()
    while len(acknowledged) < 200:
        threading.Event().wait(0.01)
    victim.kill()  # SIGKILL mid-load
    stop.set()
    for thread in threads:
        thread.join()
    assert len(acknowledged) >= 200
    with httpx.Client(base_url=survivor.url, timeout=30) as c:
        r = c.get(f"{B}/entities", params={"type": "Lamp", "count": "true", "limit": 0})
        stored = int(r.headers["NGSILD-Results-Count"])
        assert stored >= len(acknowledged)  # acknowledged ones, maybe a few unanswered ones
        for n in acknowledged:
            assert c.get(f"{B}/entities/urn:ngsi-ld:Lamp:{n}").status_code == 200, n
