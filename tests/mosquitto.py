"""Start a real Mosquitto broker on a free 127.0.0.1 port for MQTT tests.

`.ci/run` installs the `mosquitto` Debian package. Without it, a local run skips
the MQTT tests with the reason; under CI (CI=true) they fail instead, so a
missing install step cannot turn CI green.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

SEARCH = ("/usr/sbin", "/usr/local/sbin", "/sbin")


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


def mosquitto_binary() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    for folder in SEARCH:
        candidate = Path(folder) / "mosquitto"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def require_mosquitto() -> str:
    """The broker's path; skips the test when it is missing (fails under CI)."""
    binary = mosquitto_binary()
    if binary is None:
        reason = "mosquitto is not installed (apt-get install mosquitto); .ci/run installs it"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason)
        pytest.skip(reason)
    return binary


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def write_config(folder: Path, port: int) -> Path:
    """A broker that keeps persistent sessions on disk and queues without limit."""
    persistence = folder / "persistence"
    persistence.mkdir(parents=True, exist_ok=True)
    conf = folder / "mosquitto.conf"
    conf.write_text(
        "\n".join(
            [
                f"listener {port} 127.0.0.1",
                # started as root, mosquitto would switch to user mosquitto, who cannot
                # write the persistence folder
                f"user {getpass.getuser()}",
                "allow_anonymous true",
                "persistence true",
                f"persistence_location {persistence}/",
                "autosave_interval 60",
                # the bridge acks after the commit, so many messages are in flight at once;
                # a stopped bridge's persistent session must queue every message published
                "max_inflight_messages 0",
                "max_queued_messages 0",
                "max_queued_bytes 0",
                "log_dest stderr",
                "log_type error",
                "log_type warning",
                "log_type notice",
                "",
            ]
        )
    )
    return conf


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mosquitto exited early:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"mosquitto did not listen on {port}:\n{log.read_text()}")


@contextmanager
def running_mosquitto(tmp_path: Path) -> Iterator[Broker]:
    """Mosquitto on a free loopback port with its config and persistence in `tmp_path`."""
    binary = require_mosquitto()
    folder = tmp_path / "mosquitto"
    folder.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    conf = write_config(folder, port)
    log = folder / "mosquitto.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [binary, "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT, cwd=folder
        )
    try:
        _wait_listening(port, process, log)
        yield Broker("127.0.0.1", port, log)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
