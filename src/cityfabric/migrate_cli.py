"""`cityfabric migrate`: apply the store's pending schema migrations, then exit.

`cityfabric run` applies them on start-up too; this command lets an operator migrate a
PostgreSQL database before starting (or rolling) several API processes on it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from rich.console import Console

from cityfabric.config import ENV_PREFIX, Settings, from_env
from cityfabric.store.postgres import schema as pg_schema
from cityfabric.store.sqlite import schema as sqlite_schema

out = Console()
err = Console(stderr=True)


def migrate_command(
    database: Annotated[
        str | None,
        typer.Option(
            help="postgresql://... database to migrate (default: the SQLite file in --data-dir)",
            envvar=ENV_PREFIX + "DATABASE_URL",
            show_envvar=True,
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="folder of the SQLite store", envvar=ENV_PREFIX + "DATA_DIR", show_envvar=True
        ),
    ] = None,
) -> None:
    """Apply the pending schema migrations of the store and print which ran."""
    try:
        settings = from_env(database_url=database, data_dir=data_dir)
        applied = asyncio.run(asyncio.to_thread(apply_migrations, settings))
    except (ValueError, psycopg.Error, sqlite3.Error) as bad:
        err.print(f"[red]error:[/] {bad}")
        raise typer.Exit(1) from None
    where = settings.database_url or str(settings.database_path)
    if applied:
        out.print(f"applied {len(applied)} migration(s) to {where}: {', '.join(applied)}")
    else:
        out.print(f"{where} is up to date")


def apply_migrations(settings: Settings) -> list[str]:
    """The names of the steps applied now (none when the schema was current)."""
    if settings.database_url:
        with psycopg.connect(settings.database_url, autocommit=True) as pg:
            return pg_schema.migrate(pg)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    lite = sqlite3.connect(settings.database_path, isolation_level=None)
    try:
        return sqlite_schema.migrate(lite)
    finally:
        lite.close()
