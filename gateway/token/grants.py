"""``POST /token``: the OAuth2 form grants of the distribution token spec ("oauth.md"):
``grant_type=refresh_token`` (docker, for every push and pull once it holds one) and
``grant_type=password`` (containerd; ``access_type=offline`` adds a refresh token).

The reply is ``GET /token``'s (``response``). A refresh token that no longer works is a 401
telling the user to log in again. docs/architecture.md, "The form grants and refresh
tokens", says more.
"""

import logging

from aiohttp import web

from tokenstore import InvalidCredentials

from ..appkeys import CONFIG, REFRESH_TOKENS
from ..edge import request_id
from ..edge.errors import TokenError, bad_request
from ..edge.text_input import TextInvalid, check_text
from .authn import Credentials
from .endpoint import check_service
from .issuance import Issuance
from .login import login_and_issue
from .response import token_response
from .scopes import ScopeError, parse_scopes

log = logging.getLogger(__name__)

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
LOGIN_AGAIN_DETAILS = (
    "this saved login no longer works: the robot's secret was regenerated or has expired, or"
    " the robot was deleted. Run `docker login` again with the robot's current secret."
)


async def post_token(request: web.Request) -> web.Response:
    """Answer a form grant; returns the token JSON, raises TokenError (400/401)."""
    config = request.app[CONFIG]
    if request.content_type not in FORM_TYPES:
        raise bad_request("POST /token takes a form (application/x-www-form-urlencoded) with a grant_type")
    try:
        form = await request.post()
    except (ValueError, UnicodeError):
        raise bad_request("malformed form body") from None
    check_service(_field(form, "service"), config.service)
    try:
        scopes = parse_scopes(form.getall("scope", []))
    except ScopeError as exc:
        raise TokenError(400, exc.code, str(exc)) from None
    except UnicodeError:
        raise bad_request("scope must be text") from None
    grant_type = _field(form, "grant_type")
    client_id = _field(form, "client_id") or ""
    if grant_type == "refresh_token":
        token = _field(form, "refresh_token")
        if not token:
            raise bad_request("grant_type=refresh_token needs a refresh_token")
        issuance = Issuance(request, scopes)
        try:
            # Redeemed in the transaction that issues the token: a secret regenerated or a
            # robot deleted before it began is seen.
            authenticated = await request.app[REFRESH_TOKENS].authenticate(
                Credentials("", token, issuance.client["ip"]), issuance,
            )
        except InvalidCredentials as exc:
            log.info("refresh token refused (client %r)", client_id[:100], extra=request_id.note(outcome="refused"))
            raise TokenError(401, "UNAUTHORIZED", str(exc), LOGIN_AGAIN_DETAILS, config.realm) from None
        issued = authenticated.outcome
        return token_response(request, issued.principal, issued.access)
    if grant_type == "password":
        username, password = _field(form, "username"), _field(form, "password")
        if not username or password is None:
            raise bad_request("grant_type=password needs username and password")
        offline = (_field(form, "access_type") or "").lower() == "offline"
        issuance = Issuance(request, scopes, refresh_client_id=client_id if offline else None)
        issued = await login_and_issue(request, username, password, issuance)
        return token_response(request, issued.principal, issued.access, issued.refresh_token)
    if grant_type is None:
        raise bad_request("missing grant_type: use refresh_token or password")
    raise bad_request(f"unsupported grant_type {grant_type[:50]!r}: use refresh_token or password")


def _field(form, name: str) -> str | None:
    """Return a text field of the form (None when absent); a file upload is a 400."""
    value = form.get(name)
    if value is not None and not isinstance(value, str):
        raise bad_request(f"{name} must be a plain form field")
    if value is not None:
        try:
            check_text(value, name)
        except TextInvalid as exc:
            raise bad_request(str(exc)) from None
    return value
