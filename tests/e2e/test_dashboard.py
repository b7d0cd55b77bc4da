"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against a live
CityFabric with the demo city on 127.0.0.1. Screenshots go to test-artifacts/dashboard/."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright import sync_api

from tests.conftest import ROOT
from tests.e2e.server import Server, running_server

pytestmark = pytest.mark.e2e
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
LAMP_CTX = "https://smart-data-models.github.io/dataModel.Streetlighting/context.jsonld"
ALERT_CTX = "https://smart-data-models.github.io/dataModel.Alert/context.jsonld"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--no-first-run",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]
# a small demo city keeps the suite fast; docs/benchmarks.md measures the scale-1 city
LAMPS_SHOWN = (
    "window.__cityfabric.map.queryRenderedFeatures({layers: ['asset-Streetlight']}).length"
)
DEMO = ("--demo", "--demo-scale", "0.3", "--demo-backfill", "0.05")

BUILT = ROOT / "src" / "cityfabric" / "ui_dist" / "index.html"


def _wait_for_demo(server: Server) -> None:
    """Until the demo client has created its cities, backfilled them and streams live."""
    deadline = time.monotonic() + 60
    while "live:" not in server.log.read_text(errors="replace"):
        assert time.monotonic() < deadline, server.log.read_text()
        time.sleep(0.2)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    assert BUILT.is_file(), "the dashboard is not built: run `make install`"
    with running_server(tmp_path_factory.mktemp("dashboard") / "data", extra=DEMO) as s:
        _wait_for_demo(s)
        yield s


