"""Several API processes (`--workers 2`) serve one SQLite store consistently."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import running_server

pytestmark = pytest.mark.e2e
B = "/ngsi-ld/v1"
CLOSE = {"Connection": "close"}  # a new connection per request spreads them over the processes


def test_two_processes_share_one_store(tmp_path: Path) -> None:
    with running_server(tmp_path / "data", extra=("--workers", "2")) as server:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            lamps = [
                {
                    "id": f"urn:ngsi-ld:Lamp:{n}",
                    "type": "Lamp",
                    "level": {"type": "Property", "value": 0},
                }
                for n in range(100)
            ]
            assert c.post(f"{B}/entityOperations/create", json=lamps).status_code == 201

        def patch(n: int) -> set[int]:
            codes = set()
            with httpx.Client(base_url=server.url, timeout=30, headers=CLOSE) as c:
                for level in range(1, 6):  # sequential patches of one entity
                    r = c.patch(
                        f"{B}/entities/urn:ngsi-ld:Lamp:{n}/attrs",
                        json={"level": {"type": "Property", "value": level}},
                    )
                    codes.add(r.status_code)
            return codes

        with ThreadPoolExecutor(8) as pool:
            assert set().union(*pool.map(patch, range(100))) == {204}
        with httpx.Client(base_url=server.url, timeout=30, headers=CLOSE) as c:
            r = c.get(
                f"{B}/entities",
                params={"type": "Lamp", "q": "level==5", "count": "true", "limit": 0},
            )
            assert r.headers["NGSILD-Results-Count"] == "100"
            r = c.post(f"{B}/jsonldContexts", json={"@context": {"lux": "https://ex.org/lux"}})
            assert r.status_code == 201
            # every process serves the context, whichever stored it
            assert {c.get(r.headers["location"]).status_code for _ in range(8)} == {200}
            r = c.post(f"{B}/entities", json=lamps[0], headers={"NGSILD-Tenant": "minsk"})
            assert r.status_code == 201
            # a tenant created by one process is known to the other's writer and readers
            for _ in range(6):
                r = c.patch(
                    f"{B}/entities/urn:ngsi-ld:Lamp:0/attrs",
                    headers={"NGSILD-Tenant": "minsk", **CLOSE},
                    json={"level": {"type": "Property", "value": 1}},
                )
                assert r.status_code == 204, r.text
