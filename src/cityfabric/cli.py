"""The `cityfabric` command line."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cityfabric.config import from_env

app = typer.Typer(help="CityFabric: an open urban digital platform.", no_args_is_help=True)
err = Console(stderr=True)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def run(
    host: Annotated[str | None, typer.Option(help="address to bind [env CITYFABRIC_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="port [env CITYFABRIC_PORT]")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="folder of the store [env CITYFABRIC_DATA_DIR]")
    ] = None,
    context_cache: Annotated[
        Path | None,
        typer.Option(
            help="folder of @context files with an index.json [env CITYFABRIC_CONTEXT_CACHE]"
        ),
    ] = None,
) -> None:
    """Start the NGSI-LD broker on the embedded SQLite store."""
    import uvicorn

    from cityfabric.app import create_app

    settings = from_env(host=host, port=port, data_dir=data_dir, context_cache=context_cache)
    if not _loopback(settings.host):
        err.print(
            f"[yellow]warning:[/] binding to {settings.host} without authentication: "
            "anyone who can reach this address can read and change the city's data"
        )
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
