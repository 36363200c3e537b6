"""Cross-site request forgery protection for the web UI.

Every state-changing request (every POST) must carry a token bound to the browser's
session: a hidden ``csrf_token`` field in forms, an ``X-CSRF-Token`` header on the requests
the page's script sends. The token is an HMAC of the session id, which lives only in an
HttpOnly cookie: another site can neither read the cookie nor the page that carries the
token, so it cannot forge a request that passes (OWASP's "synchronizer token", derived
instead of stored). Before sign-in the same is done with a short-lived sign-in cookie, so
that nobody can sign a visitor in to an account of the attacker's choosing.

As a second line, a request the browser marks as coming from another site
(``Sec-Fetch-Site: cross-site`` or ``same-site``) is refused outright.
"""

import base64
import hashlib
import hmac

from aiohttp import web

FIELD_NAME = "csrf_token"
HEADER_NAME = "X-CSRF-Token"
# What a token is bound to: a signed-in session, or the sign-in form's cookie.
SESSION_PURPOSE = "session"
SIGNIN_PURPOSE = "signin"
# Keep the longest form field we accept small: the token is 43 characters.
MAX_TOKEN_LENGTH = 128


def token_for(secret: str, purpose: str) -> str:
    """Return the CSRF token bound to ``secret`` (a session id or sign-in cookie) for ``purpose``."""
    digest = hmac.new(secret.encode(), f"regauth-csrf:{purpose}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def matches(secret: str | None, purpose: str, presented: str | None) -> bool:
    """Return True when ``presented`` is the token for ``secret`` and ``purpose`` (constant time)."""
    if not secret or not presented or len(presented) > MAX_TOKEN_LENGTH:
        return False
    return hmac.compare_digest(token_for(secret, purpose).encode(), presented.encode("utf-8", "surrogateescape"))


def cross_site(request: web.Request) -> bool:
    """Return True when the browser says the request comes from another site (Fetch Metadata)."""
    return request.headers.get("Sec-Fetch-Site", "").lower() in ("cross-site", "same-site")


async def presented_token(request: web.Request) -> str | None:
    """Return the token the request carries: the header, else the form field (None when neither)."""
    header = request.headers.get(HEADER_NAME)
    if header:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        value = form.get(FIELD_NAME)
        return value if isinstance(value, str) else None
    return None
