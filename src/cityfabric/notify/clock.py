"""The notifier's clock: seconds since the epoch, injectable so tests need not sleep.

The delivery worker (retries, leases, throttling, status times), the matcher
(expiresAt) and the periodic worker all read one `Clock`; tests pass a fake one
and move it forward.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from cityfabric.notify.model import instant, utc_text

Clock = Callable[[], float]

system_clock: Clock = time.time


def iso(seconds: float) -> str:
    """`seconds` since the epoch as NGSI-LD writes system times (UTC, milliseconds, "Z")."""
    return utc_text(datetime.fromtimestamp(seconds, UTC))


def seconds(text: str) -> float:
    """An ISO 8601 date-time as seconds since the epoch."""
    return instant(text).timestamp()


def iso_clock(clock: Clock) -> Callable[[], str]:
    """`clock` read as ISO text (for the matcher and the subscription service)."""
    return lambda: iso(clock())
