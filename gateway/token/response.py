"""The reply to a token request, shared by ``GET /token`` and ``POST /token``: the token
minted for the principal with its grant, as JSON."""

import json
import logging

from aiohttp import web

from tokenstore import Principal

from ..appkeys import CONFIG
from ..edge import request_id
from .live_keyring import signing_key
from .tokens import Access, MintedToken, mint

log = logging.getLogger(__name__)


def token_response(
    request: web.Request, principal: Principal, access: list[Access], refresh_token: str | None = None,
) -> web.Response:
    """Return the reply carrying a token signed for ``principal`` with ``access`` (the grant,
    already committed with its audit row for a robot).

    The reply carries the token as both ``token`` and ``access_token`` (docker's POST flow
    reads the latter), the granted ``scope``, and ``refresh_token`` when one was issued.
    Shared by ``GET /token`` and the grants of ``POST /token``.
    """
    config = request.app[CONFIG]
    # For the request's access log line; the debug line below carries them too.
    fields = request_id.note(robot=principal.username, outcome="issued")
    if log.isEnabledFor(logging.DEBUG):
        # A debugging aid only: the access log has every request, the audit log every robot
        # token with its grant, and a line per token costs as much as its database work.
        log.debug(
            "token issued sub=%s access=%s",
            principal.username or "<anonymous>",
            ";".join(f"{a.type}:{a.name}:{','.join(a.actions)}" for a in access),
            extra=fields,
        )
    minted = mint(
        signing_key(request.app), issuer=config.issuer, service=config.service,
        subject=principal.username, access=access, ttl=config.token_ttl,
    )
    scope = " ".join(f"{a.type}:{a.name}:{','.join(a.actions)}" for a in access if a.actions)
    return web.Response(body=token_body(minted, scope, refresh_token), content_type="application/json")


def token_body(minted: MintedToken, scope: str, refresh_token: str | None) -> bytes:
    """Return the JSON reply to a token request.

    The token is there twice, as ``token`` and ``access_token`` (docker's POST flow reads the
    latter), with ``expires_in``, ``issued_at``, the granted ``scope`` and, when one was
    issued, ``refresh_token``. Written out directly: json.dumps scanning two copies of a
    1.5 KB token for characters to escape cost a third of what signing it did, and a JWT
    (base64url and dots) and the RFC 3339 time have none; the scope and the refresh token
    still go through json.dumps.
    """
    parts = [
        '{"token":"', minted.token, '","access_token":"', minted.token, '","expires_in":', str(int(minted.expires_in)),
        ',"issued_at":"', minted.issued_at, '","scope":', json.dumps(scope),
    ]
    if refresh_token is not None:
        parts += [',"refresh_token":', json.dumps(refresh_token)]
    parts.append("}")
    return "".join(parts).encode()
