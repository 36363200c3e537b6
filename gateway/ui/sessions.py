"""Who is signed in to the web UI: the session cookie, and the decorators that require it.

The cookie holds a random session id; the server keeps only its hash
(``tokenstore.ui_sessions``), so signing out ends the session for every copy of the cookie.
``page`` guards what a signed-in user reads, ``action`` what they change (with the CSRF
check of ``csrf.py``).
"""

import functools
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web

from tokenstore import NotFound
from tokenstore.accounts import User
from tokenstore.ui_sessions import SESSION_LIFETIME, UiSession

from ..appkeys import OFFLOAD, STORE
from . import csrf
from .cookies import clear_cookie, set_cookie
from .errors import UiError
from .keys import SESSION, SESSION_ID, USER

log = logging.getLogger(__name__)

SESSION_COOKIE = "regauth_session"
# Set on the sign-in page only, to bind that form's CSRF token before a session exists.
SIGNIN_COOKIE = "regauth_signin"
SIGNIN_COOKIE_LIFETIME = 3600

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def start_session(response: web.StreamResponse, request: web.Request, session: UiSession) -> None:
    """Put a new session's id in the cookie (and drop the sign-in cookie)."""
    set_cookie(response, request, SESSION_COOKIE, session.session_id, max_age=SESSION_LIFETIME)
    clear_cookie(response, request, SIGNIN_COOKIE, path="/signin")


async def load_session(request: web.Request) -> tuple[UiSession, User] | None:
    """Return the session and user of the request's cookie, or None when not signed in."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        return None
    store = request.app[STORE]

    def load():
        session = store.get_ui_session(session_id)
        if session is None:
            return None
        try:
            return session, store.get_user(session.username)
        except NotFound:
            return None

    found = await request.app[OFFLOAD].database(load)
    if found is not None:
        request[SESSION], request[USER] = found
        request[SESSION_ID] = session_id
    return found


def safe_next(target: str | None) -> str | None:
    """Return ``target`` when it is a path on this site (no open redirect), else None."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if any(ord(char) < 0x21 for char in target) or len(target) > 2000:
        return None
    return target


def signin_url(request: web.Request) -> str:
    """Return the sign-in page's URL with the current page to come back to."""
    return "/signin?next=" + quote(request.path_qs, safe="/")


def page(handler: Handler) -> Handler:
    """A page for signed-in users: anybody else is sent to the sign-in page."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        if await load_session(request) is None:
            raise web.HTTPSeeOther(signin_url(request))
        return await handler(request)

    return wrapper


def action(handler: Handler) -> Handler:
    """A state-changing request of a signed-in user, with a valid CSRF token.

    Refuses with 401 when nobody is signed in and 403 when the CSRF token is missing or wrong
    or the browser says the request comes from another site.
    """

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        if csrf.cross_site(request):
            raise UiError(403, "This request came from another site and was refused.")
        if await load_session(request) is None:
            raise UiError(401, "You are not signed in, or your session has ended. Sign in again.")
        presented = await csrf.presented_token(request)
        if not csrf.matches(request[SESSION_ID], csrf.SESSION_PURPOSE, presented):
            log.warning("refused %s %s: missing or wrong CSRF token", request.method, request.path)
            raise UiError(403, "The form was out of date or incomplete. Reload the page and try again.")
        return await handler(request)

    return wrapper
