"""Organization teams, as Quay's ``/api/v1/organization/{orgname}/team/...`` and
``/api/v1/repository/{ns}/{repo}/permissions/team/...``.

Organization admins manage teams; a team's members may read its member list. Status codes
follow Quay's, including where it answers 400 for something missing (deleting an unknown
team, removing a non-member, giving an unknown team a role): its model raises a data error
there, not a 404.
"""

from aiohttp import web

from tokenstore import NamespaceNotFound, RobotNotFound, UserNotFound, team_changes
from tokenstore.errors import TeamMemberNotFound, TeamNotFound, TeamPermissionNotFound
from tokenstore.teams import TEAM_ROLES, check_team_name

from ..appkeys import OFFLOAD, STORE
from ..management.team_views import (
    repository_team_permission_view,
    team_member_view,
    team_repository_permission_view,
    team_view,
)
from .auth import require_namespace_admin, require_namespace_role, require_org_admin
from .bodies import read_object, string_field
from .errors import forbidden, invalid_request
from .repositories import repository_from_path

REPOSITORY_ROLES = ("read", "write", "admin")
TEAM_DESCRIPTION_MAX = 4096


def _team_name(request: web.Request) -> str:
    """Return the ``{teamname}`` of the route; raises 400 (NameInvalid) when malformed."""
    return check_team_name(request.match_info["teamname"])


# -- teams --------------------------------------------------------------------------------


async def put_team(request: web.Request) -> web.Response:
    """``PUT /api/v1/organization/{orgname}/team/{teamname}`` with ``{"role": "member" |
    "creator" | "admin", "description"?}``: 200 the team (``new_team`` true when created).

    Creates the team or changes its role and description. A lower role counts from the
    next token request.
    """
    caller = await require_org_admin(request, request.match_info["orgname"])
    name = _team_name(request)
    body = await read_object(request)
    role = string_field(body, "role", required=True, choices=TEAM_ROLES)
    description = string_field(body, "description", max_length=TEAM_DESCRIPTION_MAX)
    store = request.app[STORE]

    def put():
        return team_changes.put_team(
            store, caller.namespace.name, name, role=role, description=description, actor=caller.audit(request),
        )

    team, created = await request.app[OFFLOAD].database(put)
    return web.json_response(team_view(team, can_view=True, new_team=created))


async def delete_team(request: web.Request) -> web.Response:
    """``DELETE /api/v1/organization/{orgname}/team/{teamname}``: 204; 400 when there is no
    such team (as Quay). Its members lose its rights from the next token request."""
    caller = await require_org_admin(request, request.match_info["orgname"])
    name = _team_name(request)
    store = request.app[STORE]

    def delete():
        team_changes.delete_team(store, caller.namespace.name, name, actor=caller.audit(request))

    try:
        await request.app[OFFLOAD].database(delete)
    except TeamNotFound as exc:
        raise invalid_request(str(exc)) from None
    return web.Response(status=204)


# -- members ------------------------------------------------------------------------------


async def list_team_members(request: web.Request) -> web.Response:
    """``GET /api/v1/organization/{orgname}/team/{teamname}/members``: 200 ``{"name",
    "members": [...], "can_edit"}``, for the organization's admins and the team's members;
    404 for an unknown team."""
    caller = await require_namespace_role(request, request.match_info["orgname"], admin=False, kind="organization")
    name = _team_name(request)
    store = request.app[STORE]
    org = caller.namespace.name

    def load():
        members = store.list_team_members(org, name)
        return members, caller.is_admin or name in store.member_teams(org, caller.user.username)

    members, may_view = await request.app[OFFLOAD].database(load)
    if not may_view:
        raise forbidden(f"you must be an admin of {org!r} or a member of team {name!r} to see its members")
    return web.json_response({
        "name": name,
        "members": [team_member_view(member) for member in members],
        "can_edit": caller.is_admin,
    })


async def put_team_member(request: web.Request) -> web.Response:
    """``PUT .../team/{teamname}/members/{membername}``: 200 the member. ``membername`` is a
    member of the organization or one of its robots (``org+short``); 400 for an unknown user
    or robot or one from outside the organization, 404 for an unknown team."""
    caller = await require_org_admin(request, request.match_info["orgname"])
    name = _team_name(request)
    member = request.match_info["membername"]
    store = request.app[STORE]

    def put():
        return team_changes.add_member(store, caller.namespace.name, name, member, actor=caller.audit(request))

    try:
        added = await request.app[OFFLOAD].database(put)
    except (UserNotFound, RobotNotFound):
        raise invalid_request("Unknown user") from None
    return web.json_response(team_member_view(added))


