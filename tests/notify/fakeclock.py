"""A clock that tests move by hand, and how to give it to a running app's notifier."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from fastapi import FastAPI

from cityfabric.notify.clock import iso, iso_clock

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
