"""Several API processes (`--workers 2`) serve one SQLite store consistently."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import running_server

pytestmark = pytest.mark.e2e
B = "/ngsi-ld/v1"


def test_two_processes_share_one_store(tmp_path: Path) -> None:
    with running_server(tmp_path / "data", extra=("--workers", "2")) as server:

        def write(n: int) -> int:
            with httpx.Client(base_url=server.url, timeout=30) as c:
                body = {
                    "id": f"urn:ngsi-ld:Lamp:{n}",
                    "type": "Lamp",
                    "level": {"type": "Property", "value": 0},
                }
                codes = [c.post(f"{B}/entities", json=body).status_code]
                for level in range(1, 6):  # sequential patches of one entity
                    r = c.patch(
                        f"{B}/entities/urn:ngsi-ld:Lamp:{n}/attrs",
                        json={"level": {"type": "Property", "value": level}},
                    )
                    codes.append(r.status_code)
                return max(codes)

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(write, range(200))) == {204}
        with httpx.Client(base_url=server.url, timeout=30) as c:
            r = c.get(
                f"{B}/entities",
                params={"type": "Lamp", "q": "level==5", "count": "true", "limit": 0},
            )
            assert r.headers["NGSILD-Results-Count"] == "200"
            r = c.post(f"{B}/jsonldContexts", json={"@context": {"lux": "https://ex.org/lux"}})
            assert r.status_code == 201
            # every process serves the context, whichever stored it
            assert {c.get(r.headers["location"]).status_code for _ in range(8)} == {200}
