"""The `cityfabric` command line."""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from cityfabric.analytics.cli import evaluate_app
from cityfabric.analytics.forecast_cli import forecast_command
from cityfabric.config import ENV_PREFIX, Settings, from_env, to_env
from cityfabric.ingest import bulk_cli
from cityfabric.migrate_cli import migrate_command, migrate_store_command

SHUTDOWN_GRACE = 5  # seconds open requests (event streams) get before the server stops

app = typer.Typer(help="CityFabric: an open urban digital platform.", no_args_is_help=True)
err = Console(stderr=True)
app.command("import")(bulk_cli.import_command)
app.add_typer(evaluate_app, name="evaluate")
app.command("forecast")(forecast_command)
app.command("migrate")(migrate_command)
app.command("migrate-store")(migrate_store_command)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _option(name: str, text: str) -> Any:
    return typer.Option(help=text, envvar=ENV_PREFIX + name.upper(), show_envvar=True)


def _check_ingest(settings: Settings) -> None:
    """Refuse a bad MQTT URL or profiles file before starting (ValueError says why)."""
    from cityfabric.ingest.profiles import load_profiles_file
    from cityfabric.ingest.session import parse_mqtt_url
    from cityfabric.ngsild.errors import NgsiLdError

    if settings.mqtt_url:
        parse_mqtt_url(settings.mqtt_url)
    if settings.device_profiles is not None:
        try:
            load_profiles_file(settings.device_profiles)
        except NgsiLdError as bad:
            raise ValueError(bad.detail) from None


@app.command()
def run(
    host: Annotated[str | None, _option("host", "address to bind")] = None,
    port: Annotated[int | None, _option("port", "TCP port")] = None,
    data_dir: Annotated[Path | None, _option("data_dir", "folder of the store")] = None,
    database: Annotated[
        str | None, _option("database_url", "postgresql://... to run on PostgreSQL")
    ] = None,
    context_cache: Annotated[
        Path | None, _option("context_cache", "folder of @context files with an index.json")
    ] = None,
    workers: Annotated[int | None, _option("workers", "API processes sharing the store")] = None,
    mqtt: Annotated[
        str | None, _option("mqtt_url", "MQTT broker to ingest from, e.g. mqtt://127.0.0.1:1883")
    ] = None,
    device_profiles: Annotated[
        Path | None, _option("device_profiles", "YAML or JSON file of device profiles to load")
    ] = None,
    demo: Annotated[
        bool, typer.Option(help="stream the demo cities into this server (`cityfabric demo`)")
    ] = False,
    demo_backfill: Annotated[
        float, typer.Option(help="with --demo: days of history to generate first", min=0)
    ] = 1.0,
    demo_scale: Annotated[
        float, typer.Option(help="with --demo: asset count factor (1: ~5,000 assets)", min=0.001)
    ] = 1.0,
) -> None:
    """Start the NGSI-LD broker on the SQLite store, or PostgreSQL with --database (--demo:
    with the demo city)."""
    try:
        settings = from_env(
            host=host,
            port=port,
            data_dir=data_dir,
            database_url=database,
            context_cache=context_cache,
            workers=workers,
            mqtt_url=mqtt,
            device_profiles=device_profiles,
        )
        _check_ingest(settings)
    except ValueError as bad:
        err.print(f"[red]error:[/] {bad}")
        raise typer.Exit(2) from None
    if not _loopback(settings.host):
        err.print(
            f"[yellow]warning:[/] binding to {settings.host} without authentication: "
            "anyone who can reach this address can read and change the city's data"
        )
    client = _start_demo(settings, demo_backfill, demo_scale) if demo else None
    try:
        _serve(settings)
    finally:
        if client is not None:
            _stop_demo(client)


