"""Who is asking for the catalog: nobody (anonymous), the holder of a bearer token regauth
signed, or the owner of Basic credentials (through the application's authenticators, the
same chain ``/token`` uses).

A bearer token stands for its ``sub``, looked up again at every request: a robot deleted
since the token was issued is refused, though the token has not expired.
"""

import logging

import jwt
from aiohttp import web

from tokenstore import ANONYMOUS, InvalidCredentials, NameInvalid, Principal, RobotNotFound, UserNotFound
from tokenstore.names import ROBOT_SEPARATOR
from tokenstore.interface import TokenStore

from ..appkeys import AUTHENTICATORS, CONFIG, OFFLOAD, STORE
from ..edge import request_id
from ..edge.errors import TokenError
from ..token.audit import client_fields, record_login_failure
from ..token.authn import Credentials, authenticate
from ..token.basic_auth import MAX_CREDENTIALS_LENGTH, parse_basic
from ..token.live_keyring import trusted_keys
from .errors import CatalogError, unauthorized

log = logging.getLogger(__name__)

# What the registry allows on a token's exp and nbf; replicas' clocks may differ as much.
LEEWAY_SECONDS = 60
#: The ``sub`` of regauth's own catalog token: no robot or person can have this name.
INTERNAL_SUBJECT = "regauth:catalog"
REFUSED_TOKEN = "the bearer token is not valid here: ask /token for a new one"


async def caller(request: web.Request) -> Principal:
    """Return the Principal asking: ANONYMOUS without an Authorization header.

    Raises a 401 CatalogError for a bearer token that is not regauth's or no longer stands
    for anyone, and (after its audit row) for Basic credentials that are refused; a 400 for
    an Authorization header that cannot be read; what the authenticators raise otherwise
    (a 429 or 503 TokenError from the login throttle, a store error).
    """
    header = request.headers.get("Authorization")
    if header is None:
        return ANONYMOUS
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "bearer":
        return await _bearer(request, value.strip())
    if scheme.lower() == "basic":
        return await _basic(request, header)
    raise CatalogError(400, "UNSUPPORTED", "unsupported Authorization scheme: send a Bearer token from /token, "
                       "or Basic credentials")


async def _bearer(request: web.Request, token: str) -> Principal:
    subject = _verified_subject(request, token)
    if subject == "":
        return ANONYMOUS  # what /token gives a caller without credentials
    try:
        return await request.app[OFFLOAD].database(principal_for_subject, request.app[STORE], subject)
    except InvalidCredentials:
        log.info("catalog refused a token of %r: it no longer exists", subject[:300],
                 extra=request_id.note(robot=subject, outcome="refused"))
        raise unauthorized(REFUSED_TOKEN) from None


def _verified_subject(request: web.Request, token: str) -> str:
    """Return the ``sub`` of ``token`` once its signature (by one of the keyring's trusted
    keys), issuer, audience and times are checked; raises a 401 CatalogError otherwise."""
    if len(token) > MAX_CREDENTIALS_LENGTH:
        raise unauthorized(REFUSED_TOKEN)
    config = request.app[CONFIG]
    try:
        header = jwt.get_unverified_header(token)
        entry = next((e for e in trusted_keys(request.app) if e.kid == header.get("kid")), None)
        if entry is None:
            raise jwt.InvalidTokenError("signed by a key that is not trusted")
        claims = jwt.decode(
            token, entry.key.private_key.public_key(), algorithms=[entry.key.algorithm],
            audience=config.service, issuer=config.issuer, leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.InvalidTokenError as exc:
        # The reason to the log, a plain refusal to the caller.
        log.info("catalog refused a bearer token: %s", exc)
        raise unauthorized(REFUSED_TOKEN) from None
    subject = claims["sub"]
    if not isinstance(subject, str) or subject == INTERNAL_SUBJECT:
        raise unauthorized(REFUSED_TOKEN)
    return subject


def principal_for_subject(store: TokenStore, subject: str) -> Principal:
    """Return the Principal a token's ``sub`` names now: an enabled live robot, or a live
    person (a token from an app-token login); raises InvalidCredentials when it names
    neither. Synchronous: call it on a database thread."""
    if ROBOT_SEPARATOR in subject:
        try:
            robot = store.get_robot(subject)
        except (NameInvalid, RobotNotFound):
            raise InvalidCredentials() from None
        if not robot.enabled:  # disabled since the token was issued
            raise InvalidCredentials()
        return Principal(kind="robot", username=robot.username, robot_id=robot.id, namespace_id=robot.namespace_id)
    try:
        user = store.get_user(subject)
    except (NameInvalid, UserNotFound):
        raise InvalidCredentials() from None
    return Principal(kind="user", username=user.username, namespace_id=user.namespace_id, user_id=user.id)


async def _basic(request: web.Request, header: str) -> Principal:
    try:
        username, password = parse_basic(header)
    except TokenError as exc:
        raise CatalogError(400, "INVALID_REQUEST", exc.message) from None
    client = client_fields(request)
    credentials = Credentials(username, password, client["ip"])
    try:
        authenticated = await authenticate(request.app[AUTHENTICATORS], credentials, _LoginRecorded(request, client))
    except InvalidCredentials as exc:
        await record_login_failure(request, username, exc.reason, client)
        log.info("catalog login refused for %r (%s)", username[:300], exc.reason,
                 extra=request_id.note(robot=username, outcome="refused"))
        raise unauthorized("invalid username or secret") from None
    return authenticated.principal


class _LoginRecorded:
    """The authenticators' ``then``: in the transaction that confirms the credential, write
    the robot's ``login_success`` row naming the catalog scope, as ``/token`` does."""

    def __init__(self, request: web.Request, client: dict):
        self._store = request.app[STORE]
        self._client = client

    def __call__(self, principal: Principal) -> Principal:
        if principal.is_robot:
            self._store.record_robot_login(
                principal.username, success=True, scopes=["registry:catalog:*"], access=[], **self._client,
            )
        return principal
