"""Docs that tests keep honest: every setting and every endpoint is documented."""

from __future__ import annotations

import re
from dataclasses import fields

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from cityfabric.config import ENV_PREFIX, Settings, from_env
from tests.conftest import ROOT


def test_every_setting_is_documented() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    for f in fields(Settings):
        assert f"`{ENV_PREFIX}{f.name.upper()}`" in text, f.name


def test_every_endpoint_is_documented(client: TestClient) -> None:
    text = (ROOT / "docs" / "api.md").read_text()
    documented = set(re.findall(r"^\| (\w+) \| `([^`]+)` \|", text, re.M))
    for route in client.app.routes:  # type: ignore[attr-defined]
        if not isinstance(route, APIRoute):
            continue
        path = re.sub(r"\{contextId\}", "{context_id}", route.path)
        for method in route.methods - {"HEAD"}:
            assert (method, path) in documented, (method, route.path)


def test_settings_from_environment() -> None:
    s = from_env({"CITYFABRIC_PORT": "9000", "CITYFABRIC_DATA_DIR": "/tmp/x"}, host="0.0.0.0")
    assert (s.port, str(s.data_dir), s.host) == (9000, "/tmp/x", "0.0.0.0")
