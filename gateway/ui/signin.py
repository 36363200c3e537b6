"""Signing in and out of the web UI.

Every failure answers the same message after one bcrypt run, user or not; too many failures
for a name from an address are refused (429) without a check (``tokenstore.signin_throttle``).
A sign-in starts a new session; signing out deletes it server-side. docs/architecture.md,
"The web UI: CSRF, sign-in and actions", says why.
"""

import logging
import math
import secrets

from aiohttp import web

from tokenstore import InvalidCredentials, User, StoreUnavailable

from ..appkeys import CONFIG, OFFLOAD, STORE
from ..edge.forwarded import client_address
from ..management.audit_fields import performer
from . import csrf
from .cookies import clear_cookie, set_cookie
from .errors import UiError
from .keys import SESSION_ID
from .render import flash, render
from .sessions import (
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    SIGNIN_COOKIE_LIFETIME,
    action,
    load_session,
    safe_next,
    start_session,
)

log = logging.getLogger(__name__)

HOME = "/organizations"
SIGNIN_FAILED = "Incorrect username or password."
FORM_EXPIRED = "The sign-in form had expired. Please try again."
# Longer input cannot be a valid name or password; it is not worth a bcrypt run.
MAX_FIELD_LENGTH = 1024


async def signin_page(request: web.Request) -> web.StreamResponse:
    """``GET /signin``: the sign-in form (or straight on, when already signed in)."""
    target = safe_next(request.query.get("next"))
    if await load_session(request) is not None:
        raise web.HTTPSeeOther(target or HOME)
    return _form(request, target=target)


async def signin(request: web.Request) -> web.StreamResponse:
    """``POST /signin``: check the form's CSRF token and the password; start a session."""
    if csrf.cross_site(request):
        raise UiError(403, "This request came from another site and was refused.")
    form = await request.post()
    username, password = str(form.get("username", "")).strip(), str(form.get("password", ""))
    target = safe_next(str(form.get("next", "")))
    presented = form.get("csrf_token")
    if not csrf.matches(request.cookies.get(SIGNIN_COOKIE), csrf.SIGNIN_PURPOSE, presented if isinstance(presented, str) else None):
        return _form(request, target=target, username=username, error=FORM_EXPIRED, status=403)
    if not username or not password or len(username) > MAX_FIELD_LENGTH or len(password) > MAX_FIELD_LENGTH:
        return _form(request, target=target, username=username, error=SIGNIN_FAILED)
    store, offload = request.app[STORE], request.app[OFFLOAD]
    address = client_address(request, request.app[CONFIG].trusted_proxies)
    wait = await offload.database(store.signin_wait, username, address)
    if wait > 0:
        log.info("web sign-in refused: too many failures for one name from %s", address)
        return _too_many_failures(request, target, username, wait)
    try:
        user: User = await offload.bcrypt(store.check_password, username, password)
    except InvalidCredentials:
        log.info("web sign-in failed")
        try:
            await offload.write(store.record_signin_failure, username, address)
        except StoreUnavailable as exc:  # the answer is the same; the count resumes with the next failure
            log.warning("could not record a failed sign-in: %s", exc)
        return _form(request, target=target, username=username, error=SIGNIN_FAILED)
    audit = performer(request, user)

    def open_session():
        session = store.create_ui_session(user.id)
        store.clear_signin_failures(username, address)
        store.record_event("login_success", user.username, **audit, metadata={"kind": "user", "via": "web"})
        return session

    session = await offload.database(open_session)
    response = web.HTTPSeeOther(target or HOME)
    start_session(response, request, session)
    raise response


@action
async def signout(request: web.Request) -> web.StreamResponse:
    """``POST /signout``: end the session (for every copy of the cookie) and go to sign-in."""
    await request.app[OFFLOAD].database(request.app[STORE].end_ui_session, request[SESSION_ID])
    response = web.HTTPSeeOther("/signin")
    clear_cookie(response, request, SESSION_COOKIE)
    flash(response, request, "You have signed out.")
    raise response


def _too_many_failures(request: web.Request, target: str | None, username: str, wait: float) -> web.Response:
    """The form again, with a 429 that says how long to wait (also in Retry-After)."""
    minutes = max(1, math.ceil(wait / 60))
    message = (
        f"Too many failed sign-ins for this user name from your address. Try again in "
        f"{minutes} minute{'s' if minutes > 1 else ''}."
    )
    response = _form(request, target=target, username=username, error=message, status=429)
    response.headers["Retry-After"] = str(math.ceil(wait))
    return response


def _form(request: web.Request, *, target: str | None, username: str = "", error: str | None = None,
          status: int = 200) -> web.Response:
    """Render the sign-in form, binding its CSRF token to the sign-in cookie (made when missing)."""
    binding = request.cookies.get(SIGNIN_COOKIE)
    fresh = not binding or len(binding) > 128
    if fresh:
        binding = secrets.token_urlsafe(32)
    response = render(request, "signin.html", {
        "signin_token": csrf.token_for(binding, csrf.SIGNIN_PURPOSE),
        "next": target or "",
        "username": username,
        "error": error,
    }, status=status)
    if fresh:
        set_cookie(response, request, SIGNIN_COOKIE, binding, max_age=SIGNIN_COOKIE_LIFETIME, path="/signin")
    return response
