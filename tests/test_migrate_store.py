"""`cityfabric migrate-store`: a city on SQLite copied into PostgreSQL, counted on both."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cityfabric import migrate_store
from cityfabric.app import create_app
from cityfabric.cli import app
from cityfabric.config import Settings
from cityfabric.ngsild.temporal import TimeFilter
from cityfabric.store.base import EntityQuery, HistoryQuery
from cityfabric.store.postgres import PostgresStore
from tests.conftest import SDM_CONTEXTS
from tests.postgres import Cluster, fresh_database

B = "/ngsi-ld/v1"
TEMP = "https://example.org/temp"


def reading(value: float, minute: int) -> dict[str, Any]:
    return {"type": "Property", "value": value, "observedAt": f"2026-01-01T00:{minute:02d}:00Z"}


def seed(data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir, context_cache=SDM_CONTEXTS, anomaly_interval=0)
    with TestClient(create_app(settings)) as c:
        for tenant in ({}, {"NGSILD-Tenant": "minsk"}):
            for n in range(7):
                lamp = {"id": f"urn:ngsi-ld:Lamp:{n}", "type": "Lamp", TEMP: reading(n, 0)}
                assert c.post(f"{B}/entities", json=lamp, headers=tenant).status_code == 201
            for minute in range(1, 30):  # more than one page of instances (see below)
                body = {TEMP: reading(minute / 2, minute)}
                r = c.patch(f"{B}/entities/urn:ngsi-ld:Lamp:0/attrs", json=body, headers=tenant)
                assert r.status_code == 204
        sub = {
            "type": "Subscription",
            "entities": [{"type": "Lamp"}],
            "notification": {"endpoint": {"uri": "http://127.0.0.1:9/notify"}},
        }
        assert c.post(f"{B}/subscriptions", json=sub).status_code == 201


def test_a_city_moves_to_postgresql_with_its_history(
    pg_cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(migrate_store, "SERIES_PAGE", 7)  # history read in several pages
    monkeypatch.setattr(migrate_store, "PAGE", 3)
    seed(tmp_path / "data")
    url = fresh_database(pg_cluster)
    source = f"sqlite:///{tmp_path / 'data' / 'cityfabric.db'}"
    done = CliRunner().invoke(app, ["migrate-store", "--from", source, "--to", url])
    assert done.exit_code == 0, done.output
    assert "verified: the counts agree" in done.output

    async def check() -> None:
        store = PostgresStore(url)
        await store.open()
        try:
            assert await store.tenants() == ["", "minsk"]
            page = await store.query("minsk", EntityQuery(limit=100, count=True))
            assert page.count == 7
            assert [d["id"] for d in page.docs] == [f"urn:ngsi-ld:Lamp:{n}" for n in range(7)]
            history = await store.history(
                "minsk", HistoryQuery(ids=("urn:ngsi-ld:Lamp:0",), time=TimeFilter())
            )
            [series] = history.entities[0].series
            values = [i["value"] for i in series.instances]
            assert values == [0, *(m / 2 for m in range(1, 30))]
            _, subscriptions = await store.list_subscriptions("", 10, 0, True)
            assert subscriptions == 1
        finally:
            await store.close()

    asyncio.run(check())


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    done = CliRunner().invoke(
        app, ["migrate-store", "--from", f"sqlite:///{tmp_path}/none.db", "--to", "postgresql://x"]
    )
    assert done.exit_code == 2 and "no SQLite store" in done.output