def _start_demo(settings: Settings, backfill: float, scale: float) -> subprocess.Popen[bytes]:
    """`cityfabric demo` in its own process (its simulator must not share the server's
    GIL); it waits for /health and writes through the HTTP API like any client."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    host = f"[{host}]" if ":" in host else host
    args = ["--url", f"http://{host}:{settings.port}", "--wait", "60"]
    args += ["--backfill", str(backfill), "--scale", str(scale)]
    command = [sys.executable, "-m", "cityfabric", "demo", *args]
    return subprocess.Popen(command, preexec_fn=_die_with_parent)


def _die_with_parent() -> None:
    """Ask Linux to send SIGINT to the demo when the server's process ends, however it
    ends (uvicorn re-raises SIGTERM after shutdown, so no `finally` of ours runs then)."""
    if sys.platform == "linux":
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGINT)  # PR_SET_PDEATHSIG


def _stop_demo(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # the demo stops cleanly on Ctrl-C
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _serve(settings: Settings) -> None:
    import uvicorn

    from cityfabric.app import create_app

    if settings.workers > 1:
        # each worker process builds its app from the environment; the store is shared
        os.environ.update(to_env(settings))
        uvicorn.run(
            "cityfabric.app:app_from_env",
            factory=True,
            workers=settings.workers,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            access_log=False,
            timeout_graceful_shutdown=SHUTDOWN_GRACE,
        )
        return
    uvicorn.run(
        create_app(settings, settle_heap=True),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=SHUTDOWN_GRACE,
    )


@app.command()
def version() -> None:
    """Print the version."""
    from cityfabric import __version__

    typer.echo(__version__)


demo_app = typer.Typer(help="The demo city: create, backfill and stream it into a CityFabric.")
app.add_typer(demo_app, name="demo")


def _cities(city: str) -> tuple[str, ...]:
    from cityfabric.demo.runner import resolve_cities

    try:
        return resolve_cities(city)
    except ValueError as bad:
        err.print(f"[red]error:[/] {bad} (or all)")
        raise typer.Exit(2) from None


@demo_app.callback(invoke_without_command=True)
def demo(
    ctx: typer.Context,
    url: Annotated[str, typer.Option(help="the CityFabric to write to")] = "http://127.0.0.1:8000",
    city: Annotated[
        str, typer.Option(help="tianjin-eco, tashkent, minsk or all (each city its own tenant)")
    ] = "all",
    scale: Annotated[
        float, typer.Option(help="asset count factor; 1 is ~5,000 assets", min=0.001)
    ] = 1.0,
    seed: Annotated[int, typer.Option(help="seed of the city, its weather and faults")] = 0,
    speed: Annotated[
        float, typer.Option(help="simulated seconds per real second (live)", min=0.001)
    ] = 1.0,
    backfill: Annotated[float, typer.Option(help="days of history to generate first", min=0)] = 0.0,
    once: Annotated[
        bool, typer.Option(help="create and backfill, then exit (no live stream)")
    ] = False,
    wait: Annotated[float, typer.Option(hidden=True, help="seconds to wait for /health")] = 0.0,
) -> None:
    """Create the demo city through the NGSI-LD API, backfill its history, then stream it live."""
    if ctx.invoked_subcommand is not None:
        return
    import asyncio

    from cityfabric.demo.client import DemoError
    from cityfabric.demo.runner import DemoOptions, async_demo

    options = DemoOptions(url, _cities(city), scale, seed, speed, backfill, once, wait=wait)
    try:
        asyncio.run(async_demo(options, err))
    except DemoError as bad:
        err.print(f"[red]error:[/] {bad}")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        err.print("demo stopped")


@demo_app.command("labels")
def demo_labels(
    city: Annotated[str, typer.Option(help="tianjin-eco, tashkent, minsk or all")] = "all",
    scale: Annotated[float, typer.Option(help="as given to `cityfabric demo`", min=0.001)] = 1.0,
    seed: Annotated[int, typer.Option(help="as given to `cityfabric demo`")] = 0,
    start: Annotated[
        str | None,
        typer.Option(help="start date YYYY-MM-DD, as the demo printed (default: today UTC)"),
    ] = None,
    days: Annotated[float, typer.Option(help="days covered, as the demo printed", min=0.01)] = 30.0,
    fmt: Annotated[str, typer.Option("--format", help="json or csv")] = "json",
    out: Annotated[
        Path | None, typer.Option(help="file to write (default: standard output)")
    ] = None,
) -> None:
    """Export the injected faults (ground truth): a function of city, scale, seed, start, days."""
    from datetime import UTC, date, datetime

    from cityfabric.demo.runner import labels_document

    if fmt not in ("json", "csv"):
        err.print(f"[red]error:[/] --format must be json or csv, not {fmt!r}")
        raise typer.Exit(2)
    try:
        day = date.fromisoformat(start) if start else datetime.now(UTC).date()
    except ValueError:
        err.print(f"[red]error:[/] --start must be a date like 2025-06-01, not {start!r}")
        raise typer.Exit(2) from None
    text = labels_document(_cities(city), scale, seed, day, days, fmt)
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
        err.print(f"labels written to {out}")
