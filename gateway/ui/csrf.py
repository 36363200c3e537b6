"""Cross-site request forgery protection for the web UI.

Every POST carries a token bound to the session (an HMAC of the session id: a hidden
``csrf_token`` field, or ``X-CSRF-Token``); before sign-in, bound to a short-lived sign-in
cookie. A request the browser marks cross-site or same-site is refused outright.
docs/architecture.md, "The web UI: CSRF, sign-in and actions", says why.
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
