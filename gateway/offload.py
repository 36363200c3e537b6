"""Running tokenstore's blocking work off the event loop.

Two bounded pools: one for bcrypt checks, one for SQLite. Keeping them apart means a burst
of cold logins (each ~0.25 s of bcrypt) never queues the quick database reads that health
checks and warm token requests need.

The SQLite pool is built for many small jobs. A warm token request needs two reads of a few
index probes each (tens of microseconds), and handing each of them to a thread the usual way
(``run_in_executor``: a concurrent future, a wake-up of the loop's self-pipe per job) costs
more than the read. Here the loop only appends the job to a queue; a pool thread takes every
job waiting, runs them one after the other, and hands all their results back to the loop
with a single wake-up. Under load one wake-up serves dozens of requests; alone, a job makes
the same two thread switches as before.

Writes that a request waits for (its audit rows) go to a third pool of one thread: SQLite
lets one connection write at a time anyway, and the thread commits every write waiting for it
in one transaction (each in a savepoint of its own, so one failing write does not undo the
others). A CI burst then costs a few commits a second instead of one per request. With
several worker processes, their writer threads take turns through a lock file (flock) next
to the database before they begin: a waiting writer is woken the moment the other commits,
where SQLite's own busy handler would poll with sleeps of up to 100 ms.
"""

import asyncio
import contextvars
import fcntl
import functools
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from tokenstore import Store

T = TypeVar("T")

log = logging.getLogger(__name__)

# More than one thread, so that one job stuck on another process's write lock (up to the
# busy timeout) does not hold up every read; few, because each one contends for the GIL.
DEFAULT_DATABASE_THREADS = 2
# How many waiting jobs one thread takes at a time: bounds the extra latency a job sees
# behind the others of its batch (each a few tens of microseconds).
MAX_BATCH = 64


class Offload:
    """Owns the thread pools; ``close`` shuts them down."""

    def __init__(
        self, bcrypt_threads: int | None = None, database_threads: int = DEFAULT_DATABASE_THREADS, *,
        store: "Store | None" = None,
    ):
        """``store`` is the store whose database ``write`` jobs write to; without it each
        write job commits on its own."""
        # bcrypt releases the GIL, so one thread per core uses the machine fully; more
        # would only add queueing inside the pool instead of in front of it.
        self._bcrypt = ThreadPoolExecutor(bcrypt_threads or os.cpu_count() or 2, thread_name_prefix="bcrypt")
        self._database = BatchingPool(database_threads, thread_name_prefix="sqlite")
        self._writer = BatchingPool(
            1, thread_name_prefix="sqlite_writer",
            connection=(lambda: store.db.conn) if store is not None else None,
            lock_path=store.path.with_name(store.path.name + "-writer.lock") if store is not None else None,
        )

    async def bcrypt(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run ``fn`` (which does bcrypt work) in the bcrypt pool; returns its result."""
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._bcrypt, call)

    async def database(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run ``fn`` (which does SQLite work) in the database pool; returns its result."""
        return await self._database.run(fn, *args, **kwargs)

    async def write(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run ``fn`` (a short SQLite write) on the writer thread, committed together with
        the other writes waiting at that moment; returns its result once committed.

        Raises what ``fn`` raised (its savepoint is rolled back), or the error that made the
        whole transaction fail (e.g. the database stayed locked for the busy timeout).
        """
        return await self._writer.run(fn, *args, **kwargs)

    def close(self) -> None:
        self._bcrypt.shutdown(wait=True, cancel_futures=True)
        self._database.close()
        self._writer.close()


class BatchingPool:
    """A fixed set of threads running short jobs for one event loop, in batches.

    With ``connection`` (a function returning the pool thread's SQLite connection), each
    batch is one transaction and each job runs in a savepoint of its own; with ``lock_path``
    too, each transaction holds an exclusive flock on that file.
    """

    def __init__(
        self, threads: int, *, thread_name_prefix: str, connection: Callable[[], sqlite3.Connection] | None = None,
        lock_path: Path | None = None,
    ):
        self._connection = connection
        self._lock_path = lock_path
        self._lock_fd: int | None = None
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"{thread_name_prefix}_{i}", daemon=True) for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    async def run(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run ``fn(*args, **kwargs)`` on a pool thread; returns its result or raises its error.

        The call sees the caller's context variables, as with ``run_in_executor``.
        """
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._jobs.put((loop, future, contextvars.copy_context(), fn, args, kwargs))
        return await future

    def close(self) -> None:
        """Stop the threads once the jobs already queued have run; waits for them."""
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _work(self) -> None:
        jobs = self._jobs
        while True:
            batch = [jobs.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(jobs.get_nowait())
                except queue.Empty:
                    break
            stops = batch.count(None)
            for _ in range(stops - 1):
                jobs.put(None)  # one stop for each thread: hand on the extra ones
            jobs_run = [job for job in batch if job is not None]
            outcomes = self._run_batch(jobs_run) if jobs_run else []
            # Results grouped by loop (one in practice): one wake-up per loop per batch.
            done: dict[asyncio.AbstractEventLoop, list] = {}
            for (loop, future, *_), outcome in zip(jobs_run, outcomes):
                done.setdefault(loop, []).append((future, outcome))
            for loop, results in done.items():
                try:
                    loop.call_soon_threadsafe(_deliver, results)
                except RuntimeError:
                    log.debug("event loop closed before %d database results were delivered", len(results))
            if stops:
                return

    def _run_batch(self, batch: list) -> list[tuple[bool, object]]:
        """Run the jobs; returns one (ok, result or exception) per job."""
        if self._connection is None:
            return [_outcome(context, fn, args, kwargs) for _, _, context, fn, args, kwargs in batch]
        conn = self._connection()
        if self._lock_path is not None and self._lock_fd is None:
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            return self._transaction(conn, batch)
        finally:
            if self._lock_fd is not None:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    @staticmethod
    def _transaction(conn: sqlite3.Connection, batch: list) -> list[tuple[bool, object]]:
        outcomes = []
        try:
            # IMMEDIATE: wait for the write lock once, up front, not once per job.
            conn.execute("BEGIN IMMEDIATE")
            for _, _, context, fn, args, kwargs in batch:
                conn.execute("SAVEPOINT job")
                outcome = _outcome(context, fn, args, kwargs)
                if not conn.in_transaction:
                    raise sqlite3.OperationalError("the transaction was rolled back")
                if not outcome[0]:
                    conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
                outcomes.append(outcome)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            # Nothing of the batch was written; every caller hears why.
            if conn.in_transaction:
                conn.rollback()
            return [(False, exc)] * len(batch)
        return outcomes


def _outcome(context: contextvars.Context, fn, args, kwargs) -> tuple[bool, object]:
    try:
        return True, context.run(fn, *args, **kwargs)
    except BaseException as exc:  # noqa: BLE001 - handed to the awaiting caller
        return False, exc


def _deliver(results: list) -> None:
    """Settle the futures of one batch, on the loop (skipping callers that gave up)."""
    for future, (ok, value) in results:
        if future.cancelled():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
