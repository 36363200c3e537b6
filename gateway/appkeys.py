"""Typed keys for what the application holds, in one place."""

from aiohttp import web

from tokenstore.interface import TokenStore

from .config import Config
from .federation.oidc import OIDCVerifier
from .offload import Offload
from .token.authn import RefreshTokens
from .token.authz import Authorizer
from .token.login_throttle import LoginThrottle

CONFIG = web.AppKey("config", Config)
STORE = web.AppKey("store", TokenStore)
OFFLOAD = web.AppKey("offload", Offload)
#: The login authenticators (``gateway.token.authn``), tried in order.
AUTHENTICATORS = web.AppKey("authenticators", tuple)
REFRESH_TOKENS = web.AppKey("refresh_tokens", RefreshTokens)
AUTHORIZER = web.AppKey("authorizer", Authorizer)
OIDC = web.AppKey("oidc", OIDCVerifier)
LOGIN_THROTTLE = web.AppKey("login_throttle", LoginThrottle)
