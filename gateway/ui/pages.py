"""The UI's pages (GET): the organizations overview, and for an organization or the user's
own namespace its repositories, its robot accounts and one robot with its permissions.

Pages read the model through the same ``Store`` methods the management API uses, in the
database thread pool. No page ever holds a secret: create and regenerate answer the page's
script with JSON instead (``actions.py``).
"""

from dataclasses import dataclass

from aiohttp import web

from tokenstore import NotFound, Permission, Repository, Robot, SecretInfo

from ..appkeys import CONFIG, OFFLOAD, STORE
from .errors import not_found
from .formatting import login_commands, registry_host
from .keys import USER
from .places import require_admin, resolve, robot_name
from .render import render
from .sessions import load_session, page

ROLE_CHOICES = (
    ("read", "Read", "pull"),
    ("write", "Write", "pull and push"),
    ("admin", "Admin", "pull, push and delete"),
)


@dataclass(frozen=True)
class RobotRow:
    """A robot as the list shows it; ``permissions`` is None for viewers who may not see them."""

    robot: Robot
    secret_created: float | None
    permissions: list[Permission] | None
    commands: dict[str, str]


@dataclass(frozen=True)
class OrganizationCard:
    name: str
    role: str
    robots: int
    repositories: int


async def index(request: web.Request) -> web.Response:
    """``/``: the organizations overview when signed in, else the sign-in page."""
    signed_in = await load_session(request) is not None
    raise web.HTTPSeeOther("/organizations" if signed_in else "/signin")


@page
async def organizations(request: web.Request) -> web.Response:
    """The organizations the user belongs to (every one, for a superuser) and their own namespace."""
    user = request[USER]
    store = request.app[STORE]

    def load():
        roles = {m.organization: m.role for m in store.list_user_organizations(user)}
        if user.superuser:
            for namespace in store.list_namespaces("organization"):
                roles.setdefault(namespace.name, "superuser")
        cards = []
        for name in sorted(roles):
            try:
                cards.append(OrganizationCard(
                    name, roles[name], len(store.list_robots(name)), len(store.list_repositories(name))
                ))
            except NotFound:
                continue  # deleted while we looked
        own = OrganizationCard(
            user.username, "owner", len(store.list_robots(user.username)), len(store.list_repositories(user.username))
        )
        return cards, own

    cards, own = await request.app[OFFLOAD].database(load)
    return render(request, "organizations.html", {"organizations": cards, "own": own, "section": "organizations"})


@page
async def repositories(request: web.Request) -> web.Response:
    """A namespace's repositories (the first tab of an organization)."""
    place = await resolve(request)
    rows: list[Repository] = await request.app[OFFLOAD].database(request.app[STORE].list_repositories, place.name)
    return render(request, "repositories.html", {"place": place, "repositories": rows, "tab": "repositories"})


@page
async def robots(request: web.Request) -> web.Response:
    """A namespace's robot accounts, with the dialog that shows one and regenerates its token."""
    place = await resolve(request)
    store = request.app[STORE]
    host = registry_host(request.app[CONFIG].realm)

    def load() -> list[RobotRow]:
        rows = []
        for robot in store.list_robots(place.name):
            try:
                secrets = store.list_secrets(robot.username)
                permissions = store.list_permissions(robot.username) if place.is_admin else None
            except NotFound:
                continue  # deleted while we looked
            rows.append(RobotRow(robot, _current(secrets), permissions, login_commands(robot.username, host)))
        return rows

    rows = await request.app[OFFLOAD].database(load)
    return render(request, "robots.html", {"place": place, "rows": rows, "tab": "robots"})


@page
async def robot(request: web.Request) -> web.Response:
    """One robot: its details, login commands and repository permissions (admins only)."""
    place = await resolve(request)
    require_admin(place)
    username = robot_name(request, place)
    store = request.app[STORE]

    def load():
        found = store.get_robot(username)
        return found, store.list_secrets(username), store.list_permissions(username), store.list_repositories(place.name)

    try:
        found, secrets, permissions, all_repositories = await request.app[OFFLOAD].database(load)
    except NotFound:
        raise not_found("robot account") from None
    granted = {p.repository for p in permissions}
    return render(request, "robot.html", {
        "place": place,
        "robot": found,
        "secrets": secrets,
        "secret_created": _current(secrets),
        "permissions": permissions,
        "namespace_wide": next((p for p in permissions if p.repository is None), None),
        "ungranted": [r for r in all_repositories if r.name not in granted],
        "commands": login_commands(found.username, registry_host(request.app[CONFIG].realm)),
        "roles": ROLE_CHOICES,
        "tab": "robots",
    })


def _current(secrets: list[SecretInfo]) -> float | None:
    """Return the creation time of the newest live secret (None when none is live)."""
    return secrets[0].created if secrets else None

