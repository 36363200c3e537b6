"""Robot controls Quay lacks, in its style: disable and enable a robot, a namespace's robot
settings, a robot regenerating its own secret, and a robot created with an existing secret.

- ``POST .../robots/{robot_shortname}/disable`` and ``/enable``: 200 robot object with
  ``enabled``; the robot is refused from its next request on (or accepted again).
- ``GET``/``PUT /api/v1/namespace/{namespace}/robotsettings``: ``{"namespace",
  "self_regenerate"}``; namespace admins.
- ``POST .../robots/{robot_shortname}/regenerate`` with Basic ``robot:secret`` instead of an
  API token: the robot's own regeneration, when its namespace allows it (403 otherwise).
- ``PUT .../robots/{robot_shortname}`` with ``"token"``: superusers only (403 otherwise).
"""

from aiohttp import web

from tokenstore import InvalidCredentials, hashing
from tokenstore.errors import SecretInvalid, SelfRegenerateNotAllowed
from tokenstore.names import parse_robot_name
from tokenstore.secret_lifecycle import MAX_GRACE_SECONDS

from ..appkeys import AUTHENTICATORS, OFFLOAD, STORE
from ..edge.errors import TokenError
from ..management.presenters import robot_view
from ..management.secret_hashing import new_secret_hash
from ..token.audit import client_fields
from ..token.authn import Credentials, authenticate
from ..token.basic_auth import parse_basic
from .auth import Caller, require_namespace_admin, robot_from_path
from .bodies import int_param, read_object
from .errors import ApiError, forbidden, invalid_request

#: The create body's field holding an existing secret: Quay's name for a robot's secret.
GIVEN_SECRET_FIELD = "token"

SELF_REGENERATE_DETAIL = "only the robot itself may regenerate its secret this way: log in as {robot}"


def add_routes(router: web.UrlDispatcher) -> None:
    """Add the routes above that are not Quay's own (disable, enable, robot settings)."""
    for base in ("/api/v1/organization/{orgname}/robots", "/api/v1/user/robots"):
        router.add_post(base + "/{robot_shortname}/disable", disable_robot)
        router.add_post(base + "/{robot_shortname}/enable", enable_robot)
    router.add_get("/api/v1/namespace/{namespace}/robotsettings", get_robot_settings)
    router.add_put("/api/v1/namespace/{namespace}/robotsettings", put_robot_settings)


def robot_object(robot, **kwargs) -> dict:
    """Quay's robot object (``robot_view``) with ``enabled``."""
    return {**robot_view(robot, **kwargs), "enabled": robot.enabled}


async def disable_robot(request: web.Request) -> web.Response:
    """``POST .../robots/{robot_shortname}/disable``: 200 robot object, ``enabled`` false."""
    return await _set_enabled(request, False)


async def enable_robot(request: web.Request) -> web.Response:
    """``POST .../robots/{robot_shortname}/enable``: 200 robot object, ``enabled`` true."""
    return await _set_enabled(request, True)


async def _set_enabled(request: web.Request, enabled: bool) -> web.Response:
    caller, username = await robot_from_path(request)
    store = request.app[STORE]

    def change():
        return store.set_robot_enabled_audited(username, enabled, actor=caller.audit(request))

    robot = await request.app[OFFLOAD].database(change)
    return web.json_response(robot_object(robot, metadata=True))


async def get_robot_settings(request: web.Request) -> web.Response:
    """``GET /api/v1/namespace/{namespace}/robotsettings``: 200 ``{"namespace", "self_regenerate"}``."""
    caller = await require_namespace_admin(request, request.match_info["namespace"])
    settings = await request.app[OFFLOAD].database(request.app[STORE].robot_settings, caller.namespace.name)
    return web.json_response(settings.as_dict())


async def put_robot_settings(request: web.Request) -> web.Response:
    """``PUT /api/v1/namespace/{namespace}/robotsettings`` with ``{"self_regenerate": bool}``:
    200 with the settings; 400 for any other body."""
    caller = await require_namespace_admin(request, request.match_info["namespace"])
    body = await read_object(request)
    unknown = sorted(set(body) - {"self_regenerate"})
    if unknown:
        raise invalid_request(f"unknown setting {unknown[0]!r}: the robot settings are 'self_regenerate'")
    if not isinstance(body.get("self_regenerate"), bool):
        raise invalid_request("'self_regenerate' is required and must be true or false")
    store = request.app[STORE]

    def change():
        return store.set_robot_settings_audited(
            caller.namespace.name, self_regenerate=body["self_regenerate"], actor=caller.audit(request),
        )

    return web.json_response((await request.app[OFFLOAD].database(change)).as_dict())


