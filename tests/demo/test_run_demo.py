"""`cityfabric run --demo`: the server answers at once and the demo city arrives over HTTP."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import running_server

pytestmark = pytest.mark.e2e


def test_run_with_demo_serves_and_streams(tmp_path: Path) -> None:
    extra = ("--demo", "--demo-backfill", "0", "--demo-scale", "0.05")
    with running_server(tmp_path / "data", extra=extra) as server:
        assert httpx.get(f"{server.url}/health").status_code == 200
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            answer = httpx.get(
                f"{server.url}/ngsi-ld/v1/types", headers={"NGSILD-Tenant": "tianjin-eco"}
            )
            if answer.status_code == 200 and answer.json()["typeList"]:
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"the demo tenant did not appear:\n{server.log.read_text()}")
    assert server.process.returncode is not None
