"""Who is calling the management API (``Authorization: Bearer <API token>``), and what they
may do: ``admin`` or ``member`` of the namespace a call is about.

The ``require_*`` helpers check a right and return a ``Caller`` or raise 400, 403 (also for
a namespace that does not exist, so names cannot be probed) or 404 (superusers only). Call
them at the top of a handler, before reading the body. For robot routes ``robot_from_path``
does all of it::

    caller, robot = await robot_from_path(request)          # admin of the robot's namespace

docs/architecture.md, "Rights in the management API", says who holds which right.
"""

from dataclasses import dataclass

from aiohttp import web

from tokenstore import InvalidCredentials, Namespace, User
from tokenstore.names import check_namespace

from ..appkeys import OFFLOAD, STORE
from ..management.audit_fields import performer
from .errors import forbidden, not_found, unauthorized

_USER_KEY = web.RequestKey("api_user", User)
MAX_TOKEN_LENGTH = 512

NO_TOKEN_DETAIL = (
    "this API needs an API token: send 'Authorization: Bearer <token>' "
    "(an administrator creates one with `regauth token create USER`)"
)


@dataclass(frozen=True)
class Caller:
    """The signed-in user and their standing in the namespace a call is about."""

    user: User
    namespace: Namespace
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def audit(self, request: web.Request) -> dict:
        """Return the performer fields of an audit row for this call (``Store.record_event``)."""
        return performer(request, self.user)


async def current_user(request: web.Request) -> User:
    """Return the user whose API token the request carries.

    Raises 401 ``invalid_token`` when there is no bearer token, or it is unknown, expired or
    revoked, or its user was deleted. The result is kept on the request.
    """
    cached = request.get(_USER_KEY)
    if cached is not None:
        return cached
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if not header:
        raise unauthorized(NO_TOKEN_DETAIL, token_presented=False)
    if scheme.lower() != "bearer" or not token:
        raise unauthorized("send the API token as 'Authorization: Bearer <token>'", token_presented=False)
    if len(token) > MAX_TOKEN_LENGTH:
        raise unauthorized("invalid API token", token_presented=True)
    try:
        user = await request.app[OFFLOAD].database(request.app[STORE].authenticate_api_token, token)
    except InvalidCredentials as exc:
        raise unauthorized(str(exc), token_presented=True) from None
    request[_USER_KEY] = user
    return user


async def require_namespace_role(
    request: web.Request, namespace: str, *, admin: bool, kind: str | None = None
) -> Caller:
    """Return the Caller when they are admin (``admin=True``) or at least a member of
    ``namespace``; with ``kind`` ("organization" or "user") the namespace must be of it.

    Raises 401 (no valid token), 400 (malformed name), 403 (no such right) or 404 (the
    namespace does not exist or is of another kind; only superusers can get here).
    """
    user = await current_user(request)
    what = kind or "namespace"
    check_namespace(namespace, what)
    access = await request.app[OFFLOAD].database(request.app[STORE].namespace_access, user, namespace)
    allowed = access.is_admin if admin else access.is_member
    if not allowed:
        needed = "an admin" if admin else "a member"
        raise forbidden(f"you must be {needed} of {namespace!r} (or a superuser) to do this")
    if access.namespace is None or (kind is not None and access.namespace.kind != kind):
        raise not_found(f"{what} {namespace!r} does not exist")
    return Caller(user, access.namespace, access.role)


async def require_namespace_admin(request: web.Request, namespace: str) -> Caller:
    """Return the Caller if they administer ``namespace`` (any kind); see require_namespace_role."""
    return await require_namespace_role(request, namespace, admin=True)


async def require_namespace_member(request: web.Request, namespace: str) -> Caller:
    """Return the Caller if they are at least a member of ``namespace``; see require_namespace_role."""
    return await require_namespace_role(request, namespace, admin=False)


async def require_org_admin(request: web.Request, orgname: str) -> Caller:
    """Return the Caller if they administer organization ``orgname``; see require_namespace_role."""
    return await require_namespace_role(request, orgname, admin=True, kind="organization")


async def require_robot_admin(request: web.Request, namespace: str) -> Caller:
    """Return the Caller if they may manage the robots of ``namespace``: create, read,
    delete, regenerate, configure (federation) and read their permissions.

    Those are the namespace's admins: organization admins, the user for their own robots,
    superusers. Raises like require_namespace_role.
    """
    return await require_namespace_role(request, namespace, admin=True)


async def path_namespace(request: web.Request) -> tuple[str, str | None]:
    """Return the namespace of an organization or user route and the kind it must have.

    ``/organization/{orgname}/...`` gives (orgname, "organization"); a ``/user/...`` route
    gives the caller's own namespace, (username, "user"). Raises 401 without a valid token.
    """
    orgname = request.match_info.get("orgname")
    if orgname is not None:
        return orgname, "organization"
    return (await current_user(request)).username, "user"


async def robot_from_path(request: web.Request, *, admin: bool = True) -> tuple[Caller, str]:
    """Return the Caller and the full robot name (``namespace+shortname``) of a robot route.

    Checks that the caller administers the robot's namespace (``admin=False``: is at least a
    member). Raises 401, 400 (malformed organization or shortname), 403 or 404 (no such
    organization; the robot itself is looked up by the handler).
    """
    namespace, kind = await path_namespace(request)
    caller = await require_namespace_role(request, namespace, admin=admin, kind=kind)
    shortname = check_namespace(request.match_info["robot_shortname"], "robot shortname")
    return caller, f"{caller.namespace.name}+{shortname}"
