"""In-process fan-out of notifications to live event streams (`api/events.py`).

The delivery worker offers every Notification it builds on first attempt to the
streams open for that subscription; each stream has a bounded queue, and a stream
that does not keep up loses messages (it is told so by a `dropped` count) rather
than holding up delivery. Streams see only what this process delivers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Final

QUEUE: Final = 1000  # notifications waiting per stream before it starts losing them

Key = tuple[str, str]  # (tenant, subscription id)


@dataclass(eq=False)
class Listener:
    """One open stream: its queue and how many notifications it has lost."""

    queue: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(QUEUE))
    dropped: int = 0


class Streams:
    """The open streams per subscription."""

    def __init__(self) -> None:
        self._open: dict[Key, set[Listener]] = {}

    @contextmanager
    def listen(self, tenant: str, subscription_id: str) -> Iterator[Listener]:
        """Receive the subscription's notifications while the block runs."""
        key = (tenant, subscription_id)
        listener = Listener()
        self._open.setdefault(key, set()).add(listener)
        try:
            yield listener
        finally:
            listeners = self._open.get(key, set())
            listeners.discard(listener)
            if not listeners:
                self._open.pop(key, None)

    def wanted(self, tenant: str, subscription_id: str) -> bool:
        """Whether a stream is open for the subscription (so the offer is worth building)."""
        return (tenant, subscription_id) in self._open

    def offer(self, tenant: str, subscription_id: str, notification: bytes) -> None:
        """Queue one Notification (JSON) on every stream of the subscription."""
        for listener in self._open.get((tenant, subscription_id), ()):
            try:
                listener.queue.put_nowait(notification)
            except asyncio.QueueFull:
                listener.dropped += 1
