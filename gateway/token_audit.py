"""Audit rows for the token endpoint: robot logins that fail, and tokens issued.

A token request must never fail because its audit row could not be written (a busy or full
database): the write is tried once and a failure is logged. The client address comes from
X-Forwarded-For only when the request came through a trusted proxy (``forwarded.py``).
"""

import logging

from aiohttp import web

from tokenstore import Principal

from .appkeys import CONFIG, OFFLOAD, STORE
from .forwarded import client_address

log = logging.getLogger(__name__)

MAX_USER_AGENT = 256


def _client(request: web.Request) -> dict:
    return {
        "ip": client_address(request, request.app[CONFIG].trusted_proxies),
        "user_agent": request.headers.get("User-Agent", "")[:MAX_USER_AGENT] or None,
    }


async def _write(request: web.Request, **kwargs) -> None:
    try:
        await request.app[OFFLOAD].write_soon(request.app[STORE].record_robot_login, **kwargs)
    except Exception as exc:  # noqa: BLE001 - auditing must not fail the token request
        log.warning("could not write the audit row of a token request: %s", exc.__class__.__name__)


async def record_login_failure(request: web.Request, username: str, reason: str | None) -> None:
    """Log ``login_failure`` in the namespace of robot ``username`` (if it exists)."""
    await _write(request, username=username, success=False, reason=reason, **_client(request))


async def record_token_issued(request: web.Request, principal: Principal, scopes, access) -> None:
    """Log ``login_success`` and ``issue_token`` (scopes asked, actions granted) for a robot.

    ``scopes`` are the parsed requested scopes, ``access`` the granted ``tokens.Access``
    entries. Anonymous requests are not logged.
    """
    if not principal.is_robot:
        return
    await _write(
        request, username=principal.username, success=True,
        scopes=[f"{s.resource.type}:{s.resource.name}:{','.join(s.actions)}" for s in scopes],
        access=[a.claim() for a in access],
        **_client(request),
    )
