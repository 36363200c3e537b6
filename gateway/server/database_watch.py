"""Watching the store inside ``regauth serve``: once a second, ``store.watch()``.

For SQLite that checks that the file at the database's path is still the one opened: a file
removed or replaced makes the store refuse every use from then on. docs/architecture.md,
"The database file watch", says why.
"""

import asyncio
import contextlib
import logging

from aiohttp import web

from tokenstore.errors import StoreReplaced, StoreUnavailable

from ..appkeys import OFFLOAD, STORE

log = logging.getLogger(__name__)

WATCH_INTERVAL = 1.0


async def _watch(app: web.Application, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await app[OFFLOAD].database(app[STORE].watch)
        except StoreReplaced:
            return  # logged once by the store; it now refuses every use
        except StoreUnavailable as exc:
            log.warning("the store's check failed: %s", exc.cause)
        except Exception as exc:  # noqa: BLE001 - a failed stat is tried again next time
            log.warning("could not check the database file: %s", exc)


async def database_watch(app: web.Application):
    """cleanup_ctx: check the database file every WATCH_INTERVAL seconds until shutdown."""
    task = asyncio.create_task(_watch(app, WATCH_INTERVAL))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
