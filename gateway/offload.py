"""Running tokenstore's blocking work off the event loop.

Two bounded pools: one for bcrypt checks, one for SQLite. Keeping them apart means a burst
of cold logins (each ~0.25 s of bcrypt) never queues the quick database reads that health
checks and warm token requests need.
"""

import asyncio
import contextvars
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class Offload:
    """Owns the thread pools; ``close`` shuts them down."""

    def __init__(self, bcrypt_threads: int | None = None, database_threads: int = 4):
        # bcrypt releases the GIL, so one thread per core uses the machine fully; more
        # would only add queueing inside the pool instead of in front of it.
        self._bcrypt = ThreadPoolExecutor(bcrypt_threads or os.cpu_count() or 2, thread_name_prefix="bcrypt")
        self._database = ThreadPoolExecutor(database_threads, thread_name_prefix="sqlite")

    async def bcrypt(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run ``fn`` (which does bcrypt work) in the bcrypt pool; returns its result."""
        return await self._run(self._bcrypt, fn, *args, **kwargs)

    async def database(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run ``fn`` (which does SQLite work) in the database pool; returns its result."""
        return await self._run(self._database, fn, *args, **kwargs)

    @staticmethod
    async def _run(pool: ThreadPoolExecutor, fn, *args, **kwargs):
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(pool, call)

    def close(self) -> None:
        self._bcrypt.shutdown(wait=True, cancel_futures=True)
        self._database.shutdown(wait=True, cancel_futures=True)
