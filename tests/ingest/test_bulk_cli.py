"""`cityfabric import` against a live server: summaries, rejected rows, exit codes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from typer.testing import CliRunner, Result

from cityfabric.cli import app
from tests.conftest import STREETLIGHT_CTX, link
from tests.e2e.server import Server, free_port, running_server

pytestmark = pytest.mark.e2e
TEMPORAL = "/ngsi-ld/v1/temporal/entities"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("bulk") / "data") as srv:
        yield srv


@pytest.fixture
def temporal(server: Server) -> None:
    """Skip until the temporal API (POST /temporal/entities) is served."""
    paths = httpx.get(f"{server.url}/openapi.json", timeout=10).json()["paths"]
    if "post" not in paths.get(TEMPORAL, {}):
        pytest.skip("POST /ngsi-ld/v1/temporal/entities is not served yet (issue 3, item 2)")


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(app, ["import", *map(str, args)])


def write_jsonl(path: Path, lines: list[Any]) -> Path:
    path.write_bytes(b"\n".join(x if isinstance(x, bytes) else orjson.dumps(x) for x in lines))
    return path


def get(server: Server, eid: str, **params: str) -> httpx.Response:
    return httpx.get(
        f"{server.url}/ngsi-ld/v1/entities/{eid}",
        params=params,
        headers=link(STREETLIGHT_CTX),
        timeout=10,
    )


def light(n: int, state: str = "on", **extra: Any) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:Streetlight:bulk-{n}",
        "type": "Streetlight",
        "powerState": {"type": "Property", "value": state},
        **extra,
    }


def test_jsonl_entities_with_bad_lines(server: Server, tmp_path: Path) -> None:
    lines = [
        light(1),
        b"",
        b'{"id": "urn:ngsi-ld:Streetlight:bulk-x", ',
        {"id": "urn:ngsi-ld:Streetlight:bulk-2", "type": "Streetlight", "powerState": "off"},
        b"[1, 2]",
        {"type": "Streetlight"},
        {
            "id": "urn:ngsi-ld:Streetlight:bulk-3",
            "type": "Streetlight",
            "powerState": {"type": "Property"},
        },
        {**light(4, "off"), "@context": STREETLIGHT_CTX},
        {"id": "not a uri", "type": "Streetlight"},
    ]
    rejected = tmp_path / "rejects.jsonl"
    result = run(
        write_jsonl(tmp_path / "lights.jsonl", lines),
        "--url",
        server.url,
        "--context",
        STREETLIGHT_CTX,
        "--batch-size",
        "2",
        "--rejects",
        rejected,
    )
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "rows read:         8" in result.output
    assert "entities written:  3" in result.output
    assert "rows rejected:     5" in result.output
    assert "line 3: not valid JSON" in result.output
    assert "line 5: not a JSON object but list" in result.output
    assert "line 6: no entity id" in result.output
    assert "line 7 (urn:ngsi-ld:Streetlight:bulk-3): BadRequestData: Property" in result.output
    assert "line 9 (not a uri): BadRequestData: id must be a URI" in result.output
    kept = [orjson.loads(x) for x in rejected.read_bytes().splitlines()]
    assert sorted(r["line"] for r in kept) == [3, 5, 6, 7, 9]
    assert {r["entityId"] for r in kept if "entityId" in r} == {
        "urn:ngsi-ld:Streetlight:bulk-3",
        "not a uri",
    }
    states = {
        n: get(server, f"urn:ngsi-ld:Streetlight:bulk-{n}", options="keyValues") for n in (1, 2, 4)
    }
    assert {n: r.json()["powerState"] for n, r in states.items()} == {1: "on", 2: "off", 4: "off"}


def test_later_lines_update_earlier_ones_and_nothing_rejected_exits_0(
    server: Server, tmp_path: Path
) -> None:
    lines = [
        light(10, "on"),
        light(11, "on"),
        light(10, "off", illuminanceLevel={"type": "Property", "value": 0.5}),
    ]
    result = run(
        write_jsonl(tmp_path / "a.jsonl", lines), "--url", server.url, "--context", STREETLIGHT_CTX
    )
    assert result.exit_code == 0, result.output
    assert "entities written:  3" in result.output and "rows rejected:     0" in result.output
    body = get(server, "urn:ngsi-ld:Streetlight:bulk-10", options="keyValues").json()
    assert (body["powerState"], body["illuminanceLevel"]) == ("off", 0.5)


def test_csv_entities_into_a_tenant(server: Server, tmp_path: Path) -> None:
    path = tmp_path / "poles.csv"
    path.write_text(
        "id,type,name,height,lit\nurn:ngsi-ld:Pole:1,Pole,north,12.5,true\nurn:ngsi-ld:Pole:2,Pole,,7,\n"
    )
    result = run(path, "--url", server.url + "/ngsi-ld/v1/", "--tenant", "bulk_city")
    assert result.exit_code == 0, result.output
    url = f"{server.url}/ngsi-ld/v1/entities"
    params = {"type": "Pole", "options": "keyValues"}
    got = httpx.get(url, params=params, headers={"NGSILD-Tenant": "bulk_city"}, timeout=10).json()
    assert sorted(got, key=lambda e: e["id"]) == [
        {"id": "urn:ngsi-ld:Pole:1", "type": "Pole", "name": "north", "height": 12.5, "lit": True},
        {"id": "urn:ngsi-ld:Pole:2", "type": "Pole", "height": 7},
    ]
    assert httpx.get(url, params=params, timeout=10).json() == []


def test_only_the_first_20_rejected_rows_are_printed(server: Server, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [b"{"] * 25)
    result = run(path, "--url", server.url)
    assert result.exit_code == 1
    assert "line 20: not valid JSON" in result.output and "line 21:" not in result.output
    assert "... and 5 more (--rejects FILE keeps them all)" in result.output


def test_an_unreachable_server_is_a_usage_error(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [light(1)])
    result = run(path, "--url", f"http://127.0.0.1:{free_port()}")
    assert result.exit_code == 2
    assert "cannot reach CityFabric at http://127.0.0.1:" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("name", "content", "args", "says"),
    [
        (None, b"", (), "does not exist"),
        ("data.txt", b"{}", (), "--format jsonl or --format csv"),
        ("data.csv", b"name,value\nx,1\n", (), "must name the columns id and type"),
        ("data.csv", b"", (), "the CSV file is empty"),
        ("data.jsonl", b"{}", ("--tenant", "no spaces"), "a tenant name is"),
        ("data.jsonl", b"{}", ("--batch-size", "0"), "--batch-size"),
        ("data.jsonl", b"{}", ("--url", "127.0.0.1:8000"), "--url must be an http://"),
    ],
)
def test_usage_errors(
    server: Server,
    tmp_path: Path,
    name: str | None,
    content: bytes,
    args: tuple[str, ...],
    says: str,
) -> None:
    path = tmp_path / (name or "missing.jsonl")
    if name:
        path.write_bytes(content)
    result = run(path, "--url", server.url, *args)
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert "Traceback" not in result.output


def series(eid: str, values: list[float]) -> dict[str, Any]:
    return {
        "id": eid,
        "type": "WeatherObserved",
        "temperature": [
            {"type": "Property", "value": v, "observedAt": f"2024-03-01T{h:02d}:00:00.000Z"}
            for h, v in enumerate(values)
        ],
    }


def history(server: Server, eid: str, **params: str) -> dict[str, Any]:
    resp = httpx.get(f"{server.url}{TEMPORAL}/{eid}", params=params, timeout=10)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def test_jsonl_time_series(server: Server, tmp_path: Path, temporal: None) -> None:
    lines = [
        series("urn:ngsi-ld:WeatherObserved:bulk-1", [1.0, 2.0, 3.0]),
        series("urn:ngsi-ld:WeatherObserved:bulk-2", [4.0, 5.0]),
        {**series("urn:ngsi-ld:WeatherObserved:bulk-3", [1, 2]), "type": 7},  # bad type
    ]
    result = run(write_jsonl(tmp_path / "ts.jsonl", lines), "--url", server.url)
    assert result.exit_code == 1, result.output
    assert "instances written: 5 (of 2 entities)" in result.output
    assert "line 3 (urn:ngsi-ld:WeatherObserved:bulk-3):" in result.output
    body = history(server, "urn:ngsi-ld:WeatherObserved:bulk-1", options="temporalValues")
    assert [v for v, _ in body["temperature"]["values"]] == [1.0, 2.0, 3.0]


def test_csv_time_series(server: Server, tmp_path: Path, temporal: None) -> None:
    rows = ["id,type,observedAt,temperature,humidity"]
    rows += [
        f"urn:ngsi-ld:WeatherObserved:csv-{n % 3},WeatherObserved,{at},{n}.5,{n}"
        for n, at in ((n, f"2024-03-01T{n:02d}:00:00Z") for n in range(24))
    ]
    rows.append("urn:ngsi-ld:WeatherObserved:csv-0,WeatherObserved,not a time,1,1")
    path = tmp_path / "ts.csv"
    path.write_text("\n".join(rows) + "\n")
    result = run(path, "--url", server.url)
    assert result.exit_code == 1, result.output
    assert "instances written: 48 (of 3 entities)" in result.output
    assert "line 26 (urn:ngsi-ld:WeatherObserved:csv-0): observedAt 'not a time'" in result.output
    body = history(server, "urn:ngsi-ld:WeatherObserved:csv-1", options="temporalValues")
    assert [v for v, _ in body["temperature"]["values"]] == [n + 0.5 for n in range(1, 24, 3)]
    assert [v for v, _ in body["humidity"]["values"]] == list(range(1, 24, 3))


def test_time_series_without_the_temporal_api_is_a_usage_error(
    server: Server, tmp_path: Path
) -> None:
    paths = httpx.get(f"{server.url}/openapi.json", timeout=10).json()["paths"]
    if "post" in paths.get(TEMPORAL, {}):
        pytest.skip("the temporal API is served: this checks the message when it is not")
    path = write_jsonl(tmp_path / "ts.jsonl", [series("urn:ngsi-ld:WeatherObserved:x", [1, 2])])
    result = run(path, "--url", server.url)
    assert result.exit_code == 2
    assert "does not offer POST /ngsi-ld/v1/temporal/entities" in result.output
