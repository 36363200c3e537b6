"""The Teams tab of an organization, for its admins: the teams, one team with its members
(people and robots) and repository roles, and the forms that change them.

Every change goes through ``tokenstore.team_changes`` with the signed-in admin as performer,
as the management API's do, then redirects back with a notice (plain forms, no script).
"""

from collections.abc import Callable

from aiohttp import web

from tokenstore import NameInvalid, NotFound, TokenStoreError, team_changes
from tokenstore.teams import TEAM_ROLES, check_team_name

from ..appkeys import OFFLOAD, STORE
from ..management.audit_fields import performer
from .actions import _sentence
from .errors import not_found
from .keys import USER
from .pages import ROLE_CHOICES
from .places import Place, require_admin, resolve
from .render import flash, render
from .sessions import action, page

TEAM_ROLE_CHOICES = (
    ("member", "Member", "only the team's repository roles"),
    ("creator", "Creator", "its pushes may also create repositories"),
    ("admin", "Admin", "admin on every repository of the organization"),
)
REPOSITORY_ROLES = tuple(value for value, _, _ in ROLE_CHOICES)
DESCRIPTION_MAX = 4096


def add_team_routes(router: web.UrlDispatcher, route_prefix: str) -> None:
    """Add the Teams pages and actions under ``/organization/{orgname}/teams``."""
    base = "/organization/{orgname}/teams"
    team = base + "/{teamname}"
    name = route_prefix + "org.teams"
    router.add_get(base, teams_page, name=name)
    router.add_post(base, create_team, name=name + ".create")
    router.add_get(team, team_page, name=name + ".team")
    router.add_post(team, update_team, name=name + ".update")
    router.add_post(team + "/delete", delete_team, name=name + ".delete")
    router.add_post(team + "/members", add_member, name=name + ".members.add")
    router.add_post(team + "/members/remove", remove_member, name=name + ".members.remove")
    router.add_post(team + "/permissions", set_permission, name=name + ".permissions.set")
    router.add_post(team + "/permissions/revoke", revoke_permission, name=name + ".permissions.revoke")


async def _admin_org(request: web.Request) -> Place:
    """Return the organization of the route when the user administers it; 404 for a user's
    own namespace (teams are an organization's), 403 for a plain member."""
    place = await resolve(request)
    require_admin(place)
    return place


def _team_from_path(request: web.Request) -> str:
    try:
        return check_team_name(request.match_info["teamname"])
    except NameInvalid:
        raise not_found("team") from None


@page
async def teams_page(request: web.Request) -> web.Response:
    """The organization's teams, and the form that creates one."""
    place = await _admin_org(request)
    teams = await request.app[OFFLOAD].database(request.app[STORE].list_teams, place.name)
    return render(request, "teams.html", {
        "place": place, "teams": teams, "team_roles": TEAM_ROLE_CHOICES, "tab": "teams",
    })


@page
async def team_page(request: web.Request) -> web.Response:
    """One team: its role and description, members and repository roles, with their forms."""
    place = await _admin_org(request)
    name = _team_from_path(request)
    store = request.app[STORE]

    def load():
        team = store.get_team(place.name, name)
        members = store.list_team_members(place.name, name)
        permissions = store.list_team_permissions(place.name, name)
        people = [m.username for m in store.list_members(place.name)]
        robots = [r.username for r in store.list_robots(place.name)]
        repositories = store.list_repositories(place.name)
        return team, members, permissions, people, robots, repositories

    try:
        team, members, permissions, people, robots, repositories = await request.app[OFFLOAD].database(load)
    except NotFound:
        raise not_found("team") from None
    in_team = {m.name for m in members}
    granted = {p.repository for p in permissions}
    return render(request, "team.html", {
        "place": place, "team": team, "members": members, "permissions": permissions,
        "candidates": [n for n in people + robots if n not in in_team],
        "ungranted": [r for r in repositories if r.name not in granted],
        "team_roles": TEAM_ROLE_CHOICES, "roles": ROLE_CHOICES, "tab": "teams",
    })


@action
async def create_team(request: web.Request) -> web.StreamResponse:
    """``POST .../teams`` with ``name``, ``role`` and ``description``: creates the team and
    opens it; back to the list with why when it cannot."""
    place = await _admin_org(request)
    form = await request.post()
    name, role = str(form.get("name", "")).strip(), str(form.get("role", "member"))
    description = str(form.get("description", "")).strip()
    store = request.app[STORE]
    actor = performer(request, request[USER])
    back = web.HTTPSeeOther(f"{place.base}/teams")
    if role not in TEAM_ROLES:
        flash(back, request, "Choose member, creator or admin.", "error")
        raise back
    try:
        check_team_name(name)
        if len(description) > DESCRIPTION_MAX:
            raise NameInvalid(f"the description may be at most {DESCRIPTION_MAX} characters long")

        def create():
            try:
                store.get_team(place.name, name)
            except NotFound:
                return team_changes.put_team(store, place.name, name, role=role, description=description, actor=actor)
            return None

        created = await request.app[OFFLOAD].database(create)
    except TokenStoreError as exc:
        flash(back, request, _sentence(str(exc)), "error")
        raise back from None
    if created is None:
        flash(back, request, f"A team named {name} already exists.", "error")
        raise back
    response = web.HTTPSeeOther(f"{place.base}/teams/{name}")
    flash(response, request, f"Created team {name}.")
    raise response


