"""In-process fan-out of notifications to live event streams (`api/events.py`).

The delivery worker offers every Notification it builds on first attempt to the
streams open for that subscription; each stream has a bounded queue, and a stream
that does not keep up loses messages (it is told so by a `dropped` count) rather
than holding up delivery. When delivery runs in its own process (`process.py`), that
process asks `wanted` and calls `offer` through the socket it shares with this one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Final, Protocol

QUEUE: Final = 1000  # notifications waiting per stream before it starts losing them

Key = tuple[str, str]  # (tenant, subscription id)


@dataclass(eq=False)
class Listener:
    """One open stream: its queue and how many notifications it has lost."""

    queue: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(QUEUE))
    dropped: int = 0


class Offers(Protocol):
    """Where the delivery worker offers notifications for event streams."""

    def wanted(self, tenant: str, subscription_id: str) -> bool: ...

    def offer(self, tenant: str, subscription_id: str, notification: bytes) -> None: ...


class Streams:
    """The open streams per subscription; `on_change(key, open)` when a subscription gets
    its first stream or loses its last one."""

    def __init__(self, on_change: Callable[[Key, bool], None] | None = None) -> None:
        self._open: dict[Key, set[Listener]] = {}
        self._on_change = on_change

    @contextmanager
    def listen(self, tenant: str, subscription_id: str) -> Iterator[Listener]:
        """Receive the subscription's notifications while the block runs."""
        key = (tenant, subscription_id)
        listener = Listener()
        first = key not in self._open
        self._open.setdefault(key, set()).add(listener)
        if first and self._on_change is not None:
            self._on_change(key, True)
        try:
            yield listener
        finally:
            listeners = self._open.get(key, set())
            listeners.discard(listener)
            closed = not listeners and self._open.pop(key, None) is not None
            if closed and self._on_change is not None:
                self._on_change(key, False)

    def open_keys(self) -> list[Key]:
        """The subscriptions with a stream open."""
        return list(self._open)

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
