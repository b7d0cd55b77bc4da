"""WAL checkpoints on their own thread and connection, off the writer's path.

The write connection runs with `wal_autocheckpoint = 0`: with SQLite's default,
the COMMIT that pushes the WAL past 1000 pages also copies the WAL into the
database file (and syncs both) before returning, which halves the writer's
throughput. Instead the writer calls `notify()` after every COMMIT and this
thread runs `PRAGMA wal_checkpoint(PASSIVE)` once `every` commits have piled
up. SQLite releases the GIL while it checkpoints, so the copy uses the other
core while the writer keeps appending to the WAL; a passive checkpoint never
takes the write lock and never waits for readers.

A passive checkpoint that runs while the writer keeps appending rarely sees
the WAL fully copied when the writer starts its next transaction, and only
then does SQLite rewind the WAL to its start; under sustained load it would
keep growing. So when a passive checkpoint reports more than `max_frames`
frames in the WAL, the thread sets `rewind_due`, and the writer, before its
next BEGIN, runs one passive checkpoint itself: it copies only the frames of
the last commit or two (the rest were copied here), so that transaction
starts on a fully copied WAL and rewinds it (the file is then cut back to
`journal_size_limit`). When the writer has been idle for `idle` seconds this
thread runs `wal_checkpoint(TRUNCATE)`, which empties the WAL file; its busy
timeout is short (`busy_ms`), so a long reader makes it give up until the
next idle period instead of holding up the writer. The WAL cannot grow
without bound.

Durability is unchanged: a write is acknowledged only after its COMMIT into
the WAL with the configured `synchronous`; a checkpoint only moves committed
frames into the database file, syncing the WAL before it does.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger(__name__)


class Checkpointer:
    """Owns the checkpoint connection and the thread that uses it."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        every: int = 4,
        idle: float = 0.25,
        max_frames: int = 4096,
        busy_ms: int = 100,
    ) -> None:
        self._conn = conn
        self._every = max(every, 1)
        self._idle = idle
        self._max_frames = max_frames
        self._busy_ms = busy_ms
        self._cond = threading.Condition()
        self._pending = 0  # commits since the last checkpoint
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="cityfabric-sqlite-checkpoint")
        self.checkpoints = 0  # checkpoints run, for tests and stats
        self.truncations = 0  # TRUNCATE checkpoints that emptied the WAL
        self.rewind_due = False  # read and cleared by the writer (see the module doc)

    def start(self) -> None:
        """Start the checkpoint thread."""
        self._conn.execute(f"PRAGMA busy_timeout = {int(self._busy_ms)}")
        self._thread.start()

    def notify(self) -> None:
        """Called by the writer after each COMMIT (cheap; never blocks on I/O)."""
        with self._cond:
            self._pending += 1
            if self._pending >= self._every:
                self._cond.notify()

    def stop(self) -> None:
        """Stop the thread (blocking), checkpoint what is left and close the connection."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join()
        self._checkpoint("TRUNCATE")
        self._conn.close()

    def _run(self) -> None:
        dirty = False  # the WAL may hold frames since the last TRUNCATE
        while True:
            with self._cond:
                if self._pending < self._every and not self._stopping:
                    self._cond.wait(timeout=self._idle if dirty or self._pending else None)
                if self._stopping:
                    return
                pending, self._pending = self._pending, 0
            if pending:  # `every` commits, or fewer and then the writer went idle
                if self._checkpoint("PASSIVE") > self._max_frames:
                    self.rewind_due = True  # sustained load: the writer rewinds the WAL
                dirty = True
            elif dirty:  # idle since the last checkpoint: rewind the WAL
                dirty = self._checkpoint("TRUNCATE") != 0

    def _checkpoint(self, mode: str) -> int:
        """Run one checkpoint; the frames left in the WAL (0 once it is truncated)."""
        try:
            busy, frames, _ = self._conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        except sqlite3.Error:
            log.warning("wal_checkpoint(%s) failed", mode, exc_info=True)
            return -1
        self.checkpoints += 1
        if busy:
            return -1
        if mode == "TRUNCATE":
            self.truncations += 1
        return max(int(frames), 0)
