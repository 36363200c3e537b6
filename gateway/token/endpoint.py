"""``GET /token``: the distribution token spec's endpoint.

A client presents Basic credentials (or none) and the scopes it wants; the reply is a JWT
carrying the subset of those actions it may perform. Too little permission is not an error:
the token carries fewer (or no) actions, and the registry refuses. ``offline_token=true``
adds a refresh token, redeemed at ``POST /token`` (``grants``).
"""

from aiohttp import web

from tokenstore import ANONYMOUS

from ..appkeys import AUTHORIZER, CONFIG, OFFLOAD
from ..edge.errors import TokenError, bad_request
from .basic_auth import parse_basic
from .issuance import Issuance
from .login import login_and_issue
from .response import token_response
from .scopes import ScopeError, parse_scopes

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
        # Nobody to confirm and nothing to audit: a read, off the writer.
        access = await request.app[OFFLOAD].database(request.app[AUTHORIZER].authorize, ANONYMOUS, scopes)
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
    """Return when ``service`` names this token service; raises a 400 TokenError saying
    which service it serves."""
    if service is None:
        raise bad_request(f"missing service parameter: this token service serves {expected!r}")
    if service != expected:
        raise bad_request(f"unknown service {service!r}: this token service serves {expected!r}")
