"""Audit rows for the token endpoint: robot and app token logins that fail, and who asked.

A refused login must not fail because its audit row could not be written (a busy or full
database): that write is tried once and a failure is logged. A token issued is different:
its rows are written in the transaction that issues it (``issuance``), and without
them there is no token. The client address comes from X-Forwarded-For only when the request
came through a trusted proxy (``gateway.edge.forwarded``).
"""

import logging

from aiohttp import web

from tokenstore.app_tokens import claims_person

from .. import metrics
from ..appkeys import CONFIG, OFFLOAD, STORE
from ..edge.forwarded import client_address

log = logging.getLogger(__name__)

MAX_USER_AGENT = 256


def client_fields(request: web.Request) -> dict:
    """Return the audit row's ``ip`` and ``user_agent`` of the request."""
    return {
        "ip": client_address(request, request.app[CONFIG].trusted_proxies),
        "user_agent": request.headers.get("User-Agent", "")[:MAX_USER_AGENT] or None,
    }


async def record_login_failure(request: web.Request, username: str, reason: str | None, client: dict) -> None:
    """Log ``login_failure`` in the namespace of robot ``username``, or of the person of
    that name (if it exists), with ``client`` (``client_fields`` of the request); a write
    that fails is logged, not raised."""
    store = request.app[STORE]
    record = store.record_user_login if claims_person(username) else store.record_robot_login
    try:
        await request.app[OFFLOAD].write_soon(record, username=username, success=False, reason=reason, **client)
    except Exception as exc:  # noqa: BLE001 - auditing a refusal must not turn it into an error
        metrics.audit_write_failed()
        log.warning("could not write the audit row of a refused login: %s", exc.__class__.__name__)