@action
async def update_team(request: web.Request) -> web.StreamResponse:
    """``POST .../teams/{team}`` with ``role`` and ``description``: changes them."""
    place, name, form, actor = await _team_action(request)
    role, description = str(form.get("role", "")), str(form.get("description", "")).strip()
    if role not in TEAM_ROLES:
        await _finish(request, place, name, None, "", "Choose member, creator or admin.")
    if len(description) > DESCRIPTION_MAX:
        await _finish(request, place, name, None, "", f"The description may be at most {DESCRIPTION_MAX} characters long.")
    store = request.app[STORE]
    await _finish(request, place, name, lambda: team_changes.put_team(
        store, place.name, name, role=role, description=description, actor=actor,
    ), f"Saved team {name}: role {role}.")


@action
async def delete_team(request: web.Request) -> web.StreamResponse:
    """``POST .../teams/{team}/delete`` with ``confirmed=yes``: deletes the team."""
    place, name, form, actor = await _team_action(request)
    if form.get("confirmed") != "yes":
        await _finish(request, place, name, None, "", "Tick the box to confirm the deletion.")
    store = request.app[STORE]
    response = web.HTTPSeeOther(f"{place.base}/teams")
    try:
        await request.app[OFFLOAD].database(lambda: team_changes.delete_team(store, place.name, name, actor=actor))
    except NotFound:
        flash(response, request, f"Team {name} was already deleted.", "error")
    else:
        flash(response, request, f"Deleted team {name}. Its members lost its rights at once.")
    raise response


async def _change_member(request: web.Request, change, done: str) -> None:
    """Run ``change(store, org, team, member, actor=)`` for the form's ``member`` and go back to
    the team's page with ``done`` (formatted with ``member`` and ``team``), or the error."""
    place, name, form, actor = await _team_action(request)
    member = str(form.get("member", ""))
    store = request.app[STORE]
    await _finish(request, place, name, lambda: change(
        store, place.name, name, member, actor=actor,
    ), done.format(member=member, team=name))


@action
async def add_member(request: web.Request) -> web.StreamResponse:
    """``POST .../teams/{team}/members`` with ``member`` (a user or ``org+robot``)."""
    await _change_member(request, team_changes.add_member, "Added {member} to team {team}.")


@action
async def remove_member(request: web.Request) -> web.StreamResponse:
    """``POST .../teams/{team}/members/remove`` with ``member``: its rights end at once."""
    await _change_member(request, team_changes.remove_member, "Removed {member} from team {team}.")


@action
async def set_permission(request: web.Request) -> web.StreamResponse:
    """``POST .../teams/{team}/permissions`` with ``repository`` (its name) and ``role``."""
    place, name, form, actor = await _team_action(request)
    repository, role = str(form.get("repository", "")), str(form.get("role", ""))
    if role not in REPOSITORY_ROLES:
        await _finish(request, place, name, None, "", "Choose read, write or admin.")
    store = request.app[STORE]
    full_name = f"{place.name}/{repository}"
    await _finish(request, place, name, lambda: team_changes.set_permission(
        store, full_name, name, role, actor=actor,
    ), f"Team {name} now has {role} on {full_name}.")


@action
async def revoke_permission(request: web.Request) -> web.StreamResponse:
    """``POST .../teams/{team}/permissions/revoke`` with ``repository``."""
    place, name, form, actor = await _team_action(request)
    full_name = f"{place.name}/{form.get('repository', '')}"
    store = request.app[STORE]
    await _finish(request, place, name, lambda: team_changes.remove_permission(
        store, full_name, name, actor=actor,
    ), f"Revoked team {name}'s access to {full_name}.")


async def _team_action(request: web.Request) -> tuple[Place, str, object, dict]:
    """Return (organization, team name, the form, audit actor) of a team's action."""
    place = await _admin_org(request)
    name = _team_from_path(request)
    return place, name, await request.post(), performer(request, request[USER])


async def _finish(
    request: web.Request, place: Place, team: str, change: Callable[[], object] | None, done: str, refused: str = "",
) -> None:
    """Run ``change`` in the database pool (None: refuse with ``refused``), then go back to
    the team's page with ``done`` or why it failed. Always raises the redirect."""
    response = web.HTTPSeeOther(f"{place.base}/teams/{team}")
    if change is None:
        flash(response, request, refused, "error")
        raise response
    try:
        await request.app[OFFLOAD].database(change)
    except TokenStoreError as exc:
        flash(response, request, _sentence(str(exc)), "error")
    else:
        flash(response, request, done)
    raise response