@pytest.fixture
def page(server: Server) -> Iterator[Any]:
    """A fresh browser per test: Playwright's threads must not outlive a test."""
    assert CHROMIUM.exists(), "Debian's chromium is missing (.ci/run installs it)"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        context = browser.new_context(
            viewport={"width": 1280, "height": 800}, accept_downloads=True
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.requests = requests  # what the dashboard asked for, for the offline test
        page.goto(server.url + "/")
        page.wait_for_function("window.__cityfabric && window.__cityfabric.ready", timeout=30_000)
        yield page
        page.screenshot(path=str(ARTIFACTS / "last.png"))
        browser.close()
        assert errors == [], errors


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def _rendered(page: Any, layer: str) -> list[dict[str, Any]]:
    features: list[dict[str, Any]] = page.evaluate(
        """(layer) => window.__cityfabric.map.queryRenderedFeatures({layers: [layer]})
            .map((f) => ({id: f.properties.id, state: f.properties.state,
                          coordinates: f.geometry.coordinates}))""",
        layer,
    )
    return features


def _painted_share(page: Any) -> float:
    """The share of the map canvas's pixels that differ from its background colour."""
    share: float = page.evaluate(
        """() => {
            const src = window.__cityfabric.map.getCanvas();
            const c = document.createElement("canvas");
            c.width = src.width; c.height = src.height;
            const ctx = c.getContext("2d");
            ctx.drawImage(src, 0, 0);
            const px = ctx.getImageData(0, 0, c.width, c.height).data;
            let painted = 0;
            for (let i = 0; i < px.length; i += 4) {
                const d = Math.abs(px[i] - 0x11) + Math.abs(px[i + 1] - 0x19)
                    + Math.abs(px[i + 2] - 0x23);
                if (d > 30) painted++;
            }
            return painted / (px.length / 4);
        }"""
    )
    return share


def test_map_shows_the_city_assets(page: Any, server: Server) -> None:
    _shot(page, "map")
    # offline: nothing beyond CityFabric itself (no tiles, fonts, scripts)
    remote = [u for u in page.requests if not u.startswith((server.url, "data:", "blob:"))]
    assert page.requests and remote == []
    assert page.evaluate("window.__cityfabric.assets") > 200
    lamps = _rendered(page, "asset-Streetlight")
    assert len(lamps) > 50
    assert {lamp["state"] for lamp in lamps} <= {"on", "off", "faulty"}
    assert _rendered(page, "asset-Building") and _rendered(page, "asset-RoadSegment")
    assert _painted_share(page) > 0.05, "the map canvas is blank"
    # toggling a layer off hides its features
    page.click("label[for=toggle-Streetlight]")
    page.wait_for_function(f"{LAMPS_SHOWN} === 0")
    page.click("label[for=toggle-Streetlight]")
    page.wait_for_function(f"{LAMPS_SHOWN} > 0")


def test_clicking_an_asset_shows_its_history_chart(page: Any) -> None:
    lamp = _rendered(page, "asset-Streetlight")[0]
    x, y = page.evaluate(
        "(c) => { const p = window.__cityfabric.map.project(c); return [p.x, p.y]; }",
        lamp["coordinates"],
    )
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_selector("#panel:not([hidden]) #history-chart canvas", timeout=10_000)
    page.wait_for_function(
        "Number(document.querySelector('#history-chart')?.dataset.points) > 0", timeout=10_000
    )
    assert "Streetlight" in page.inner_text("#panel")
    _shot(page, "asset-panel")
    page.select_option("#history-range", "7d")  # aggregated (avg per hour)
    page.wait_for_function(
        "document.querySelector('#history-status').textContent.includes('points')"
    )
    page.keyboard.press("Escape")
    assert page.locator("#panel").is_hidden()


def _forecast(lamp: str, hours: int) -> dict[str, Any]:
    """A Forecast entity as the forecast service stores it (analytics/forecast_entity.py)."""
    start = time.time() // 3600 * 3600 + 3600
    times = [
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + 3600 * h)) for h in range(hours)
    ]
    attr = "https://smartdatamodels.org/dataModel.Streetlighting/powerConsumption"

    def prop(value: Any) -> dict[str, Any]:
        return {"type": "Property", "value": value}

    return {
        "id": f"urn:ngsi-ld:Forecast:{lamp.removeprefix('urn:ngsi-ld:')}:powerConsumption",
        "type": "Forecast",
        "refEntity": {"type": "Relationship", "object": lamp},
        "attribute": {"type": "VocabProperty", "vocab": attr},
        "model": prop("ets"),
        "frequency": prop("PT1H"),
        "horizon": prop(f"PT{hours}H"),
        "levels": prop([80]),
        "forecast": {
            "type": "JsonProperty",
            "json": {
                "times": times,
                "mean": [50.0] * hours,
                "lo80": [40.0] * hours,
                "hi80": [60.0] * hours,
            },
        },
        "parameters": {"type": "JsonProperty", "json": {"model": "auto", "history": "P42D"}},
    }


def test_the_history_chart_draws_a_stored_forecast(page: Any, server: Server) -> None:
    tenant = page.evaluate("window.__cityfabric.tenant")
    lamp = f"urn:ngsi-ld:Streetlight:{tenant}-2"
    r = httpx.post(
        f"{server.url}/ngsi-ld/v1/entities",
        json=_forecast(lamp, 6),
        headers={"NGSILD-Tenant": tenant},
    )
    assert r.status_code == 201, r.text
    page.evaluate("(id) => window.__cityfabric.open(id)", lamp)
    page.wait_for_function(
        "document.querySelector('#history-chart')?.dataset.forecast === '6'", timeout=10_000
    )
    assert "forecast (ets)" in page.inner_text("#history-status")
    _shot(page, "forecast")


