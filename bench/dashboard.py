"""First render of the dashboard: navigation start -> the map's first rendered asset features.

    .venv/bin/python bench/dashboard.py                      # starts its own scale-1 demo city
    .venv/bin/python bench/dashboard.py --url http://127.0.0.1:8000 --city minsk

Without --url it starts `cityfabric run --demo --demo-backfill 0` (scale 1: ~5,000 assets in
the port city) on a free loopback port and waits until the demo streams live. Each run opens
the dashboard in a fresh browser context (empty cache, like a first visit) in Debian's
chromium, headless, WebGL in software (SwiftShader), and reads the dashboard's own mark
(`window.__cityfabric.firstRenderMs`, taken when queryRenderedFeatures first finds asset
features after the data of every layer is in) and `idleMs` (the map's first `idle` after
it: every layer drawn). Prints the runs and their medians.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import free_port

ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]


@contextlib.contextmanager
def demo_server(tmp: Path) -> Iterator[str]:
    port = free_port()
    log = tmp / "server.log"
    cmd = [sys.executable, "-m", "cityfabric", "run", "--port", str(port)]
    cmd += ["--data-dir", str(tmp / "data"), "--demo", "--demo-backfill", "0"]
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=os.environ)
    try:
        deadline = time.monotonic() + 180
        while "live:" not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the demo city did not start:\n{log.read_text()}")
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(20)


def measure(url: str, city: str, runs: int, width: int, height: int) -> list[dict[str, float]]:
    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
        for _ in range(runs):
            context = browser.new_context(viewport={"width": width, "height": height})
            page = context.new_page()
            page.goto(f"{url}/?city={city}")
            page.wait_for_function(
                "window.__cityfabric && window.__cityfabric.idleMs", timeout=60_000
            )
            out.append(
                page.evaluate(
                    """() => ({
                        firstRenderMs: window.__cityfabric.firstRenderMs,
                        idleMs: window.__cityfabric.idleMs,
                        assets: window.__cityfabric.assets,
                        features: window.__cityfabric.assetFeatures(),
                        domContentLoadedMs: performance.getEntriesByType('navigation')[0]
                            .domContentLoadedEventEnd,
                    })"""
                )
            )
            context.close()
        browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running CityFabric with the demo city")
    parser.add_argument("--city", default="tianjin-eco")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size", default="1280x800", help="viewport, WIDTHxHEIGHT")
    args = parser.parse_args()
    width, height = (int(x) for x in args.size.split("x"))
    with contextlib.ExitStack() as stack:
        url = args.url
        if url is None:
            url = stack.enter_context(
                demo_server(Path(stack.enter_context(tempfile.TemporaryDirectory())))
            )
        results = measure(url, args.city, args.runs, width, height)
    for r in results:
        print(
            f"first render {r['firstRenderMs']:5.0f} ms, all drawn {r['idleMs']:5.0f} ms "
            f"(DOMContentLoaded "
            f"{r['domContentLoadedMs']:5.0f} ms)  {r['assets']:,} assets, "
            f"{r['features']:,} rendered features"
        )
    first = statistics.median(r["firstRenderMs"] for r in results)
    idle = statistics.median(r["idleMs"] for r in results)
    print(
        f"median first render {first:.0f} ms, all drawn {idle:.0f} ms, "
        f"over {len(results)} runs ({args.city}, {args.size})"
    )


if __name__ == "__main__":
    main()
