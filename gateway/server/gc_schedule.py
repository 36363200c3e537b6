"""The collector's schedule inside ``regauth serve``: every ``gc_interval`` seconds (0: never),
on a thread of its own. docs/architecture.md, "The collector's schedule", says why.
"""

import asyncio
import contextlib
import logging

from aiohttp import web

from ..appkeys import CONFIG, STORE

log = logging.getLogger(__name__)


async def collect_once(app: web.Application) -> dict[str, int]:
    """Run the collector once off the event loop, with the configured audit log retention;
    returns the rows removed per table."""
    return await asyncio.to_thread(
        app[STORE].collect_garbage, audit_retention=app[CONFIG].audit_retention_seconds,
    )


async def _run_forever(app: web.Application, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            removed = await collect_once(app)
        except Exception:  # noqa: BLE001 - a failed run is logged and retried next time
            log.exception("garbage collection failed; retrying in %s s", interval)
            continue
        if removed:
            log.info("garbage collection removed %s", ", ".join(f"{n} {t}" for t, n in sorted(removed.items())))


async def gc_schedule(app: web.Application):
    """cleanup_ctx: start the schedule when ``gc_interval > 0``, stop it at shutdown."""
    interval = app[CONFIG].gc_interval
    task = asyncio.create_task(_run_forever(app, interval)) if interval > 0 else None
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