async def creation_secret(request: web.Request, caller: Caller, body: dict) -> hashing.NewSecret | None:
    """Return the existing secret a create body gives (``token``) with its hash, made on the
    bcrypt pool, or None when it gives none.

    Raises 403 unless the caller is a superuser, 400 when the secret is not 64 characters
    from [A-Z0-9] (the message never repeats it).
    """
    given = body.get(GIVEN_SECRET_FIELD)
    if given is None:
        return None
    if not caller.user.superuser:
        raise forbidden("only a superuser may give a robot an existing secret ('token')")
    try:
        hashing.check_given_secret(given)
    except SecretInvalid as exc:
        raise invalid_request(f"{GIVEN_SECRET_FIELD!r}: {exc}") from None
    return await request.app[OFFLOAD].bcrypt(hashing.given_secret, given, request.app[STORE].bcrypt_cost)


def is_basic(request: web.Request) -> bool:
    """Return True when the request authenticates with Basic credentials (a robot), not an API token."""
    return request.headers.get("Authorization", "").lstrip()[:6].lower() == "basic "


async def self_regenerate(request: web.Request) -> web.Response:
    """``POST .../robots/{robot_shortname}/regenerate`` as the robot itself (Basic
    ``namespace+shortname:secret``): 200 robot object with the new ``token``; the secret
    presented stops at once (or after ``?grace_seconds=N``).

    The credential goes through the token endpoint's authenticators (login throttle,
    verified-credential cache); the new secret is hashed only once the robot and its
    namespace's setting were checked, and stored in a transaction that checks both again.
    Raises 401 (credentials refused), 403 (another robot's path, or the setting is off),
    400 (malformed header or parameter), 429/503 (login throttle).
    """
    grace_seconds = int_param(request, "grace_seconds", low=0, high=MAX_GRACE_SECONDS) or 0
    try:
        username, password = parse_basic(request.headers["Authorization"])
    except TokenError as exc:
        raise invalid_request(exc.message) from None
    robot = _path_robot(request, username)
    store, offload = request.app[STORE], request.app[OFFLOAD]
    ip = client_fields(request)["ip"]

    def standing(principal) -> str:
        """In the transaction confirming the principal: may it regenerate its secret?"""
        if not principal.is_robot or principal.secret_id is None:
            return "not a secret"
        namespace = parse_robot_name(principal.username).namespace
        return "allowed" if store.robot_settings(namespace).self_regenerate else "not allowed"

    try:
        authenticated = await authenticate(request.app[AUTHENTICATORS], Credentials(username, password, ip), standing)
        if authenticated.outcome == "not a secret":
            raise forbidden("only a login with the robot's secret can regenerate it")
        if authenticated.outcome != "allowed":
            raise SelfRegenerateNotAllowed(_not_allowed(robot))
        new_secret = await new_secret_hash(request)
        # A transaction of its own, holding the write lock alone as every change that takes a
        # credential away does (never a writer batch, whose lock is shared with other
        # processes' token issuance).
        issued = await offload.database(
            store.self_regenerate_audited, authenticated.principal, ip=ip, grace_seconds=grace_seconds,
            new_secret=new_secret,
        )
    except InvalidCredentials as exc:
        detail = str(exc) if exc.reason in ("expired", "disabled") else "invalid robot name or secret"
        raise ApiError(401, detail, headers={"WWW-Authenticate": 'Basic realm="regauth"'}) from None
    except SelfRegenerateNotAllowed as exc:
        raise forbidden(str(exc)) from None
    except TokenError as exc:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
        raise ApiError(exc.status, exc.details, headers=headers) from None
    # The same reply as an admin's regeneration (Quay's keys).
    return web.json_response(robot_view(issued.robot, token=issued.secret))


def _path_robot(request: web.Request, username: str) -> str:
    """Return the robot the path names: ``orgname+shortname``, or for ``/user/robots/...``
    the presented robot's own namespace with the path's shortname. Raises 400 for a
    malformed name or a presented name that is not a robot's, 403 when the path names
    another robot than the one presented."""
    try:
        presented = parse_robot_name(username)
    except ValueError:
        raise invalid_request("log in with the robot's full name (namespace+shortname) and its secret") from None
    namespace = request.match_info.get("orgname", presented.namespace)
    robot = f"{namespace}+{request.match_info['robot_shortname']}"
    if robot != str(presented):
        raise forbidden(SELF_REGENERATE_DETAIL.format(robot=robot))
    return robot


def _not_allowed(robot: str) -> str:
    namespace = robot.split("+", 1)[0]
    return (
        f"the robots of {namespace!r} may not regenerate their own secrets: an admin of {namespace!r} can"
        f' allow it (PUT /api/v1/namespace/{namespace}/robotsettings with {{"self_regenerate": true}})'
    )
