"""``GET /token``: the distribution token spec's endpoint.

A client presents Basic robot credentials (or none) and the scopes it wants; the reply is a
signed JWT carrying the subset of those actions the robot may perform. Too little permission
is not an error: the token simply carries fewer (or no) actions, and the registry refuses.
"""

import logging

from aiohttp import web

from tokenstore import ANONYMOUS, InvalidCredentials, Principal

from .appkeys import CONFIG, CREDENTIALS, OFFLOAD, SIGNING_KEY, STORE
from .basic_auth import parse_basic
from .errors import TokenError, bad_request
from .scopes import Scope, ScopeError, parse_scopes
from .tokens import Access, mint

log = logging.getLogger(__name__)

INVALID_CREDENTIALS_DETAILS = (
    "invalid username or secret: log in with a robot's full name (namespace+shortname) and its "
    "current secret; a regenerated secret replaces the old one at once"
)
LOGIN_REQUIRED_DETAILS = "authentication required: log in with a robot's name (namespace+shortname) and its secret"


async def get_token(request: web.Request) -> web.Response:
    """Answer a token request; returns the token JSON, raises TokenError (400/401)."""
    config = request.app[CONFIG]
    query = request.query
    _check_service(query.get("service"), config.service)
    try:
        scopes = parse_scopes(query.getall("scope", []))
    except ScopeError as exc:
        raise bad_request(str(exc)) from None
    principal = await _principal(request, query.get("account"))
    if not principal.is_robot and not scopes:
        raise TokenError(401, "UNAUTHORIZED", "authentication required", LOGIN_REQUIRED_DETAILS, config.realm)
    access = await _grant(request, principal, scopes)
    log.info(
        "token issued sub=%s access=%s",
        principal.username or "<anonymous>",
        ";".join(f"{a.type}:{a.name}:{','.join(a.actions)}" for a in access),
    )
    minted = mint(
        request.app[SIGNING_KEY], issuer=config.issuer, service=config.service,
        subject=principal.username, access=access, ttl=config.token_ttl,
    )
    return web.json_response(
        {"token": minted.token, "access_token": minted.token, "expires_in": minted.expires_in, "issued_at": minted.issued_at}
    )


def _check_service(service: str | None, expected: str) -> None:
    if service is None:
        raise bad_request(f"missing service parameter: this token service serves {expected!r}")
    if service != expected:
        raise bad_request(f"unknown service {service!r}: this token service serves {expected!r}")


async def _principal(request: web.Request, account: str | None) -> Principal:
    """Return who is asking: the robot named by Basic credentials, or anonymous.

    Raises a 400 for a malformed header or an ``account`` that differs from the user, and a
    401 for credentials that do not authenticate.
    """
    header = request.headers.get("Authorization")
    if header is None:
        return ANONYMOUS
    username, secret = parse_basic(header)
    if account is not None and account != username:
        raise bad_request("the account parameter does not match the user name in the Authorization header")
    realm = request.app[CONFIG].realm
    try:
        return await request.app[CREDENTIALS].authenticate(username, secret)
    except InvalidCredentials as exc:
        log.info("login refused for %r (%s)", username[:300], exc.reason)
        details = str(exc) if exc.reason == "expired" else INVALID_CREDENTIALS_DETAILS
        raise TokenError(401, "UNAUTHORIZED", str(exc), details, realm) from None


async def _grant(request: web.Request, principal: Principal, scopes: list[Scope]) -> list[Access]:
    """Return one Access per requested scope with the granted subset of its actions."""
    store = request.app[STORE]

    def authorize_all() -> list[Access]:
        granted = []
        for scope in scopes:
            actions = store.authorize(principal, scope.resource, scope.actions)
            # Keep the order the client asked in; the registry does not care, people reading tokens do.
            granted.append(Access(scope.resource.type, scope.resource.name, tuple(a for a in scope.actions if a in actions)))
        return granted

    return await request.app[OFFLOAD].database(authorize_all)
