"""``GET /oauth2/federation/robot/token``: trade a CI job's OIDC token for a robot credential.

Basic ``robotname:<external OIDC JWT>`` in (Quay 3.13's federated robot tokens), ``{"token",
"expires_in": 3600}`` out: an opaque credential that works as the robot's password at
``/token`` for an hour and stops when the setting or the robot goes. Every exchange is
audited, never the token. docs/architecture.md, "Keyless robots", says why.
"""

import logging

import aiohttp
from aiohttp import web

from tokenstore import InvalidCredentials, StoreUnavailable

from ..appkeys import CONFIG, LOGIN_THROTTLE, OFFLOAD, OIDC, STORE
from ..edge import request_id
from ..edge.errors import TokenError
from ..edge.forwarded import client_address
from ..token.basic_auth import parse_basic
from .oidc import (
    ExternalTokenError,
    KeyCache,
    OIDCVerifier,
    TokenRejected,
    match_federation,
    shown,
    unverified_claims,
)

log = logging.getLogger(__name__)

AUDIT_KIND = "federated_robot_token_exchange"
USAGE = (
    "send Basic credentials: the robot's full name (namespace+shortname) as user name and the"
    " CI job's OIDC ID token as password"
)


async def open_verifier(app: web.Application):
    """cleanup_ctx: the HTTP client that fetches issuers' keys, and the verifier using it.

    The verifier reads the store's clock, so tests that move the clock move token times
    and key cache ages alike. Proxies named by HTTPS_PROXY / NO_PROXY are honoured.
    """
    async with aiohttp.ClientSession(trust_env=True, raise_for_status=False) as session:
        clock = app[STORE].clock
        keys = KeyCache(session, clock=clock, allow_private=app[CONFIG].allow_private_issuers)
        app[OIDC] = OIDCVerifier(keys, clock=clock)
        yield


async def exchange(request: web.Request) -> web.Response:
    """Answer an exchange; returns ``{"token", "expires_in"}``, raises TokenError (400/401)."""
    app = request.app
    realm = app[CONFIG].realm
    header = request.headers.get("Authorization")
    if header is None:
        raise TokenError(401, "UNAUTHORIZED", "authentication required", USAGE, realm)
    username, token = parse_basic(header)
    address = client_address(request, app[CONFIG].trusted_proxies)
    await app[LOGIN_THROTTLE].admit_address(address)
    issuer = subject = None
    try:
        claims = unverified_claims(token)
        issuer = claims["iss"]
        subject = claims.get("sub") if isinstance(claims.get("sub"), str) else None
        federations = await app[OFFLOAD].database(app[STORE].federations_for_exchange, username, issuer)
        if not federations:
            # Same answer whether the robot is missing or has no setting for this issuer.
            raise TokenRejected(f"robot {shown(username)} has no federation setting for issuer {shown(issuer)!r}")
        verified = await app[OIDC].verify(token, issuer)
        federation = match_federation(verified, federations)
        try:
            issued = await app[OFFLOAD].database(app[STORE].issue_federated_credential, username, federation.id)
        except InvalidCredentials:
            raise TokenRejected("the federation setting was removed during the exchange") from None
    except ExternalTokenError as exc:
        log.info("federated exchange refused for %r: %s", username[:300], exc,
                 extra=request_id.note(robot=username, outcome="refused"))
        app[LOGIN_THROTTLE].failed(address, None)
        await _audit(request, address, username, issuer, subject, success=False, reason=str(exc))
        raise TokenError(401, "UNAUTHORIZED", str(exc), f"{exc}. {USAGE}", realm) from None
    log.info("federated exchange for %s (issuer %s, subject %s)", username, shown(issuer), shown(subject),
             extra=request_id.note(robot=username, outcome="issued"))
    await _audit(request, address, username, issuer, subject, success=True)
    return web.json_response({"token": issued.credential, "expires_in": int(issued.expires_at - issued.created)})


async def _audit(
    request: web.Request, ip: str | None, username: str, issuer, subject, *, success: bool, reason: str = "",
) -> None:
    """Record the exchange in the robot's namespace's audit log: robot, issuer, subject and
    outcome, never the token. A refusal is counted (one row per name, address and reason
    per interval, ``Store.record_refusal``). Nothing is written for a namespace that does
    not exist."""
    app = request.app
    namespace = username.partition("+")[0] if "+" in username else ""
    if not namespace:
        return
    metadata = {"robot": username, "issuer": issuer, "subject": subject, "success": success}
    store = app[STORE]
    try:
        if success:
            await app[OFFLOAD].write(
                store.record_event, AUDIT_KIND, namespace, performer=username, performer_kind="robot", ip=ip,
                metadata=metadata,
            )
        else:
            await app[OFFLOAD].write(
                store.record_refusal, AUDIT_KIND, namespace, performer=username, ip=ip, reason=reason,
                metadata=metadata,
            )
    except StoreUnavailable as exc:
        # The exchange's answer does not depend on the log; a busy database must not turn
        # a refusal into a 500 or a success into a failure.
        log.warning("could not audit the federated exchange of %r: %s", username[:300], exc)
