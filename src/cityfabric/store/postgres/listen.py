"""Wake-ups across processes: a thread LISTENs on the outbox channel and calls `on_queued`.

Every transaction that queues notifications sends `NOTIFY cityfabric_outbox` (see
`outbox.py`), so the delivery worker of every API process wakes at once instead of at
its next poll. Losing a wake-up only delays delivery to that poll: rows stay queued.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg

from cityfabric.store.postgres.outbox import CHANNEL

log = logging.getLogger(__name__)

RETRY_S = 1.0  # pause before reconnecting after the connection broke


class Listener:
    """One thread with its own connection; `stop` ends it within about `timeout` seconds."""

    def __init__(self, url: str, wake: Callable[[], None], *, timeout: float = 0.5) -> None:
        self._url = url
        self._wake = wake
        self._timeout = timeout
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cityfabric-pg-listen")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    while not self._stop.is_set():
                        # one wake-up per batch of notifications is enough
                        if any(True for _ in conn.notifies(timeout=self._timeout)):
                            self._wake()
            except psycopg.Error:
                log.warning("outbox listener lost its connection; reconnecting", exc_info=True)
                self._stop.wait(RETRY_S)
