"""The single writer thread: group commit of queued jobs.

The thread takes the first queued job, drains whatever else is queued (up to
`max_group` ops), runs them all in one `BEGIN IMMEDIATE ... COMMIT` and only
after COMMIT resolves each caller's future on its event loop.

The write connection never checkpoints the WAL in its COMMITs
(`wal_autocheckpoint = 0`): after each COMMIT the writer notifies the
`Checkpointer` (`checkpoint.py`), whose own thread and connection copy the WAL
into the database file while the writer goes on with the next group. Only when
the checkpointer reports the WAL too long under sustained load does the writer
run one short passive checkpoint before its BEGIN, so that SQLite rewinds the
WAL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cityfabric.ngsild.errors import InternalError, NgsiLdError
from cityfabric.store.base import ChangeHook, Mutation, Push, WriteResult
from cityfabric.store.sqlite import outbox
from cityfabric.store.sqlite.checkpoint import Checkpointer
from cityfabric.store.sqlite.group import Group
from cityfabric.store.sqlite.history import HistoryWriter

log = logging.getLogger(__name__)


@dataclass
class Job:
    tenant: str
    ops: Sequence[tuple[str, Mutation]]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[list[WriteResult]]


Call = Callable[[Group], Any]


@dataclass
class CallJob:
    """A write that is not an entity mutation (history, retention rules), run in a savepoint.

    `fn` gets the group (its connection, tenant ids and history writer); what it
    returns resolves the future, an `NgsiLdError` it raises rejects this job only.
    """

    fn: Call
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    appends: bool = False  # only appends history rows: no need to flush earlier rows first


_STOP = object()
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024  # bytes the WAL file is cut back to when rewound


class Writer:
    """Owns the write connection and the thread that uses it."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        checkpointer: Checkpointer,
        *,
        max_group: int,
        keep_history_on_delete: bool = False,
    ) -> None:
        conn.execute("PRAGMA wal_autocheckpoint = 0")  # the checkpointer's job
        conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
        self._conn = conn
        self._checkpointer = checkpointer
        self._max_group = max_group
        self._queue: queue.Queue[Job | CallJob | object] = queue.Queue()
        self.history = HistoryWriter(conn, keep_on_delete=keep_history_on_delete)
        self._thread = threading.Thread(target=self._run, name="cityfabric-sqlite-writer")
        self.tids: dict[str, int] = {
            name: tid for tid, name in conn.execute("SELECT tid, name FROM tenants")
        }
        self.commits = 0  # transactions committed, for tests and stats
        self.rewinds = 0  # passive checkpoints run by the writer to rewind the WAL
        self.change_hook: ChangeHook | None = None  # queues notifications (outbox.py)
        self.on_queued: Callable[[], None] | None = None  # after a commit that queued some
        self.push: Push | None = None  # queued rows go in claimed, and to it after the commit

    def start(self) -> None:
        """Start the writer and checkpoint threads."""
        self._checkpointer.start()
        self._thread.start()

    def submit(self, job: Job | CallJob) -> None:
        """Queue a job; its future is resolved after the commit that holds it."""
        self._queue.put(job)

    def stop(self) -> None:
        """Finish every queued job, stop both threads and close their connections (blocking)."""
        self._queue.put(_STOP)
        self._thread.join()
        self._checkpointer.stop()
        self._conn.close()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            jobs, stopping = self._drain(first)
            self._commit_group(jobs)

    def _drain(self, first: Job | CallJob | object) -> tuple[list[Job | CallJob], bool]:
        assert isinstance(first, Job | CallJob)
        jobs: list[Job | CallJob] = [first]
        size = len(first.ops) if isinstance(first, Job) else 1
        while size < self._max_group:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if not isinstance(job, Job | CallJob):
                return jobs, True
            jobs.append(job)
            size += len(job.ops) if isinstance(job, Job) else 1
        return jobs, False

    def _commit_group(self, jobs: list[Job | CallJob]) -> None:
        if self._checkpointer.rewind_due:
            self._rewind()
        group = Group(self._conn, self.tids, self.history)
        entity_jobs = [job for job in jobs if isinstance(job, Job)]
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            self.history.begin()
            group.preload([(job.tenant, job.ops) for job in entity_jobs])
            results: list[Settlement] = [
                (job, group.run(job.tenant, job.ops), None) for job in entity_jobs
            ]
            group.write()
            due_at = self.push.claimed_until() if self.push is not None else None
            queued = outbox.queue(group, self.change_hook, due_at) if self.change_hook else []
            results += [self._call(group, job) for job in jobs if isinstance(job, CallJob)]
            self.history.flush()
            self._conn.execute("COMMIT")
        except Exception as err:
            log.exception("group commit of %d jobs failed", len(jobs))
            if self._conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):  # the error is reported to callers
                    self._conn.execute("ROLLBACK")
            self.history.forget()
            failure = InternalError(f"the write could not be committed: {err}")
            _resolve([(job, None, failure) for job in jobs])
            return
        self.commits += 1
        self.tids.update(group.tids)
        if queued and self.push is not None:  # before the writes are acknowledged
            self.push.hand(queued)
        _resolve(results)
        self._checkpointer.notify()
        if queued and self.push is None and self.on_queued is not None:
            self.on_queued()

    def _call(self, group: Group, job: CallJob) -> Settlement:
        """Run one call job in a savepoint: its NGSI-LD error undoes it alone.

        Rows appended by jobs are written once for the whole group, unless a job
        reads or changes stored history (then what came before it is written first).
        """
        if not job.appends:
            self.history.flush()
        mark = self.history.mark()
        self._conn.execute("SAVEPOINT call_job")
        try:
            result = job.fn(group)
            if not job.appends:
                self.history.flush()
        except NgsiLdError as err:
            self._conn.execute("ROLLBACK TO call_job")
            self._conn.execute("RELEASE call_job")
            self.history.undo(mark)
            return (job, None, err)
        self._conn.execute("RELEASE call_job")
        return (job, result, None)

    def _rewind(self) -> None:
        """Copy the last frames, so the next transaction starts on a fully copied WAL."""
        try:
            busy, _, _ = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error:
            log.warning("wal_checkpoint(PASSIVE) in the writer failed", exc_info=True)
            return
        if not busy:  # otherwise the checkpointer is at it: try again before the next group
            self._checkpointer.rewind_due = False
            self.rewinds += 1


Settlement = tuple[Job | CallJob, Any, Exception | None]


def _resolve(settlements: list[Settlement]) -> None:
    """Settle the futures: one wake-up per event loop, however many jobs it waits for."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Settlement]] = {}
    for settlement in settlements:
        by_loop.setdefault(settlement[0].loop, []).append(settlement)
    for loop, batch in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the caller's loop is closed: nobody waits
            loop.call_soon_threadsafe(_settle, batch)


def _settle(batch: list[Settlement]) -> None:
    for job, results, exception in batch:
        if job.future.done():
            continue
        if exception is not None:
            job.future.set_exception(exception)
        else:
            job.future.set_result(results)
