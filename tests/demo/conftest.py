"""Session fixtures: a small port city, and simulated runs of it (with and without faults)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cityfabric.demo.assets import generate
from cityfabric.demo.faults import Fault, plan_faults
from cityfabric.demo.simulator import Simulator
from tests.demo.recording import Recording, record

SEED = 11
QUARTER = timedelta(minutes=15)
SUMMER = datetime(2025, 6, 19, tzinfo=UTC)
WINTER = datetime(2025, 1, 13, tzinfo=UTC)
FAULT_START = datetime(2025, 5, 5, tzinfo=UTC)
FAULT_DAYS = 5.0


@pytest.fixture(scope="session")
def port_city() -> list[dict[str, Any]]:
    """Tianjin at a quarter scale: every asset kind, port included, ~1,500 entities."""
    return generate("tianjin-eco", 0.25, SEED)


@pytest.fixture(scope="session")
def summer(port_city: list[dict[str, Any]]) -> Recording:
    return record(Simulator("tianjin-eco", port_city, SEED), SUMMER, 3, QUARTER)


@pytest.fixture(scope="session")
def winter() -> Recording:
    """Minsk in January: long nights, cloud, frost; solar batteries under strain."""
    city = generate("minsk", 0.3, SEED)
    return record(Simulator("minsk", city, SEED), WINTER, 3, QUARTER)


@dataclass
class FaultRuns:
    faults: list[Fault]
    faulty: Recording
    clean: Recording  # the same city, seed and weather without faults


@pytest.fixture(scope="session")
def fault_runs(port_city: list[dict[str, Any]]) -> FaultRuns:
    faults = plan_faults(port_city, SEED, FAULT_START, FAULT_DAYS, rate=4.0)
    faulty = Simulator("tianjin-eco", port_city, SEED, faults)
    clean = Simulator("tianjin-eco", port_city, SEED)
    assets = {f.asset_id for f in faults}
    return FaultRuns(
        faults,
        record(faulty, FAULT_START, FAULT_DAYS, QUARTER, assets),
        record(clean, FAULT_START, FAULT_DAYS, QUARTER, assets),
    )