def test_an_alert_created_through_the_api_appears_without_reload(page: Any, server: Server) -> None:
    page.wait_for_function("document.querySelector('#alert-count').textContent.includes('live')")
    tenant = page.evaluate("window.__cityfabric.tenant")
    alert_id = f"urn:ngsi-ld:Alert:dashboard-test-{time.time_ns()}"
    headers = {
        "NGSILD-Tenant": tenant,
        "Link": f'<{ALERT_CTX}>; rel="http://www.w3.org/ns/json-ld#context"; '
        'type="application/ld+json"',
    }
    alert = {
        "id": alert_id,
        "type": "Alert",
        "category": {"type": "Property", "value": "environment"},
        "severity": {"type": "Property", "value": "high"},
        "alertSource": {"type": "Property", "value": f"urn:ngsi-ld:Streetlight:{tenant}-1"},
        "dateIssued": {
            "type": "Property",
            "value": {"@type": "DateTime", "@value": "2099-01-01T00:00:00Z"},
        },
        "description": {"type": "Property", "value": "dashboard test: lamp dark at night"},
    }
    r = httpx.post(f"{server.url}/ngsi-ld/v1/entities", json=alert, headers=headers)
    assert r.status_code == 201, r.text
    row = page.locator(f'#alert-list li[data-id="{alert_id}"]')
    row.wait_for(timeout=10_000)
    assert "lamp dark at night" in row.inner_text()
    _shot(page, "alert-live")
    row.get_by_role("button", name="Acknowledge").click()
    page.wait_for_selector(f'#alert-list li.acknowledged[data-id="{alert_id}"]')
    stored = httpx.get(
        f"{server.url}/ngsi-ld/v1/entities/{alert_id}?options=keyValues", headers=headers
    ).json()
    assert stored["status"] == "acknowledged"


def test_table_pages_filters_and_exports_csv(page: Any, server: Server) -> None:
    page.click("#tab-table")
    page.select_option("#table-type", "Streetlight")
    page.wait_for_function("/ of \\d+/.test(document.querySelector('#table-status').textContent)")
    total = int(page.inner_text("#table-status").rsplit(" of ", 1)[1].replace(",", ""))
    assert page.locator("#table-view tbody tr").count() == min(total, 50)
    page.click("#table-next")
    page.wait_for_function("document.querySelector('#table-status').textContent.startsWith('51')")
    # a static attribute, so the count cannot change while the demo streams
    q = 'locationCategory=="park"'
    expected = httpx.get(
        f"{server.url}/ngsi-ld/v1/entities",
        params={"type": "Streetlight", "q": q, "count": "true", "limit": "1"},
        headers={
            "NGSILD-Tenant": page.evaluate("window.__cityfabric.tenant"),
            "Link": f'<{LAMP_CTX}>; rel="http://www.w3.org/ns/json-ld#context"',
        },
    ).headers["NGSILD-Results-Count"]
    assert 0 < int(expected) < total
    # keyboard: Enter on a focused row opens its asset
    page.focus("#table-view tbody tr")
    page.keyboard.press("Enter")
    page.wait_for_selector("#panel:not([hidden]) #panel-title")
    assert page.evaluate("document.activeElement.id") == "panel-title"
    page.keyboard.press("Escape")
    page.fill("#table-q", q)
    page.press("#table-q", "Enter")
    page.wait_for_function(
        f"document.querySelector('#table-status').textContent.endsWith(' of {expected}')"
    )
    with page.expect_download() as download:
        page.click("#table-csv")
    text = Path(download.value.path()).read_text()
    lines = text.strip().splitlines()
    assert lines[0].startswith("id,type,")
    assert len(lines) == int(expected) + 1
    assert all(",Streetlight," in line and "park" in line for line in lines[1:])
    _shot(page, "table")
    page.click("#tab-map")


def test_switching_city_changes_what_is_shown(page: Any) -> None:
    before = page.evaluate("window.__cityfabric.tenant")
    other = next(t for t in ("minsk", "tashkent", "tianjin-eco") if t != before)
    page.select_option("#city", other)
    page.wait_for_function(
        "(t) => window.__cityfabric.ready && window.__cityfabric.tenant === t", arg=other
    )
    page.wait_for_function(f"{LAMPS_SHOWN} > 0")  # the new city's first frame may come later
    lamps = _rendered(page, "asset-Streetlight")
    assert lamps and all(
        lamp["id"].startswith(f"urn:ngsi-ld:Streetlight:{other}-") for lamp in lamps
    )
    assert other in page.inner_text("#status")
    _shot(page, f"city-{other}")
