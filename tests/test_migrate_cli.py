"""`cityfabric migrate` on PostgreSQL and SQLite, and the database URL setting."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cityfabric.cli import app
from cityfabric.config import Settings, from_env
from tests.postgres import Cluster, fresh_database

runner = CliRunner()


def test_migrate_a_postgresql_database_once(pg_cluster: Cluster) -> None:
    url = fresh_database(pg_cluster)
    first = runner.invoke(app, ["migrate", "--database", url])
    assert first.exit_code == 0, first.output
    assert "applied 3 migration(s)" in first.output and "0001_entities" in first.output
    again = runner.invoke(app, ["migrate"], env={"CITYFABRIC_DATABASE_URL": url})
    assert again.exit_code == 0 and "is up to date" in again.output


def test_migrate_the_sqlite_file(tmp_path: Path) -> None:
    done = runner.invoke(app, ["migrate", "--data-dir", str(tmp_path)])
    assert done.exit_code == 0 and "0001_initial" in done.output
    assert (tmp_path / "cityfabric.db").is_file()


def test_unreachable_database_is_an_error_not_a_trace() -> None:
    done = runner.invoke(app, ["migrate", "--database", "postgresql://nobody@127.0.0.1:1/x"])
    assert done.exit_code == 1 and "error:" in done.output


def test_database_url_setting() -> None:
    url = "postgresql://u@127.0.0.1:5432/city"
    assert from_env({"CITYFABRIC_DATABASE_URL": url}).database_url == url
    with pytest.raises(ValueError, match="postgresql://"):
        Settings(database_url="mysql://x")
