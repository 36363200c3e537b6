"""``GET /healthz``: whether this worker's store answers."""

import logging

from aiohttp import web

from tokenstore import StoreUnavailable

from ..appkeys import OFFLOAD, STORE

log = logging.getLogger(__name__)


async def healthz(request: web.Request) -> web.Response:
    """200 when the store answers a read (and, for SQLite, its file is the one opened); 503
    otherwise, with the cause in ``reason`` (e.g. "the database file was removed or replaced
    while the server ran")."""
    try:
        await request.app[OFFLOAD].database(request.app[STORE].check)
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        reason = exc.cause if isinstance(exc, StoreUnavailable) else "the database did not answer a read"
        log.warning("health check failed: %s (%s)", reason, exc.__class__.__name__)
        return web.json_response({"status": "unavailable", "reason": reason}, status=503)
    return web.json_response({"status": "ok"})
