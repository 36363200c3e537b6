"""The probes: ``GET /livez`` (the process answers), ``GET /readyz`` and ``GET /healthz`` (the
store answers a read)."""

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


async def livez(request: web.Request) -> web.Response:
    """200 while the process answers: the probe for restarting a hung process, which never
    looks at the store (a database outage is no reason to restart every replica)."""
    return web.json_response({"status": "ok"})


# Seconds a load balancer or client is told to wait before asking a replica that is not ready.
READYZ_RETRY_AFTER = "5"


async def readyz(request: web.Request) -> web.Response:
    """200 when the store answers a read (``store.check()`` in the database pool); 503 with
    Retry-After and the cause in ``reason`` otherwise: the probe for taking a replica out of
    a load balancer's rotation."""
    try:
        await request.app[OFFLOAD].database(request.app[STORE].check)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        reason = exc.cause if isinstance(exc, StoreUnavailable) else "the database did not answer a read"
        log.warning("readiness check failed: %s (%s)", reason, exc.__class__.__name__)
        return web.json_response(
            {"status": "unavailable", "reason": reason}, status=503, headers={"Retry-After": READYZ_RETRY_AFTER},
        )
    return web.json_response({"status": "ok"})
