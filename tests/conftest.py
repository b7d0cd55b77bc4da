"""Shared fixtures: the real app on a temporary SQLite file, and the shared test data."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cityfabric.app import create_app
from cityfabric.config import Settings
from tests.postgres import Cluster, fresh_database, running_cluster

# the anomaly worker runs in the background only where a test turns it on (tests/analytics):
# live servers (settings from the environment) and the `settings` fixture start with it off
os.environ["CITYFABRIC_ANOMALY_INTERVAL"] = "0"

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CITYFABRIC_SHARED_DATA", ROOT.parent / "shared" / "data"))
SDM = SHARED / "smart-data-models"
SDM_CONTEXTS = SDM / "contexts"
STREETLIGHT_CTX = "https://smart-data-models.github.io/dataModel.Streetlighting/context.jsonld"
LINK_REL = 'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'


def link(url: str) -> dict[str, str]:
    return {"Link": f"<{url}>; {LINK_REL}"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--store",
        choices=("sqlite", "postgresql", "both"),
        default="both",
        help="the store engine(s) the engine-neutral store tests run against (default: both)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests that take `engine` run once per engine chosen with --store."""
    if "engine" in metafunc.fixturenames:
        choice = metafunc.config.getoption("--store")
        metafunc.parametrize("engine", ["sqlite", "postgresql"] if choice == "both" else [choice])


@pytest.fixture(scope="session")
def pg_cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """One throwaway PostgreSQL + PostGIS cluster for the session (see tests/postgres.py)."""
    if request.config.getoption("--store") == "sqlite":
        pytest.skip("PostgreSQL tests are off with --store=sqlite")
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """A test must not leave threads running (stores closed, servers stopped)."""
    before = {t.ident for t in threading.enumerate()}
    yield
    deadline = time.monotonic() + 5
    while True:
        leaked = [t for t in threading.enumerate() if t.ident not in before and t.is_alive()]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not leaked, f"threads left running: {[t.name for t in leaked]}"


@pytest.fixture
def settings(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """The app's settings on each engine chosen with --store (a fresh database each)."""
    database_url = None
    if engine == "postgresql":
        database_url = fresh_database(request.getfixturevalue("pg_cluster"))
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        context_cache=SDM_CONTEXTS,
        anomaly_interval=0,
        notification_process=False,  # tests reach into the delivery worker
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url="http://testserver") as c:
        yield c
