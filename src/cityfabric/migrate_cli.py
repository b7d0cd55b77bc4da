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


def migrate_store_command(
    source: Annotated[
        str, typer.Option("--from", help="sqlite:///path/to/cityfabric.db to copy from")
    ],
    target: Annotated[str, typer.Option("--to", help="postgresql://... to copy into")],
) -> None:
    """Copy a city from the SQLite store into PostgreSQL, then count both (exit 1 on a
    difference)."""
    if not source.startswith("sqlite:///") or not target.startswith(
        ("postgresql://", "postgres://")
    ):
        err.print("[red]error:[/] --from takes sqlite:///PATH and --to postgresql://...")
        raise typer.Exit(2)
    path = Path(source.removeprefix("sqlite://"))
    if not path.is_file():
        err.print(f"[red]error:[/] no SQLite store at {path}")
        raise typer.Exit(2)
    try:
        same = asyncio.run(_migrate_store(path, target))
    except (psycopg.Error, sqlite3.Error, RuntimeError) as bad:
        err.print(f"[red]error:[/] {bad}")
        raise typer.Exit(1) from None
    if not same:
        raise typer.Exit(1)


async def _migrate_store(path: Path, url: str) -> bool:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
    from rich.table import Table

    from cityfabric.migrate_store import copy_store, count_store, totals
    from cityfabric.store.postgres import PostgresStore
    from cityfabric.store.sqlite import SqliteStore

    source, target = SqliteStore(path), PostgresStore(url, record_history=False)
    await source.open()
    try:
        await target.open()
        try:
            total = sum((await totals(source)).values())
            columns = (BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            with Progress("{task.description}", *columns, console=out) as bar:
                entities = bar.add_task("entities", total=total)
                instances = bar.add_task("history instances", total=None)

                def advance(what: str, n: int) -> None:
                    bar.advance(entities if what == "entities" else instances, n)

                await copy_store(source, target, advance)
            before, after = await count_store(source), await count_store(target)
        finally:
            await target.close()
    finally:
        await source.close()
    table = Table("tenant", "entities", "history instances", "subscriptions", "check")
    for (tenant, *was), (_, *now) in zip(before.rows(), after.rows(), strict=False):
        cells = [f"{a}" if a == b else f"{a} -> {b}" for a, b in zip(was, now, strict=True)]
        table.add_row(tenant or "(default)", *cells, "ok" if was == now else "DIFFERENT")
    out.print(table)
    same = before.rows() == after.rows()
    out.print("verified: the counts agree" if same else "[red]the counts differ[/]")
    return same
