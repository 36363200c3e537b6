"""Watching the database file inside ``regauth serve``: once a second, check that the file at
the database's path is still the one the server opened.

SQLite in WAL mode goes on reading and writing a database file that was removed (or replaced
by another) while open, and every change is lost at the next start. The check (one stat, in
the database pool) makes the store refuse every use from then on and log an ERROR, so that
requests get a 503 naming the cause and /healthz reports it; writes check the file too, just
before they begin, so the check here bounds how long a read-only server goes unnoticed.
"""

import asyncio
import contextlib
import logging

from aiohttp import web

from tokenstore.database import DatabaseReplaced

from .appkeys import OFFLOAD, STORE

log = logging.getLogger(__name__)

WATCH_INTERVAL = 1.0


async def _watch(app: web.Application, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await app[OFFLOAD].database(app[STORE].verify_file)
        except DatabaseReplaced:
            return  # logged once by the store; it now refuses every use
        except Exception as exc:  # noqa: BLE001 - a failed stat is tried again next time
            log.warning("could not check the database file: %s", exc)


async def database_watch(app: web.Application):
    """cleanup_ctx: check the database file every WATCH_INTERVAL seconds until shutdown."""
    task = asyncio.create_task(_watch(app, WATCH_INTERVAL))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
