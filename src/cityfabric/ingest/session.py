"""What identifies the bridge to the broker: address, stable client id, reconnect delays."""

from __future__ import annotations

import fcntl
import os
import random
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

CLIENT_ID_FILE = "mqtt-client-id"
MAX_SLOTS = 64  # API processes (`--workers`) that may share one data folder
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_mqtt_url(url: str) -> BrokerAddress:
    """mqtt://[user[:password]@]host[:port] (port 1883) or mqtts://... (port 8883)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as err:
        raise ValueError(f"MQTT URL {url!r}: {err}") from None
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError(f"MQTT URL {url!r} must look like mqtt://host:1883 or mqtts://host:8883")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"MQTT URL {url!r} must not have a path, query or fragment")
    tls = parts.scheme == "mqtts"
    return BrokerAddress(
        host=parts.hostname,
        port=port or (8883 if tls else 1883),
        tls=tls,
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


def base_client_id(configured: str | None, data_dir: Path) -> str:
    """The configured client id, else one generated once per data folder and kept there.

    The broker keeps the persistent session (and the messages queued while
    CityFabric is down) under this id, so it must survive restarts.
    """
    if configured:
        return configured
    path = data_dir / CLIENT_ID_FILE
    try:
        existing = path.read_text().strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        return existing
    data_dir.mkdir(parents=True, exist_ok=True)
    fresh = f"cityfabric-{secrets.token_hex(6)}"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(fresh + "\n")
    os.replace(tmp, path)
    return fresh


class Slot:
    """A per-process slot of the data folder, held by an advisory lock until released.

    Several API processes on one data folder each need their own MQTT session:
    the first takes slot 0 (the base client id), the next slot 1 (`<id>-1`), and
    so on; a restarted process gets a slot back, hence the same session. The
    kernel releases the lock when the process dies, even by SIGKILL.
    """

    def __init__(self, data_dir: Path) -> None:
        self._fd: int | None = None
        self.number = -1
        data_dir.mkdir(parents=True, exist_ok=True)
        for n in range(MAX_SLOTS):
            fd = os.open(data_dir / f"mqtt-slot-{n}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self._fd, self.number = fd, n
            return
        raise RuntimeError(f"more than {MAX_SLOTS} processes share {data_dir}")

    def client_id(self, base: str) -> str:
        return base if self.number == 0 else f"{base}-{self.number}"

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def backoff_delay(attempt: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: half fixed, half random, capped."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0 ** min(attempt, 16))
    jitter: float = (rng or random).uniform(0, ceiling / 2)
    return ceiling / 2 + jitter
