"""``GET /token``: the distribution token spec's endpoint.

A client presents Basic robot credentials (or none) and the scopes it wants; the reply is a
signed JWT carrying the subset of those actions the robot may perform. Too little permission
is not an error: the token simply carries fewer (or no) actions, and the registry refuses.

A login that asks for an offline token (docker's ``offline_token=true``) also gets a
``refresh_token``, which docker keeps instead of the secret and redeems at ``POST /token``
(``gateway.token_grants``, which shares ``token_response`` with this endpoint).
"""

import json
import logging
from collections.abc import Callable

from aiohttp import web

from tokenstore import ANONYMOUS, InvalidCredentials, Principal, Store
from tokenstore.federation import is_federated_credential

from .appkeys import CONFIG, CREDENTIALS, LOGIN_THROTTLE, OFFLOAD, SIGNING_KEY, STORE
from .basic_auth import parse_basic
from .errors import TokenError, bad_request
from .forwarded import client_address
from .scopes import Scope, ScopeError, parse_scopes
from .tokens import Access, MintedToken, mint
from .token_audit import record_login_failure, record_token_issued

log = logging.getLogger(__name__)

INVALID_CREDENTIALS_DETAILS = (
    "invalid username or secret: log in with a robot's full name (namespace+shortname) and its "
    "current secret; a regenerated secret replaces the old one (at once, unless a grace period was given)"
)
LOGIN_REQUIRED_DETAILS = "authentication required: log in with a robot's name (namespace+shortname) and its secret"


async def get_token(request: web.Request) -> web.Response:
    """Answer a token request; returns the token JSON, raises TokenError (400/401)."""
    config = request.app[CONFIG]
    query = request.query
    check_service(query.get("service"), config.service)
    try:
        scopes = parse_scopes(query.getall("scope", []))
    except ScopeError as exc:
        raise bad_request(str(exc)) from None
    principal, access = await _principal_and_access(request, query.get("account"), scopes)
    if not principal.is_robot and not scopes:
        raise TokenError(401, "UNAUTHORIZED", "authentication required", LOGIN_REQUIRED_DETAILS, config.realm)
    refresh_token = None
    if query.get("offline_token", "").lower() == "true":
        refresh_token = await offline_token(request, principal, query.get("client_id", ""))
    return await token_response(request, principal, scopes, access=access, refresh_token=refresh_token)


