"""The single writer thread: group commit of queued jobs.

The thread takes the first queued job, drains whatever else is queued (up to
`max_group` ops), runs them all in one `BEGIN IMMEDIATE ... COMMIT` and only
after COMMIT resolves each caller's future on its event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from cityfabric.ngsild.errors import InternalError
from cityfabric.store.base import Mutation, WriteResult
from cityfabric.store.sqlite.group import Group

log = logging.getLogger(__name__)


@dataclass
class Job:
    tenant: str
    ops: Sequence[tuple[str, Mutation]]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[list[WriteResult]]


_STOP = object()


class Writer:
    """Owns the write connection and the thread that uses it."""

    def __init__(self, conn: sqlite3.Connection, *, max_group: int) -> None:
        self._conn = conn
        self._max_group = max_group
        self._queue: queue.Queue[Job | object] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="cityfabric-sqlite-writer")
        self.tids: dict[str, int] = {
            name: tid for tid, name in conn.execute("SELECT tid, name FROM tenants")
        }
        self.commits = 0  # transactions committed, for tests and stats

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def submit(self, job: Job) -> None:
        """Queue a job; its future is resolved after the commit that holds it."""
        self._queue.put(job)

    def stop(self) -> None:
        """Finish every queued job, then stop the thread (blocking)."""
        self._queue.put(_STOP)
        self._thread.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            jobs, stopping = self._drain(first)
            self._commit_group(jobs)

    def _drain(self, first: Job | object) -> tuple[list[Job], bool]:
        assert isinstance(first, Job)
        jobs, size = [first], len(first.ops)
        while size < self._max_group:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if not isinstance(job, Job):
                return jobs, True
            jobs.append(job)
            size += len(job.ops)
        return jobs, False

    def _commit_group(self, jobs: list[Job]) -> None:
        group = Group(self._conn, self.tids)
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            results = [group.run(job.tenant, job.ops) for job in jobs]
            group.write()
            self._conn.execute("COMMIT")
        except Exception as err:
            log.exception("group commit of %d jobs failed", len(jobs))
            if self._conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):  # the error is reported to callers
                    self._conn.execute("ROLLBACK")
            failure = InternalError(f"the write could not be committed: {err}")
            for job in jobs:
                _resolve(job, exception=failure)
            return
        self.commits += 1
        self.tids.update(group.tids)
        for job, job_results in zip(jobs, results, strict=True):
            _resolve(job, results=job_results)


def _resolve(
    job: Job, *, results: list[WriteResult] | None = None, exception: Exception | None = None
) -> None:
    def settle() -> None:
        if job.future.done():
            return
        if exception is not None:
            job.future.set_exception(exception)
        else:
            job.future.set_result(results or [])

    with contextlib.suppress(RuntimeError):  # the caller's loop is closed: nobody waits
        job.loop.call_soon_threadsafe(settle)
