"""The dashboard's files, settings and notification sink (api/ui.py), in-process."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cityfabric.app import create_app
from cityfabric.config import Settings


@pytest.fixture
def built(tmp_path: Path) -> Path:
    """A stand-in for Vite's output: index.html and one hashed asset."""
    root = tmp_path / "ui_dist"
    (root / "ui").mkdir(parents=True)
    (root / "index.html").write_text('<!doctype html><script src="/ui/index-abc.js"></script>')
    (root / "ui" / "index-abc.js").write_text("console.log(1)")
    return root


def _client(settings: Settings) -> TestClient:
    return TestClient(create_app(settings), base_url="http://testserver")


@pytest.fixture
def ui_client(settings: Settings, built: Path) -> Iterator[TestClient]:
    with _client(
        replace(settings, ui_dir=built, ui_tile_url="https://t.example/{z}/{x}/{y}.png")
    ) as c:
        yield c


def test_index_and_assets_are_served(ui_client: TestClient) -> None:
    index = ui_client.get("/")
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    assert "/ui/index-abc.js" in index.text
    asset = ui_client.get("/ui/index-abc.js")
    assert asset.status_code == 200
    assert asset.headers["content-type"].startswith("text/javascript")
    assert "immutable" in asset.headers["cache-control"]


@pytest.mark.parametrize("name", ["missing.js", ".hidden", "..%2Findex.html"])
def test_unknown_files_are_problems(ui_client: TestClient, name: str) -> None:
    r = ui_client.get(f"/ui/{name}")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["title"] == "ResourceNotFound"


def test_missing_build_says_to_run_make_install(settings: Settings, tmp_path: Path) -> None:
    with _client(replace(settings, ui_dir=tmp_path / "nothing")) as c:
        r = c.get("/")
    assert r.status_code == 503
    assert r.headers["content-type"] == "application/problem+json"
    assert "make install" in r.json()["detail"]


def test_api_paths_are_not_shadowed(ui_client: TestClient) -> None:
    assert ui_client.get("/health").json()["status"] == "ok"
    assert ui_client.get("/openapi.json").json()["paths"]["/"]
    assert ui_client.get("/ngsi-ld/v1/entities?type=Streetlight").json() == []


def test_config_and_sink(ui_client: TestClient) -> None:
    assert ui_client.get("/cityfabric/v1/ui/config").json() == {
        "tileUrl": "https://t.example/{z}/{x}/{y}.png"
    }
    r = ui_client.post("/cityfabric/v1/ui/notifications", json={"type": "Notification"})
    assert r.status_code == 204
