"""Typed keys for what the web UI keeps on a request."""

from aiohttp import web

from tokenstore.accounts import User
from tokenstore.ui_sessions import UiSession

USER = web.RequestKey("ui_user", User)
SESSION = web.RequestKey("ui_session", UiSession)
# The clear session id of this request's cookie, for deriving its CSRF token.
SESSION_ID = web.RequestKey("ui_session_id", str)
