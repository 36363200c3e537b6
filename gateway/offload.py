"""Running tokenstore's blocking work off the event loop: a pool for bcrypt checks, a
batching pool for database reads, and one writer thread that commits every write waiting
for it in one transaction. docs/architecture.md, "Offloading", says why each is built so.
"""

import asyncio
import contextvars
import functools
import logging
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

from . import metrics

if TYPE_CHECKING:
    from tokenstore import AccessReads
    from tokenstore.interface import TokenStore

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


class Offload:
    """Owns the thread pools; ``close`` shuts them down."""

    def __init__(
        self, bcrypt_threads: int | None = None, database_threads: int = DEFAULT_DATABASE_THREADS, *,
        store: "TokenStore | None" = None,
    ):
        """``store`` is the store whose database ``write`` jobs write to; without it each
        write job commits on its own."""
        # bcrypt releases the GIL, so one thread per core uses the machine fully; more
        # would only add queueing inside the pool instead of in front of it.
        self._bcrypt = ThreadPoolExecutor(
            bcrypt_threads or os.cpu_count() or 2, thread_name_prefix="bcrypt", initializer=_yield_to_requests,
        )
        self._database = BatchingPool(database_threads, thread_name_prefix="database")
        self._store = store
        if store is None:
            self._writer = BatchingPool(1, thread_name_prefix="writer")
            self._housekeeping = None
            return
        self._writer = BatchingPool(1, thread_name_prefix="writer", run_batch=store.run_batch)
        self._housekeeping = store.housekeeping()

    async def bcrypt(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run ``fn`` (which does bcrypt work) in the bcrypt pool; returns its result."""
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._bcrypt, call)

    async def database(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run ``fn`` (which reads the database) in the database pool; returns its result."""
        return await self._database.run(fn, *args, **kwargs)

    async def write(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run ``fn`` (a short database write) on the writer thread, committed together with
        the other writes waiting at that moment; returns its result once committed.

        Raises what ``fn`` raised (its savepoint is rolled back), or the error that made the
        whole transaction fail (e.g. the database stayed locked for the busy timeout).
        """
        return await self._writer.run(fn, *args, **kwargs)

    async def write_reading(self, reads: "AccessReads | None", fn: Callable[..., T], *args) -> T:
        """Run ``fn`` like ``write``; ``reads`` says what it will read (a token issuance's
        confirmation and roles), which the store may read for the whole batch at once."""
        return await self._writer.submit_reading(reads, fn, *args)

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
        if self._housekeeping is not None:
            self._housekeeping.close()
        if self._store is not None:
            self._store.close_writer()


def _settle(waited: asyncio.Future) -> None:
    if not waited.done():
        waited.set_result(None)


def _log_late_failure(write: asyncio.Future) -> None:
    if not write.cancelled() and write.exception() is not None:
        metrics.audit_write_failed()  # write_soon writes only the audit rows of refused logins
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

    With ``run_batch`` (the store's: it runs a list of zero-argument jobs in one
    transaction, each in a savepoint, given what each will read, and returns one (ok, result
    or exception) per job), each batch is one transaction.
    """

    def __init__(
        self, threads: int, *, thread_name_prefix: str,
        run_batch: Callable[[list[Callable[[], object]], list["AccessReads | None"]], list[tuple[bool, object]]]
        | None = None,
    ):
        self._run_in_transaction = run_batch
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
        return self.submit_reading(None, fn, *args, **kwargs)

    def submit_reading(self, reads: "AccessReads | None", fn: Callable[..., T], *args, **kwargs) -> "asyncio.Future[T]":
        """``submit``, with what the job will read (``run_batch``'s ``reads``)."""
        future = asyncio.get_running_loop().create_future()
        self._jobs.put((future.get_loop(), future, contextvars.copy_context(), fn, args, kwargs, reads))
        return future

    def close(self) -> None:
        """Stop the threads once the jobs already queued have run; waits for them."""
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()

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
        if self._run_in_transaction is None:
            return [_outcome(context, fn, args, kwargs) for _, _, context, fn, args, kwargs, _ in batch]
        jobs = [functools.partial(context.run, fn, *args, **kwargs) for _, _, context, fn, args, kwargs, _ in batch]
        try:
            return self._run_in_transaction(jobs, [reads for *_, reads in batch])
        except Exception as exc:  # noqa: BLE001 - every caller hears why; the thread goes on
            return [(False, exc)] * len(batch)


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
