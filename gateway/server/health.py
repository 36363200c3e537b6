"""The probes: ``GET /livez`` (the process answers) and ``GET /readyz`` (every check below
passes; ``GET /healthz`` is its former name).

/readyz checks that the store answers a read, that a write commits (made at most once per
WRITE_CHECK_INTERVAL per process: a balancer polling every replica must not cost a write a
poll), that the signing certificate is valid, and that every worker process runs.
docs/operations-logs-health.md describes each.
"""

import asyncio
import datetime
import logging
import time
import weakref

from aiohttp import web

from tokenstore import StoreUnavailable

from ..appkeys import OFFLOAD, STORE
from ..token.live_keyring import KEYRING, signing_key
from . import worker_status

log = logging.getLogger(__name__)

# Seconds a load balancer or client is told to wait before asking a replica that is not ready.
READYZ_RETRY_AFTER = "5"
# How long (seconds) the outcome of the write check stands before the next probe writes again.
WRITE_CHECK_INTERVAL = 1.0
OK = "ok"


class _WriteCheck:
    """The last write check of one application: when, its outcome, and the lock that lets
    one probe write while the others wait for its outcome."""

    def __init__(self):
        self.at: float | None = None
        self.outcome = OK
        self.lock = asyncio.Lock()


# Per application (tests run several in one process); gone with it.
_write_checks: "weakref.WeakKeyDictionary[web.Application, _WriteCheck]" = weakref.WeakKeyDictionary()


async def livez(request: web.Request) -> web.Response:
    """200 while the process answers: the probe for restarting a hung process, which never
    looks at the store (a database outage is no reason to restart every replica)."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """200 with ``{"status": "ok", "checks": {...}}`` when every check passes; else 503 with
    Retry-After, ``status`` "unavailable", each check's outcome ("ok" or the failure in
    words) in ``checks``, and the first failure in ``reason``: the probe for taking a
    replica out of a load balancer's rotation."""
    checks = {"store_read": await _store_read(request.app)}
    checks["store_write"] = await _store_write(request.app) if checks["store_read"] == OK else "not tried: no read"
    checks["signing_key"] = _signing_key(request.app)
    checks["workers"] = _workers()
    failing = [outcome for outcome in checks.values() if outcome != OK]
    if not failing:
        return web.json_response({"status": "ok", "checks": checks})
    log.warning("not ready: %s", "; ".join(f"{name}: {outcome}" for name, outcome in checks.items() if outcome != OK))
    return web.json_response(
        {"status": "unavailable", "reason": failing[0], "checks": checks},
        status=503, headers={"Retry-After": READYZ_RETRY_AFTER},
    )


# The former name, kept for the probes configured before /livez and /readyz existed.
healthz = readyz


async def _store_read(app: web.Application) -> str:
    try:
        await app[OFFLOAD].database(app[STORE].check)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return _cause(exc, "the database did not answer a read")
    return OK


async def _store_write(app: web.Application) -> str:
    """The outcome of a committed write through the writer thread, as it was at most
    WRITE_CHECK_INTERVAL seconds ago; probes arriving together share one write."""
    state = _write_checks.get(app)
    if state is None:
        state = _write_checks[app] = _WriteCheck()
    async with state.lock:
        if state.at is None or time.monotonic() - state.at >= WRITE_CHECK_INTERVAL:
            try:
                await app[OFFLOAD].write(app[STORE].record_readiness)
                state.outcome = OK
            except Exception as exc:  # noqa: BLE001 - any failure means not ready
                state.outcome = _cause(exc, "a write to the database did not commit")
            state.at = time.monotonic()
        return state.outcome


def _cause(exc: Exception, otherwise: str) -> str:
    """The store's cause in words (never a driver's message, which may hold a host, user or
    path), else ``otherwise``."""
    return exc.cause if isinstance(exc, StoreUnavailable) else otherwise


def _signing_key(app: web.Application) -> str:
    if app.get(KEYRING) is None:
        return "no signing key is loaded"
    key = signing_key(app)
    if key.certificate_expires <= datetime.datetime.now(datetime.UTC):
        return f"the signing certificate expired at {key.certificate_expires.isoformat()}"
    return OK


def _workers() -> str:
    table = worker_status.shared()
    problems = table.problems() if table is not None else []
    return "; ".join(problems) if problems else OK
