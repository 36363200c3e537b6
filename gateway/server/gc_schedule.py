"""The collector's schedule inside ``regauth serve``: every ``gc_interval`` seconds (0: never),
on a thread of its own. docs/architecture.md, "The collector's schedule", says why.
"""

import asyncio
import contextlib
import logging

from aiohttp import web

from .. import metrics
from ..appkeys import CONFIG, STORE

log = logging.getLogger(__name__)

# How long shutdown waits for a collection under way.
SHUTDOWN_WAIT = 30.0


async def collect_once(app: web.Application) -> dict[str, int]:
    """Run the collector once off the event loop, with the configured audit log retention;
    returns the rows removed per table."""
    return await asyncio.to_thread(
        app[STORE].collect_garbage, audit_retention=app[CONFIG].audit_retention_seconds,
    )


async def _run_forever(app: web.Application, interval: float, running: list) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            # Shielded, and kept in ``running``: cancelling the schedule at shutdown must not
            # leave the thread collecting after the store it uses was closed.
            collection = asyncio.ensure_future(collect_once(app))
            running[:] = [collection]
            removed = await asyncio.shield(collection)
        except Exception:  # a failed run is logged and retried next time
            metrics.collection_failed()
            log.exception("garbage collection failed; retrying in %s s", interval)
            continue
        metrics.collection_finished(removed)
        if removed:
            log.info("garbage collection removed %s", ", ".join(f"{n} {t}" for t, n in sorted(removed.items())))


async def gc_schedule(app: web.Application):
    """cleanup_ctx: start the schedule when ``gc_interval > 0``, stop it at shutdown."""
    interval = app[CONFIG].gc_interval
    running: list = []
    task = asyncio.create_task(_run_forever(app, interval, running)) if interval > 0 else None
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        # A run under way finishes (each batch is short) before the store is closed.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*running), SHUTDOWN_WAIT)
