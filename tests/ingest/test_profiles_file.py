"""Profiles from a YAML or JSON file, and `cityfabric run --mqtt/--device-profiles` checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cityfabric.cli import app
from cityfabric.ingest.profiles import load_profiles_file
from cityfabric.ngsild.errors import BadRequestData

YAML = """\
profiles:
  - deviceId: pv-1
    entityType: PhotovoltaicMeasurement
    measurements:
      p: {attribute: activePower, unitCode: KWT, scale: 0.001}
      'on': status
  - deviceId: pv-1
    tenant: minsk
    entityType: PhotovoltaicMeasurement
"""


def test_yaml_with_tenants(tmp_path: Path) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text(YAML)
    by_tenant = load_profiles_file(path)
    assert sorted(by_tenant) == ["", "minsk"]
    [pv] = by_tenant[""]
    assert pv.measurements["p"].scale == 0.001 and pv.measurements["on"].attribute == "status"


def test_json_list(tmp_path: Path) -> None:
    path = tmp_path / "devices.json"
    path.write_text('[{"deviceId": "a", "entityType": "Meter"}]')
    assert [p.device_id for p in load_profiles_file(path)[""]] == ["a"]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{a: [", "not valid JSON or YAML"),
        ("deviceId: a", "expected a list of profiles"),
        ("- {deviceId: a, entityType: M, measurements: {on: x}}", "quote keys such as 'on'"),
        ("- deviceId: a\n  entityType: Meter\n  tenant: 'no way'\n", "profile #1: tenant"),
        ("- deviceId: a\n- deviceId: b\n", "profile #1 (device 'a'): entityType"),
    ],
)
def test_bad_files(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text(text)
    with pytest.raises(BadRequestData) as caught:
        load_profiles_file(path)
    assert says in caught.value.detail


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["run", "--mqtt", "http://x"], "MQTT URL 'http://x'"),
        (["run", "--device-profiles", "/nonexistent/p.yaml"], "cannot read device profiles"),
    ],
)
def test_run_refuses_bad_ingest_settings(args: list[str], says: str) -> None:
    result = CliRunner().invoke(app, args, env={"CITYFABRIC_MQTT_URL": ""})
    assert result.exit_code == 2
    assert says in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_mqtt_url_from_the_environment() -> None:
    result = CliRunner().invoke(app, ["run"], env={"CITYFABRIC_MQTT_URL": "mqtt://:1"})
    assert result.exit_code == 2 and "MQTT URL" in result.output
