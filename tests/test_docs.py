"""Docs that tests keep honest: every setting and every endpoint is documented."""

from __future__ import annotations

import re
from dataclasses import fields

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from cityfabric.app import ROUTERS
from cityfabric.config import ENV_PREFIX, Settings, from_env
from tests.conftest import ROOT


def test_every_setting_is_documented() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    for f in fields(Settings):
        assert f"`{ENV_PREFIX}{f.name.upper()}`" in text, f.name


def test_every_endpoint_is_documented(client: TestClient) -> None:
    text = (ROOT / "docs" / "api.md").read_text()
    documented = set(re.findall(r"^\| (\w+) \| `([^`]+)` \|", text, re.M))
    served = {
        (method, re.sub(r"\{contextId\}", "{context_id}", route.path))
        for module in ROUTERS
        for route in module.router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    assert len(served) >= 25
    assert served <= documented, served - documented
    paths = client.get("/openapi.json").json()["paths"]
    assert {p for _, p in served} <= {re.sub(r"\{contextId\}", "{context_id}", p) for p in paths}


def test_settings_from_environment() -> None:
    s = from_env({"CITYFABRIC_PORT": "9000", "CITYFABRIC_DATA_DIR": "/tmp/x"}, host="0.0.0.0")
    assert (s.port, str(s.data_dir), s.host) == (9000, "/tmp/x", "0.0.0.0")