async def delete_team_member(request: web.Request) -> web.Response:
    """``DELETE .../team/{teamname}/members/{membername}``: 204; 404 for an unknown team,
    user or robot, 400 when it is not in the team (as Quay). Counts from the next token request."""
    caller = await require_org_admin(request, request.match_info["orgname"])
    name = _team_name(request)
    member = request.match_info["membername"]
    store = request.app[STORE]

    def delete():
        team_changes.remove_member(store, caller.namespace.name, name, member, actor=caller.audit(request))

    try:
        await request.app[OFFLOAD].database(delete)
    except TeamMemberNotFound as exc:
        raise invalid_request(str(exc)) from None
    return web.Response(status=204)


async def list_team_permissions(request: web.Request) -> web.Response:
    """``GET .../team/{teamname}/permissions``: 200 ``{"permissions": [{"repository":
    {"name", "is_public"}, "role"}]}`` (organization admins); 404 for an unknown team."""
    caller = await require_org_admin(request, request.match_info["orgname"])
    name = _team_name(request)
    permissions = await request.app[OFFLOAD].database(
        request.app[STORE].list_team_permissions, caller.namespace.name, name,
    )
    return web.json_response({"permissions": [team_repository_permission_view(p) for p in permissions]})


# -- a team's role on one repository ----------------------------------------------------


async def _repository_admin(request: web.Request) -> tuple[str, str, dict]:
    """Return (repository full name, team name, audit actor) after checking that the caller
    administers the repository's namespace; raises 400, 401, 403 or 404 like the user routes."""
    full_name = repository_from_path(request)
    caller = await require_namespace_admin(request, request.match_info["namespace"])
    return full_name, _team_name(request), caller.audit(request)


async def list_repository_team_permissions(request: web.Request) -> web.Response:
    """``GET .../permissions/team/``: 200 ``{"permissions": {"team": {"role", "name"}}}``."""
    full_name = repository_from_path(request)
    await require_namespace_admin(request, request.match_info["namespace"])
    permissions = await request.app[OFFLOAD].database(request.app[STORE].list_repository_team_permissions, full_name)
    return web.json_response({"permissions": {p.team: repository_team_permission_view(p) for p in permissions}})


async def get_repository_team_permission(request: web.Request) -> web.Response:
    """``GET .../permissions/team/{teamname}``: 200 ``{"role", "name"}``; 404 when the team
    or its role there does not exist."""
    full_name, team, _ = await _repository_admin(request)
    namespace = request.match_info["namespace"]
    permission = await request.app[OFFLOAD].database(request.app[STORE].get_team_permission, namespace, team, full_name)
    return web.json_response(repository_team_permission_view(permission))


async def put_repository_team_permission(request: web.Request) -> web.Response:
    """``PUT .../permissions/team/{teamname}`` with ``{"role": "read|write|admin"}``: 200
    ``{"role", "name"}``, replacing any earlier role; 400 for an unknown team (as Quay)."""
    full_name, team, actor = await _repository_admin(request)
    role = string_field(await read_object(request), "role", required=True, choices=REPOSITORY_ROLES)
    store = request.app[STORE]

    def put():
        return team_changes.set_permission(store, full_name, team, role, actor=actor)

    try:
        permission = await request.app[OFFLOAD].database(put)
    except (TeamNotFound, NamespaceNotFound) as exc:  # the latter: a user's namespace has no teams
        raise invalid_request(str(exc)) from None
    return web.json_response(repository_team_permission_view(permission))


async def delete_repository_team_permission(request: web.Request) -> web.Response:
    """``DELETE .../permissions/team/{teamname}``: 204; 400 when the team or its role there
    does not exist (as Quay). Counts from the next token request."""
    full_name, team, actor = await _repository_admin(request)
    store = request.app[STORE]

    def delete():
        team_changes.remove_permission(store, full_name, team, actor=actor)

    try:
        await request.app[OFFLOAD].database(delete)
    except (TeamNotFound, TeamPermissionNotFound, NamespaceNotFound) as exc:
        raise invalid_request(str(exc)) from None
    return web.Response(status=204)
