"""The `cityfabric` command line."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from cityfabric.config import ENV_PREFIX, Settings, from_env, to_env
from cityfabric.ingest import bulk_cli

app = typer.Typer(help="CityFabric: an open urban digital platform.", no_args_is_help=True)
err = Console(stderr=True)
app.command("import")(bulk_cli.import_command)


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
) -> None:
    """Start the NGSI-LD broker on the embedded SQLite store."""
    import uvicorn

    from cityfabric.app import create_app

    try:
        settings = from_env(
            host=host,
            port=port,
            data_dir=data_dir,
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
        )
        return
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
    )


@app.command()
def version() -> None:
    """Print the version."""
    from cityfabric import __version__

    typer.echo(__version__)
