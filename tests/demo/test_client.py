"""`cityfabric demo` against a live server: entities and history through the HTTP API only."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from cityfabric.cli import app
from cityfabric.demo.assets import generate
from cityfabric.demo.runner import start_of
from tests.e2e.server import free_port, running_server

pytestmark = pytest.mark.e2e
TENANT = {"NGSILD-Tenant": "minsk"}
SDM = "https://smartdatamodels.org/"


def test_demo_once_creates_entities_and_history(tmp_path: Path) -> None:
    with running_server(tmp_path / "data") as server:
        args = ["demo", "--url", server.url, "--once", "--city", "minsk", "--scale", "0.05"]
        result = CliRunner().invoke(app, [*args, "--backfill", "1"])
        assert result.exit_code == 0, result.output
        api = f"{server.url}/ngsi-ld/v1"
        types = httpx.get(f"{api}/types", headers=TENANT, params={"details": "true"}).json()
        served = {t["typeName"].rsplit("/", 1)[-1] for t in types}
        start = start_of(datetime.now(UTC), 1)
        expected = Counter(e["type"] for e in generate("minsk", 0.05, 0, as_of=start))
        assert served == set(expected)
        lights = httpx.get(
            f"{api}/entities",
            headers=TENANT,
            params={
                "type": f"{SDM}dataModel.Streetlighting/Streetlight",
                "limit": 1000,
                "count": "true",
            },
        )
        assert int(lights.headers["NGSILD-Results-Count"]) == expected["Streetlight"]
        lamp = lights.json()[0]["id"]
        history = httpx.get(
            f"{api}/temporal/entities/{lamp}",
            headers=TENANT,
            params={
                "attrs": f"{SDM}dataModel.Streetlighting/powerConsumption",
                "lastN": 1000,
                "options": "temporalValues",
            },
        ).json()
        current = httpx.get(f"{api}/entities/{lamp}", headers=TENANT).json()
    values = next(v for k, v in history.items() if k.endswith("powerConsumption"))["values"]
    times = sorted(datetime.fromisoformat(t) for _, t in values)
    assert len(times) >= 96  # one day at a 15-minute cadence
    assert (times[-1] - times[0]).total_seconds() >= 23 * 3600
    assert times[0] >= start
    assert len(set(times)) == len(times)  # no reading written twice
    # the current state is the newest reading (held back from the backfill, upserted last)
    power = next(v for k, v in current.items() if k.endswith("powerConsumption"))
    assert datetime.fromisoformat(power["observedAt"]) == times[-1]
    newest = max(values, key=lambda v: datetime.fromisoformat(v[1]))
    assert newest[0] == power["value"]


def test_labels_are_deterministic(tmp_path: Path) -> None:
    args = ["demo", "labels", "--city", "minsk", "--scale", "0.2", "--seed", "3"]
    args += ["--start", "2025-06-01", "--days", "31"]
    first = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "a.json")])
    second = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "b.json")])
    assert first.exit_code == second.exit_code == 0, first.output
    a = (tmp_path / "a.json").read_bytes()
    assert a == (tmp_path / "b.json").read_bytes()
    doc = orjson.loads(a)
    assert doc["start"] == "2025-06-01T00:00:00Z" and doc["days"] == 31 and doc["seed"] == 3
    assert doc["faults"] and {f["city"] for f in doc["faults"]} == {"minsk"}
    other = CliRunner().invoke(app, [*args[:-4], "--start", "2025-06-02", "--days", "31"])
    assert orjson.loads(other.output)["faults"] != doc["faults"]
    csv = CliRunner().invoke(app, [*args, "--format", "csv"]).output.splitlines()
    assert csv[0].startswith("# cityfabric demo labels:") and "start=2025-06-01" in csv[0]
    assert csv[1].startswith("city,asset_id,") and len(csv) == 2 + len(doc["faults"])


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--url", f"http://127.0.0.1:{free_port()}", "--once"], "cannot reach"),
        (["--city", "atlantis", "--once"], "unknown demo city"),
    ],
)
def test_clear_errors(args: list[str], says: str) -> None:
    result = CliRunner().invoke(app, ["demo", *args])
    assert result.exit_code == 2
    assert says in result.output and "Traceback" not in result.output
