"""`cityfabric forecast` against a live server: tables, type-wide runs, errors."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from typer.testing import CliRunner, Result

from cityfabric.cli import app
from tests.api.test_forecasts import M1, M2, M3, readings
from tests.e2e.server import Server, running_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("forecast") / "data") as srv:
        for entity_id, hours in ((M1, 8 * 24), (M2, 9 * 24), (M3, 20)):
            body = {"id": entity_id, "type": "Meter", "power": readings(hours)}
            r = httpx.post(f"{srv.url}/ngsi-ld/v1/temporal/entities", json=body, timeout=30)
            assert r.status_code == 201, r.text
        yield srv


def run(server: Server, *args: str) -> Result:
    return CliRunner().invoke(app, ["forecast", "--url", server.url, "--attr", "power", *args])


def test_one_entity_prints_its_series(server: Server) -> None:
    result = run(server, "--entity", M1, "--horizon", "PT6H", "--levels", "80")
    assert result.exit_code == 0, result.output
    assert "lo80" in result.output and "hi80" in result.output and "lo95" not in result.output
    assert result.output.count("2026-01-13T0") == 6  # one row per hour
    stored = httpx.get(f"{server.url}/cityfabric/v1/forecasts", params={"entity": M1}).json()
    assert len(stored) == 1 and len(stored[0]["mean"]) == 6


def test_a_type_prints_one_row_per_entity_and_the_skipped(server: Server) -> None:
    result = run(server, "--type", "Meter", "--horizon", "3")
    assert result.exit_code == 0, result.output
    assert "2 forecasts" in result.output
    assert "skipped" in result.output and "Meter:3" in result.output


def test_errors(server: Server) -> None:
    result = run(server, "--entity", M1, "--type", "Meter")
    assert result.exit_code == 2 and "either --entity or --type" in result.output
    result = CliRunner().invoke(
        app, ["forecast", "--url", server.url, "--attr", "voltage", "--entity", M1]
    )
    assert result.exit_code == 1 and "ResourceNotFound" in result.output
    result = run(server, "--entity", M1, "--horizon", "P1M")
    assert result.exit_code == 1 and "BadRequestData" in result.output
