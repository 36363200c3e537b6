"""Typed keys for what the application holds, in one place."""

from aiohttp import web

from tokenstore.interface import TokenStore

from .config import Config
from .credential_cache import CredentialChecker
from .keys import SigningKey
from .login_throttle import LoginThrottle
from .offload import Offload
from .oidc import OIDCVerifier

CONFIG = web.AppKey("config", Config)
STORE = web.AppKey("store", TokenStore)
SIGNING_KEY = web.AppKey("signing_key", SigningKey)
OFFLOAD = web.AppKey("offload", Offload)
CREDENTIALS = web.AppKey("credentials", CredentialChecker)
OIDC = web.AppKey("oidc", OIDCVerifier)
LOGIN_THROTTLE = web.AppKey("login_throttle", LoginThrottle)
