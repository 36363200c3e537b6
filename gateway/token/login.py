"""Logging in for a token (``GET /token`` with Basic credentials, ``POST /token`` with
``grant_type=password``): the authenticators, then the issuance, then a 401 for a refusal."""

import logging

from aiohttp import web

from tokenstore import InvalidCredentials

from ..appkeys import AUTHENTICATORS, CONFIG
from ..edge import request_id
from ..edge.errors import TokenError
from .audit import record_login_failure
from .authn import Credentials, authenticate
from .issuance import Issuance, Issued

log = logging.getLogger(__name__)

INVALID_CREDENTIALS_DETAILS = (
    "invalid username or secret: log in with a robot's full name (namespace+shortname) and its "
    "current secret; a regenerated secret replaces the old one (at once, unless a grace period was given). "
    "A person logs in with the user name $app (or their own) and a live app token"
)


async def login_and_issue(request: web.Request, username: str, password: str, issuance: Issuance) -> Issued:
    """Authenticate ``username`` and ``password`` through the application's authenticators
    and issue what ``issuance`` asks for, in the transaction that confirms them; returns what
    was issued, committed with its audit rows.

    Raises a 401 TokenError when they do not authenticate, or no longer do when the token
    would be issued (after writing the refusal's audit row); a 429 or 503 TokenError when the
    login throttle refuses the check (``login_throttle``); a store error (e.g. a locked
    database) propagates to the error middleware.
    """
    credentials = Credentials(username, password, issuance.client["ip"])
    try:
        authenticated = await authenticate(request.app[AUTHENTICATORS], credentials, issuance)
    except InvalidCredentials as exc:
        await record_login_failure(request, username, exc.reason, issuance.client)
        raise _login_refused(request, username, exc) from None
    return authenticated.outcome


def _login_refused(request: web.Request, username: str, exc: InvalidCredentials) -> TokenError:
    log.info("login refused for %r (%s)", username[:300], exc.reason,
             extra=request_id.note(robot=username, outcome="refused"))
    # Only a caller whose secret was right hears that it expired or that the robot is disabled.
    details = str(exc) if exc.reason in ("expired", "disabled") else INVALID_CREDENTIALS_DETAILS
    return TokenError(401, "UNAUTHORIZED", str(exc), details, request.app[CONFIG].realm)
