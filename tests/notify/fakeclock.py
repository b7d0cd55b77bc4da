"""A clock that tests move by hand, and how to give it to a running app's notifier."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from cityfabric.app import create_app
from cityfabric.config import Settings
from cityfabric.notify.clock import iso, iso_clock
from tests.conftest import SDM_CONTEXTS

DAY = 86_400.0


@dataclass
class FakeClock:
    """Seconds since the epoch; starts a day ahead of real time.

    Rows the store queues are stamped with the real time, so a clock ahead of it sees
    them as due at once, and moving it forward is all a test needs to do.
    """

    now: float = field(default_factory=lambda: time.time() + DAY)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def iso(self, offset: float = 0.0) -> str:
        return iso(self.now + offset)


def use_clock(app: FastAPI, clock: FakeClock) -> None:
    """Make delivery, the matcher, periodic notifications and expiry read `clock`."""
    app.state.delivery.clock = clock
    app.state.periodic.clock = clock
    app.state.subscriptions.clock = iso_clock(clock)


@contextlib.contextmanager
def clocked_app(tmp_path: Path, **settings: Any) -> Iterator[tuple[TestClient, FakeClock]]:
    """The app delivering on its own loop (no delivery process), on a clock the test
    moves; `settings` adds to or replaces the defaults."""
    app = create_app(
        Settings(
            **{
                "data_dir": tmp_path / "data",
                "context_cache": SDM_CONTEXTS,
                "notification_process": False,
                **settings,
            }
        )
    )
    clock = FakeClock()
    use_clock(app, clock)
    with TestClient(app, base_url="http://testserver") as client:
        yield client, clock
