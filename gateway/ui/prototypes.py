"""The Default permissions tab of an organization, for its admins: the prototypes, the form
that creates one (a robot or a team, a role, optionally only for one creator) and deletion.

Every change goes through ``tokenstore.prototype_changes`` with the signed-in admin as
performer, as the management API's do, then redirects back with a notice (plain forms).
"""

from aiohttp import web

from tokenstore import TokenStoreError, prototype_changes

from ..appkeys import OFFLOAD, STORE
from ..management.audit_fields import performer
from .actions import _sentence
from .keys import USER
from .pages import ROLE_CHOICES
from .render import flash, render
from .sessions import action, page
from .teams import _admin_org  # the same right: the organization's admins

REPOSITORY_ROLES = tuple(value for value, _, _ in ROLE_CHOICES)
ANYONE = ""


def add_prototype_routes(router: web.UrlDispatcher, route_prefix: str) -> None:
    """Add the Default permissions page and actions under ``/organization/{orgname}/prototypes``."""
    base = "/organization/{orgname}/prototypes"
    name = route_prefix + "org.prototypes"
    router.add_get(base, prototypes_page, name=name)
    router.add_post(base, create_prototype, name=name + ".create")
    router.add_post(base + "/delete", delete_prototype, name=name + ".delete")


@page
async def prototypes_page(request: web.Request) -> web.Response:
    """The organization's default permissions, and the form that creates one."""
    place = await _admin_org(request)
    store = request.app[STORE]

    def load():
        return (
            store.list_prototypes(place.name),
            [r.username for r in store.list_robots(place.name)],
            [t.name for t in store.list_teams(place.name)],
            [m.username for m in store.list_members(place.name)],
        )

    prototypes, robots, teams, people = await request.app[OFFLOAD].database(load)
    return render(request, "prototypes.html", {
        "place": place, "prototypes": prototypes, "robots": robots, "teams": teams,
        "creators": people + robots, "roles": ROLE_CHOICES, "tab": "prototypes",
    })


@action
async def create_prototype(request: web.Request) -> web.StreamResponse:
    """``POST .../prototypes`` with ``delegate`` (``robot:ORG+SHORT`` or ``team:NAME``),
    ``role`` and ``activating`` (a user or robot, empty for anyone)."""
    place = await _admin_org(request)
    form = await request.post()
    kind, _, delegate = str(form.get("delegate", "")).partition(":")
    role, activating = str(form.get("role", "")), str(form.get("activating", ANYONE))
    back = web.HTTPSeeOther(f"{place.base}/prototypes")
    if kind not in ("robot", "team") or not delegate:
        flash(back, request, "Choose a robot account or a team.", "error")
        raise back
    if role not in REPOSITORY_ROLES:
        flash(back, request, "Choose read, write or admin.", "error")
        raise back
    store = request.app[STORE]
    actor = performer(request, request[USER])

    def create():
        return prototype_changes.create(
            store, place.name, role, "user" if kind == "robot" else "team", delegate, activating or None, actor=actor,
        )

    try:
        await request.app[OFFLOAD].database(create)
    except TokenStoreError as exc:
        flash(back, request, _sentence(str(exc)), "error")
        raise back from None
    whose = f"created by {activating}" if activating else "created from now on"
    flash(back, request, f"{delegate} will get {role} on every repository {whose}.")
    raise back


@action
async def delete_prototype(request: web.Request) -> web.StreamResponse:
    """``POST .../prototypes/delete`` with ``id``: deletes the default permission (the roles
    it gave stay)."""
    place = await _admin_org(request)
    uuid = str((await request.post()).get("id", ""))
    store = request.app[STORE]
    actor = performer(request, request[USER])
    back = web.HTTPSeeOther(f"{place.base}/prototypes")
    try:
        await request.app[OFFLOAD].database(lambda: prototype_changes.delete(store, place.name, uuid, actor=actor))
    except TokenStoreError as exc:
        flash(back, request, _sentence(str(exc)), "error")
    else:
        flash(back, request, "Deleted the default permission. The roles it gave stay.")
    raise back
