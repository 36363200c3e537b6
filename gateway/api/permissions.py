"""Robot permissions on a repository (Quay's ``/api/v1/repository/{ns}/{repo}/permissions/user/``)
and on a whole namespace (ours: ``/api/v1/namespace/{namespace}/permissions/user/``).

Only robots hold such grants: ``{username}`` is ``namespace+shortname``, in the repository's
own namespace. People get their rights from their role in the organization instead, so a
plain user name is refused with a 400 on PUT and is never found (404) on GET and DELETE.
A namespace-wide grant covers every repository of the namespace, including those a push
creates later.
"""

from aiohttp import web

from tokenstore.names import ROBOT_SEPARATOR, parse_robot_name

from ..appkeys import OFFLOAD, STORE
from .auth import current_user, require_namespace_admin
from .bodies import read_object, string_field
from .errors import invalid_request, not_found
from .repositories import repository_from_path
from .views import user_permission_view

ROLES = ("read", "write", "admin")


def _robot_in(namespace: str, username: str, *, for_write: bool) -> str:
    """Return ``username`` when it names a robot of ``namespace``.

    Raises 400 for a malformed name and, when writing, for a person or another namespace's
    robot (which cannot hold the grant); 404 for those when reading or deleting.
    """
    if ROBOT_SEPARATOR not in username:
        if for_write:
            raise invalid_request(
                f"{username!r} is not a robot: only robots (namespace+shortname) get repository "
                "permissions; people get their rights from their organization role"
            )
        raise not_found(f"{username!r} holds no permission here")
    if parse_robot_name(username).namespace != namespace:
        if for_write:
            raise invalid_request(f"robot {username!r} can only be granted rights inside its own namespace")
        raise not_found(f"{username!r} holds no permission here")
    return username


def _in_organization(caller) -> bool:
    return caller.namespace.kind == "organization"


# -- one repository ---------------------------------------------------------------------


async def list_repository_permissions(request: web.Request) -> web.Response:
    """``GET .../permissions/user/``: 200 ``{"permissions": {"ns+bot": {"role", "name",
    "is_robot", "is_org_member"}}}`` for the robots with a role on this repository."""
    await current_user(request)
    full_name = repository_from_path(request)
    caller = await require_namespace_admin(request, request.match_info["namespace"])
    permissions = await request.app[OFFLOAD].database(request.app[STORE].list_repository_permissions, full_name)
    org = _in_organization(caller)
    return web.json_response({"permissions": {
        p.robot: user_permission_view(p, in_organization=org) for p in permissions
    }})


async def get_repository_permission(request: web.Request) -> web.Response:
    """``GET .../permissions/user/{username}``: 200 the robot's role; 404 when it has none."""
    await current_user(request)
    full_name = repository_from_path(request)
    caller = await require_namespace_admin(request, request.match_info["namespace"])
    username = _robot_in(caller.namespace.name, request.match_info["username"], for_write=False)
    permission = await request.app[OFFLOAD].database(request.app[STORE].get_permission, username, full_name)
    return web.json_response(user_permission_view(permission, in_organization=_in_organization(caller)))


async def put_repository_permission(request: web.Request) -> web.Response:
    """``PUT .../permissions/user/{username}`` with ``{"role": "read|write|admin"}``: 200 the
    new role (replacing any earlier one on this repository)."""
    await current_user(request)
    full_name = repository_from_path(request)
    caller = await require_namespace_admin(request, request.match_info["namespace"])
    username = _robot_in(caller.namespace.name, request.match_info["username"], for_write=True)
    role = string_field(await read_object(request), "role", required=True, choices=ROLES)
    store = request.app[STORE]

    def put():
        return store.grant_audited(username, full_name, role, actor=caller.audit(request))

    permission = await request.app[OFFLOAD].database(put)
    return web.json_response(user_permission_view(permission, in_organization=_in_organization(caller)))


async def delete_repository_permission(request: web.Request) -> web.Response:
    """``DELETE .../permissions/user/{username}``: 204; 404 when the robot had no role here."""
    await current_user(request)
    full_name = repository_from_path(request)
    caller = await require_namespace_admin(request, request.match_info["namespace"])
    username = _robot_in(caller.namespace.name, request.match_info["username"], for_write=False)
    store = request.app[STORE]

    def delete():
        store.revoke_audited(username, full_name, actor=caller.audit(request))

    await request.app[OFFLOAD].database(delete)
    return web.Response(status=204)


# -- a whole namespace (ours) -----------------------------------------------------------


async def list_namespace_permissions(request: web.Request) -> web.Response:
    """``GET /api/v1/namespace/{namespace}/permissions/user/``: 200 ``{"permissions":
    {"ns+bot": {"role", "name", "is_robot", ...}}}`` for robots with a namespace-wide role."""
    caller = await require_namespace_admin(request, request.match_info["namespace"])
    permissions = await request.app[OFFLOAD].database(request.app[STORE].list_namespace_grants, caller.namespace.name)
    org = _in_organization(caller)
    return web.json_response({"permissions": {
        p.robot: user_permission_view(p, in_organization=org) for p in permissions
    }})


async def get_namespace_permission(request: web.Request) -> web.Response:
    """``GET /api/v1/namespace/{namespace}/permissions/user/{username}``: 200 or 404."""
    caller = await require_namespace_admin(request, request.match_info["namespace"])
    username = _robot_in(caller.namespace.name, request.match_info["username"], for_write=False)
    permission = await request.app[OFFLOAD].database(
        request.app[STORE].get_permission, username, caller.namespace.name
    )
    return web.json_response(user_permission_view(permission, in_organization=_in_organization(caller)))


async def put_namespace_permission(request: web.Request) -> web.Response:
    """``PUT /api/v1/namespace/{namespace}/permissions/user/{username}`` with ``{"role"}``:
    200; the robot's role on every repository of the namespace, present and future."""
    caller = await require_namespace_admin(request, request.match_info["namespace"])
    username = _robot_in(caller.namespace.name, request.match_info["username"], for_write=True)
    role = string_field(await read_object(request), "role", required=True, choices=ROLES)
    store = request.app[STORE]

    def put():
        return store.grant_audited(username, caller.namespace.name, role, actor=caller.audit(request))

    permission = await request.app[OFFLOAD].database(put)
    return web.json_response(user_permission_view(permission, in_organization=_in_organization(caller)))


async def delete_namespace_permission(request: web.Request) -> web.Response:
    """``DELETE /api/v1/namespace/{namespace}/permissions/user/{username}``: 204 or 404."""
    caller = await require_namespace_admin(request, request.match_info["namespace"])
    username = _robot_in(caller.namespace.name, request.match_info["username"], for_write=False)
    store = request.app[STORE]

    def delete():
        store.revoke_audited(username, caller.namespace.name, actor=caller.audit(request))

    await request.app[OFFLOAD].database(delete)
    return web.Response(status=204)

