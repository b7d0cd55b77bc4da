"""The `cityfabric` command line answers bad settings with a clear error, not a traceback."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cityfabric.cli import app


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["run", "--port", "eighty"], {}, "integer"),
        (["run"], {"CITYFABRIC_READERS": "many"}, "CITYFABRIC_READERS"),
        (["run"], {"CITYFABRIC_WORKERS": "two"}, "integer"),
    ],
)
def test_bad_settings_are_reported(args: list[str], env: dict[str, str], says: str) -> None:
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 2
    assert says in result.output
    assert "Traceback" not in result.output


def test_version() -> None:
    result = CliRunner().invoke(app, ["version"])
    assert result.exit_code == 0 and result.output.strip()
