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

A commit is a millisecond or so. SQLite would also, every 1,000 pages, copy the WAL back
into the database file inside a commit (its automatic checkpoint, with two fsyncs), which on
a busy disk was seen to take from 50 ms to most of a second while every writer of every
worker waited. So the writer's connection does not checkpoint; a thread of its own does,
twice a second: first without holding up anyone, then once more under the writers' lock for
the few pages written meanwhile, so that the next write starts the WAL over from the top
and it stays small. ``write_soon`` (for audit rows) bounds what a reply can wait for a
commit anyway: ``WRITE_WAIT`` seconds, after which the reply goes and the write completes.
"""

import asyncio
import contextvars
import functools
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

from tokenstore.database import WriterLock

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
# How long ``write_soon`` waits for the commit before it returns anyway.
WRITE_WAIT = 0.05
# Seconds between checkpoints, and the WAL size (pages) below which one is skipped (SQLite's
# own automatic checkpoint threshold).
CHECKPOINT_INTERVAL = 0.5
CHECKPOINT_PAGES = 1000


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
        self._bcrypt = ThreadPoolExecutor(
            bcrypt_threads or os.cpu_count() or 2, thread_name_prefix="bcrypt", initializer=_yield_to_requests,
        )
        self._database = BatchingPool(database_threads, thread_name_prefix="sqlite")
        if store is None:
            self._writer = BatchingPool(1, thread_name_prefix="sqlite_writer")
            self._checkpoints = None
            return
        self._writer = BatchingPool(
            1, thread_name_prefix="sqlite_writer", connection=_without_autocheckpoint(store), lock=WriterLock(store.path),
        )
        self._checkpoints = Checkpointer(store, CHECKPOINT_INTERVAL)

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

    async def write_soon(self, fn: Callable[..., object], *args, **kwargs) -> None:
        """Run ``fn`` like ``write``, waiting for its commit at most ``WRITE_WAIT`` seconds.

        Raises what ``write`` raises when that happens within the wait; a write still
        queued or committing then goes on, and logs its failure, if any, itself.
        """
        # What asyncio.wait((write,), timeout=...) does, without the task it would need to
        # wrap a coroutine: one future and one timer per request.
        write = self._writer.submit(fn, *args, **kwargs)
        loop = asyncio.get_running_loop()
        waited = loop.create_future()
        timer = loop.call_later(WRITE_WAIT, _settle, waited)
        write.add_done_callback(lambda _: _settle(waited))
        try:
            await waited
        finally:
            timer.cancel()
        if write.done():
            write.result()
        else:
            write.add_done_callback(_log_late_failure)

    def close(self) -> None:
        self._bcrypt.shutdown(wait=True, cancel_futures=True)
        self._database.close()
        self._writer.close()
        if self._checkpoints is not None:
            self._checkpoints.close()


def _without_autocheckpoint(store: "Store") -> Callable[[], sqlite3.Connection]:
    """Return a function giving the calling thread's connection with automatic checkpoints
    turned off (the Checkpointer does them, outside the commits requests wait for). It
    raises DatabaseReplaced when the database file is no longer the one opened: a commit
    into a removed file would be acknowledged and lost."""
    configured: list[sqlite3.Connection] = []

    def connection() -> sqlite3.Connection:
        store.verify_file()
        conn = store.db.conn
        if conn not in configured:
            conn.execute("PRAGMA wal_autocheckpoint = 0")
            configured[:] = [conn]
        return conn

    return connection


class Checkpointer:
    """Checkpoints the store's WAL every ``interval`` seconds on a thread and connection of
    its own, once it holds ``CHECKPOINT_PAGES`` pages.

    A PASSIVE checkpoint never waits for readers or writers, nor blocks them; but while the
    writers keep appending it never catches up, and the WAL only starts over when a write
    begins with everything copied. So after the long pass, a second one runs holding the
    writers' lock (``tokenstore.database.WriterLock``): it copies only what was written
    during the first, and the next writer then starts the WAL from its beginning.
    """

    def __init__(self, store: "Store", interval: float = CHECKPOINT_INTERVAL):
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(store, interval), name="sqlite_checkpoint", daemon=True,
        )
        self._thread.start()

    def _run(self, store: "Store", interval: float) -> None:
        lock = WriterLock(store.path)
        try:
            while not self._stop.wait(interval):
                try:
                    _, pages, _ = store.db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if pages < CHECKPOINT_PAGES:
                        continue
                    with lock:
                        store.db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as exc:  # tried again next round
                    log.debug("checkpoint skipped: %s", exc)
        finally:
            lock.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def _settle(waited: asyncio.Future) -> None:
    if not waited.done():
        waited.set_result(None)


def _log_late_failure(write: asyncio.Future) -> None:
    if not write.cancelled() and write.exception() is not None:
        log.warning("a write finished after its request had been answered, and failed: %r", write.exception())


# How much lower the bcrypt threads' scheduling priority is than the rest of the process.
BCRYPT_NICENESS = 10


def _yield_to_requests() -> None:
    """Lower the calling (bcrypt) thread's CPU priority.

    A burst of cold logins keeps every core busy with bcrypt for seconds; at a lower priority
    those threads still use all the idle CPU, but the event loop, the database threads and
    the other processes of the machine run first, so health checks and warm token requests
    keep answering in milliseconds. Linux keeps a nice value per thread.
    """
    try:
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + BCRYPT_NICENESS))
    except (AttributeError, OSError) as exc:  # not Linux, or not allowed: run at normal priority
        log.debug("could not lower the priority of a bcrypt thread: %s", exc)


class BatchingPool:
    """A fixed set of threads running short jobs for one event loop, in batches.

    With ``connection`` (a function returning the pool thread's SQLite connection), each
    batch is one transaction and each job runs in a savepoint of its own; with ``lock`` too
    (the database's WriterLock, closed with the pool), each transaction holds it.
    """

    def __init__(
        self, threads: int, *, thread_name_prefix: str, connection: Callable[[], sqlite3.Connection] | None = None,
        lock: WriterLock | None = None,
    ):
        self._connection = connection
        self._lock = lock
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
        return await self.submit(fn, *args, **kwargs)

    def submit(self, fn: Callable[..., T], *args, **kwargs) -> "asyncio.Future[T]":
        """Queue ``fn(*args, **kwargs)`` for a pool thread; returns the running loop's future
        of its result (or error). Must be called on the loop."""
        future = asyncio.get_running_loop().create_future()
        self._jobs.put((future.get_loop(), future, contextvars.copy_context(), fn, args, kwargs))
        return future

    def close(self) -> None:
        """Stop the threads once the jobs already queued have run; waits for them."""
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

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
        try:
            conn = self._connection()
        except sqlite3.Error as exc:  # every caller hears why; the thread goes on
            return [(False, exc)] * len(batch)
        if self._lock is None:
            return self._transaction(conn, batch)
        with self._lock:
            return self._transaction(conn, batch)

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
