"""Typed keys for what the application holds, in one place."""

from aiohttp import web

from tokenstore.interface import TokenStore

from .config import Config
from .federation.oidc import OIDCVerifier
from .offload import Offload
from .token.credential_cache import CredentialChecker
from .token.keys import SigningKey
from .token.login_throttle import LoginThrottle

CONFIG = web.AppKey("config", Config)
STORE = web.AppKey("store", TokenStore)
SIGNING_KEY = web.AppKey("signing_key", SigningKey)
OFFLOAD = web.AppKey("offload", Offload)
CREDENTIALS = web.AppKey("credentials", CredentialChecker)
OIDC = web.AppKey("oidc", OIDCVerifier)
LOGIN_THROTTLE = web.AppKey("login_throttle", LoginThrottle)
