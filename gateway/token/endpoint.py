"""``GET /token``: the distribution token spec's endpoint.

A client presents Basic robot credentials (or none) and the scopes it wants; the reply is a
signed JWT carrying the subset of those actions the robot may perform. Too little permission
is not an error: the token simply carries fewer (or no) actions, and the registry refuses.

A robot's token is minted only after the transaction that confirms its credential once more,
authorizes it and writes its audit row has committed (``gateway.token.issuance``).

A login that asks for an offline token (docker's ``offline_token=true``) also gets a
``refresh_token``, which docker keeps instead of the secret and redeems at ``POST /token``
(``gateway.token.grants``, which shares ``token_response`` with this endpoint).
"""

import logging

from aiohttp import web

from tokenstore import ANONYMOUS, InvalidCredentials
from tokenstore.federation import is_federated_credential

from ..appkeys import CONFIG, CREDENTIALS, LOGIN_THROTTLE, OFFLOAD, STORE
from ..http.errors import TokenError, bad_request
from .audit import record_login_failure
from .basic_auth import parse_basic
from .issuance import Issuance, Issued, authorize_all
from .response import token_response
from .scopes import ScopeError, parse_scopes

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
        raise TokenError(400, exc.code, str(exc)) from None
    header = request.headers.get("Authorization")
    if header is None:
        if not scopes:
            raise TokenError(401, "UNAUTHORIZED", "authentication required", LOGIN_REQUIRED_DETAILS, config.realm)
        access = await request.app[OFFLOAD].database(authorize_all, request.app[STORE], ANONYMOUS, scopes)
        return token_response(request, ANONYMOUS, access)
    username, secret = parse_basic(header)
    account = query.get("account")
    if account is not None and account != username:
        raise bad_request("the account parameter does not match the user name in the Authorization header")
    offline = query.get("offline_token", "").lower() == "true"
    issuance = Issuance(request, scopes, refresh_client_id=query.get("client_id", "") if offline else None)
    issued = await login_and_issue(request, username, secret, issuance)
    return token_response(request, issued.principal, issued.access, issued.refresh_token)


def check_service(service: str | None, expected: str) -> None:
    if service is None:
        raise bad_request(f"missing service parameter: this token service serves {expected!r}")
    if service != expected:
        raise bad_request(f"unknown service {service!r}: this token service serves {expected!r}")


async def login_and_issue(request: web.Request, username: str, password: str, issuance: Issuance) -> Issued:
    """Authenticate a robot by name and password and issue what ``issuance`` asks for; returns
    what was issued, committed with its audit rows.

    The password is the robot's secret (bcrypt, or the verified-credential cache) or a keyless
    credential from ``/oauth2/federation/robot/token`` (told apart by its prefix; one lookup,
    checked in the issuing transaction itself). Raises a 401 TokenError when they do not
    authenticate, or no longer do when the token would be issued; a 429 or 503 TokenError when
    the secret would need a bcrypt check that the login throttle refuses
    (``gateway.token.login_throttle``); a database error (e.g. a locked database) propagates to the
    error middleware.
    """
    app = request.app
    throttle = app[LOGIN_THROTTLE]
    keyless = is_federated_credential(password)
    address = issuance.client["ip"]
    admitted = []

    async def admit_check(pending: int) -> None:
        admitted.append(await throttle.admit_check(address, username, pending))
        await throttle.take_turn(admitted[-1])

    try:
        if keyless:
            await throttle.admit_address(address)
            return await app[OFFLOAD].write(issuance.for_federated, username, password)
        _, issued = await app[CREDENTIALS].authenticate_then(username, password, issuance, before_cold=admit_check)
        return issued
    except InvalidCredentials as exc:
        throttle.failed(address, None if keyless else username)
        while admitted:  # before the audit write: the next suspect check's turn comes now
            throttle.check_done(admitted.pop())
        await record_login_failure(request, username, exc.reason, issuance.client)
        raise _login_refused(request, username, exc) from None
    finally:
        for ticket in admitted:
            throttle.check_done(ticket)


def _login_refused(request: web.Request, username: str, exc: InvalidCredentials) -> TokenError:
    log.info("login refused for %r (%s)", username[:300], exc.reason)
    details = str(exc) if exc.reason == "expired" else INVALID_CREDENTIALS_DETAILS
    return TokenError(401, "UNAUTHORIZED", str(exc), details, request.app[CONFIG].realm)
