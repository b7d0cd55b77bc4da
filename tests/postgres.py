"""A throwaway PostgreSQL 15 + PostGIS cluster on a free 127.0.0.1 port for store tests.

`.ci/run` installs the `postgresql-15-postgis-3` Debian package. Without it, a local run
skips the PostgreSQL tests with the reason; under CI (CI=true) they fail instead, so a
missing install step cannot turn CI green.

initdb refuses to run as root: when the tests run as root, the cluster is created and
run as the `postgres` system user (the Debian package creates it) through `runuser`.
fsync stays on: the durability tests mean it.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

BIN_DIRS = ("/usr/lib/postgresql/15/bin",)
POSTGIS_CONTROL = Path("/usr/share/postgresql/15/extension/postgis.control")
USER = "cityfabric"
TEMPLATE = "cf_template"


@dataclass(frozen=True)
class Cluster:
    host: str
    port: int
    folder: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@{self.host}:{self.port}/{database}"


def postgres_bin() -> Path | None:
    """The folder of initdb, pg_ctl and postgres, when PostgreSQL 15 and PostGIS are installed."""
    for folder in BIN_DIRS:
        if (Path(folder) / "initdb").is_file() and POSTGIS_CONTROL.is_file():
            return Path(folder)
    return None


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_postgres() -> Path:
    """The binaries' folder; skips the test when they are missing (fails under CI)."""
    folder = postgres_bin()
    if folder is None:
        reason = (
            "PostgreSQL 15 with PostGIS is not installed"
            " (apt-get install postgresql-15-postgis-3); .ci/run installs it"
        )
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _as_owner(argv: list[str]) -> list[str]:
    """Run as `postgres` when we are root (initdb and postgres refuse root)."""
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


def _run(argv: list[str]) -> None:
    done = subprocess.run(_as_owner(argv), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stderr or done.stdout}")


@contextmanager
def running_cluster() -> Iterator[Cluster]:
    """initdb into a temporary folder, start the server, stop it and remove the folder."""
    bindir = require_postgres()
    folder = Path(tempfile.mkdtemp(prefix="cityfabric-pg-"))
    os.chmod(folder, 0o755)
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    data, sockets, log = folder / "data", folder / "sockets", folder / "server.log"
    port = _free_port()
    try:
        initdb = [str(bindir / "initdb"), "-D", str(data), "-U", USER, "--auth=trust"]
        _run([*initdb, "-E", "UTF8", "--locale=C", "--no-instructions"])
        _run(["mkdir", "-p", str(sockets)])
        options = (
            f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=on"
            " -c max_connections=200 -c shared_buffers=64MB"
        )
        pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60"]
        _run([*pg_ctl, "-o", options, "start"])
        cluster = Cluster("127.0.0.1", port, folder)
        _make_template(cluster)
        yield cluster
    finally:
        if (data / "postmaster.pid").exists():
            _run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(folder, ignore_errors=True)


def _make_template(cluster: Cluster) -> None:
    """A template database with PostGIS, so each test's database is a fast copy."""
    import psycopg

    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {TEMPLATE}")
    with psycopg.connect(cluster.url(TEMPLATE), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION postgis")


_numbers = itertools.count(1)


def fresh_database(cluster: Cluster) -> str:
    """A new empty database (PostGIS installed) on the cluster; its URL."""
    import psycopg

    name = f"t{os.getpid()}_{next(_numbers)}_{int(time.time() * 1000) % 100000}"
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    return cluster.url(name)
