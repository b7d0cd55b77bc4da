"""`--speed`: the live stream's simulated clock runs `speed` times faster than real time."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from cityfabric.demo.runner import DemoOptions, async_demo
from tests.e2e.server import running_server

pytestmark = pytest.mark.e2e
TENANT = {"NGSILD-Tenant": "minsk"}
CHARGER = "https://smartdatamodels.org/dataModel.Transportation/EVChargingStation"
POWER = "https://smartdatamodels.org/dataModel.Transportation/powerConsumption"
SPEED = 60.0


def _stream(url: str, seconds: float) -> None:
    """Run `cityfabric demo --city minsk --speed 60` (no backfill) for `seconds`, then stop."""
    options = DemoOptions(url=url, cities=("minsk",), scale=0.05, speed=SPEED)

    async def run() -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(async_demo(options, Console(quiet=True)), seconds)

    asyncio.run(run())


def _times(instance: dict[str, object], member: str) -> datetime:
    return datetime.fromisoformat(str(instance[member]))


def test_speed_60_runs_a_simulated_minute_per_real_second(tmp_path: Path) -> None:
    with running_server(tmp_path / "data") as server:
        _stream(server.url, 9.0)
        stopped = datetime.now(UTC)
        api = f"{server.url}/ngsi-ld/v1"
        chargers = httpx.get(
            f"{api}/entities", headers=TENANT, params={"type": CHARGER, "limit": 1}
        ).json()
        assert chargers, "the demo city has EV chargers (they report every simulated minute)"
        history = httpx.get(
            f"{api}/temporal/entities/{chargers[0]['id']}",
            headers=TENANT,
            params={"attrs": POWER, "lastN": 100, "options": "sysAttrs"},
        ).json()
    instances = sorted(history[POWER], key=lambda i: str(i["observedAt"]))
    assert len(instances) >= 4, instances
    observed = [_times(i, "observedAt") for i in instances]
    written = [_times(i, "modifiedAt") for i in instances]
    # one live step a real second, each 60 simulated seconds: the charger reports every step
    assert all(b - a == timedelta(seconds=SPEED) for a, b in itertools.pairwise(observed))
    ratio = (observed[-1] - observed[0]) / (written[-1] - written[0])
    assert 45.0 < ratio < 80.0, (observed, written)
    # the simulated clock started at the real minute (its first step one tick past it) and
    # is now minutes ahead of real time
    assert observed[0] <= stopped + timedelta(seconds=SPEED)
    assert observed[-1] - stopped > timedelta(minutes=2)