async def token_response(
    request: web.Request, principal: Principal, scopes: list[Scope], *, access: list[Access] | None = None,
    refresh_token: str | None = None,
) -> web.Response:
    """Authorize ``scopes`` for ``principal`` (unless ``access``, the grant, is already known)
    and answer with a signed token.

    The reply carries the token as both ``token`` and ``access_token`` (docker's POST flow
    reads the latter), the granted ``scope``, and ``refresh_token`` when one was issued.
    Shared by ``GET /token`` and the grants of ``POST /token``.
    """
    config = request.app[CONFIG]
    if access is None:
        access = await _grant(request, principal, scopes)
    await record_token_issued(request, principal, scopes, access)
    if log.isEnabledFor(logging.DEBUG):
        # A debugging aid only: the access log has every request, the audit log every robot
        # token with its grant, and a line per token costs as much as its database work.
        log.debug(
            "token issued sub=%s access=%s",
            principal.username or "<anonymous>",
            ";".join(f"{a.type}:{a.name}:{','.join(a.actions)}" for a in access),
        )
    minted = mint(
        request.app[SIGNING_KEY], issuer=config.issuer, service=config.service,
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


async def offline_token(request: web.Request, principal: Principal, client_id: str) -> str | None:
    """Return a refresh token for a login that asked for one (docker's ``offline_token=true``).

    None for an anonymous request and for a keyless credential (it lasts an hour; a refresh
    token must not outlive it: such a client keeps the credential and logs in again).
    """
    if not principal.is_robot or principal.secret_id is None:
        return None
    try:
        return await request.app[OFFLOAD].database(request.app[STORE].issue_refresh_token, principal, client_id)
    except InvalidCredentials as exc:
        # The secret was regenerated between the check and now.
        raise _login_refused(request, principal.username, exc) from None


def check_service(service: str | None, expected: str) -> None:
    if service is None:
        raise bad_request(f"missing service parameter: this token service serves {expected!r}")
    if service != expected:
        raise bad_request(f"unknown service {service!r}: this token service serves {expected!r}")


async def _principal_and_access(
    request: web.Request, account: str | None, scopes: list[Scope],
) -> tuple[Principal, list[Access]]:
    """Return who is asking (the robot named by Basic credentials, or anonymous) and what of
    ``scopes`` they are granted.

    Raises a 400 for a malformed header or an ``account`` that differs from the user, and a
    401 for credentials that do not authenticate.
    """
    header = request.headers.get("Authorization")
    if header is None:
        return ANONYMOUS, (await _grant(request, ANONYMOUS, scopes) if scopes else [])
    username, secret = parse_basic(header)
    if account is not None and account != username:
        raise bad_request("the account parameter does not match the user name in the Authorization header")
    return await login_and_grant(request, username, secret, scopes)


async def login_and_grant(
    request: web.Request, username: str, password: str, scopes: list[Scope] | None,
) -> tuple[Principal, list[Access] | None]:
    """Authenticate a robot by name and password, and authorize ``scopes`` for it; returns
    the Principal and its grant (None when ``scopes`` is None).

    The password is the robot's secret or a keyless credential from
    ``/oauth2/federation/robot/token`` (told apart by its prefix; checked by one lookup, no
    bcrypt). A warm secret is confirmed and authorized in one database job. Raises a 401
    TokenError when they do not authenticate; a 429 or 503 TokenError when the secret would
    need a bcrypt check that the login throttle refuses (``gateway.login_throttle``).
    """
    app = request.app
    throttle = app[LOGIN_THROTTLE]
    authorize = None if scopes is None else _authorizer(app[STORE], scopes)
    keyless = is_federated_credential(password)
    admitted = []

    def address() -> str | None:
        # Only when a check is to run or was refused: a warm request needs none.
        return client_address(request, app[CONFIG].trusted_proxies)

    async def admit_check(pending: int) -> None:
        admitted.append(await throttle.admit_check(address(), username, pending))
        await throttle.take_turn(admitted[-1])

    try:
        if keyless:
            await throttle.admit_address(address())
            principal = await app[OFFLOAD].database(app[STORE].authenticate_federated, username, password)
            return principal, (None if authorize is None else await app[OFFLOAD].database(authorize, principal))
        return await app[CREDENTIALS].authenticate_then(username, password, authorize, before_cold=admit_check)
    except InvalidCredentials as exc:
        throttle.failed(address(), None if keyless else username)
        while admitted:  # before the audit write: the next suspect check's turn comes now
            throttle.check_done(admitted.pop())
        await record_login_failure(request, username, exc.reason)
        raise _login_refused(request, username, exc) from None
    finally:
        for ticket in admitted:
            throttle.check_done(ticket)


def _login_refused(request: web.Request, username: str, exc: InvalidCredentials) -> TokenError:
    log.info("login refused for %r (%s)", username[:300], exc.reason)
    details = str(exc) if exc.reason == "expired" else INVALID_CREDENTIALS_DETAILS
    return TokenError(401, "UNAUTHORIZED", str(exc), details, request.app[CONFIG].realm)


async def _grant(request: web.Request, principal: Principal, scopes: list[Scope]) -> list[Access]:
    """Return one Access per requested scope with the granted subset of its actions."""
    return await request.app[OFFLOAD].database(_authorizer(request.app[STORE], scopes), principal)


def _authorizer(store: Store, scopes: list[Scope]) -> Callable[[Principal], list[Access]]:
    """Return a function (to run on a database thread) that gives one Access per requested
    scope, with the subset of its actions the principal is granted."""

    def authorize_all(principal: Principal) -> list[Access]:
        granted = []
        for scope in scopes:
            actions = store.authorize(principal, scope.resource, scope.actions)
            # Keep the order the client asked in; the registry does not care, people reading tokens do.
            granted.append(Access(scope.resource.type, scope.resource.name, tuple(a for a in scope.actions if a in actions)))
        return granted

    return authorize_all
