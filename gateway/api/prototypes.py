"""Default permissions, as Quay's ``/api/v1/organization/{orgname}/prototypes``.

Organization admins only. A prototype gives its delegate, one of the organization's robots
(kind ``user``, named ``org+shortname``) or teams (kind ``team``), a role on each repository
created in the organization from then on; with ``activating_user`` only on those that user
or robot creates. People hold no repository roles here: a person as delegate is a 400 that
says to use a team. Status codes follow Quay's: 200 for a creation, 400 for an unknown
delegate or activating user, 404 for an unknown prototype.
"""

from aiohttp import web

from tokenstore import prototype_changes

from ..appkeys import OFFLOAD, STORE
from ..management.prototype_views import prototype_view
from .auth import require_org_admin
from .bodies import object_field, read_object, string_field
from .errors import invalid_request

ROLES = ("read", "write", "admin")
DELEGATE_KINDS = ("user", "team")


async def list_prototypes(request: web.Request) -> web.Response:
    """``GET .../prototypes``: 200 ``{"prototypes": [...]}``, oldest first."""
    caller = await require_org_admin(request, request.match_info["orgname"])
    prototypes = await request.app[OFFLOAD].database(request.app[STORE].list_prototypes, caller.namespace.name)
    return web.json_response({"prototypes": [prototype_view(p) for p in prototypes]})


async def create_prototype(request: web.Request) -> web.Response:
    """``POST .../prototypes`` with ``{"role", "delegate": {"kind", "name"},
    "activating_user"?: {"name"}}``: 200 the prototype; 400 for a malformed body, a person
    as delegate, or an unknown robot, team or activating user."""
    caller = await require_org_admin(request, request.match_info["orgname"])
    body = await read_object(request)
    role = string_field(body, "role", required=True, choices=ROLES)
    delegate = object_field(body, "delegate")
    if delegate is None:
        raise invalid_request("'delegate' is required: an object with 'kind' (user or team) and 'name'")
    kind = string_field(delegate, "kind", required=True, choices=DELEGATE_KINDS)
    delegate_name = string_field(delegate, "name", required=True, max_length=512)
    activating = None
    if body.get("activating_user") is not None:  # Quay takes null for "anyone"
        # An empty name means "anyone", as in Quay.
        activating = string_field(object_field(body, "activating_user"), "name", required=True, max_length=512) or None
    store = request.app[STORE]

    def create():
        return prototype_changes.create(
            store, caller.namespace.name, role, kind, delegate_name, activating, actor=caller.audit(request),
        )

    prototype = await request.app[OFFLOAD].database(create)
    return web.json_response(prototype_view(prototype))


async def update_prototype(request: web.Request) -> web.Response:
    """``PUT .../prototypes/{prototypeid}`` with ``{"role"}``: 200 the prototype; 404 when
    there is none with that id. Repositories created before keep their roles."""
    caller = await require_org_admin(request, request.match_info["orgname"])
    role = string_field(await read_object(request), "role", required=True, choices=ROLES)
    store = request.app[STORE]

    def update():
        return prototype_changes.set_role(
            store, caller.namespace.name, request.match_info["prototypeid"], role, actor=caller.audit(request),
        )

    return web.json_response(prototype_view(await request.app[OFFLOAD].database(update)))


async def delete_prototype(request: web.Request) -> web.Response:
    """``DELETE .../prototypes/{prototypeid}``: 204; 404 when there is none with that id.
    The roles it gave stay."""
    caller = await require_org_admin(request, request.match_info["orgname"])
    store = request.app[STORE]

    def delete():
        prototype_changes.delete(store, caller.namespace.name, request.match_info["prototypeid"],
                                 actor=caller.audit(request))

    await request.app[OFFLOAD].database(delete)
    return web.Response(status=204)


def add_routes(router: web.UrlDispatcher) -> None:
    """Add the prototype routes to ``router``."""
    base = "/api/v1/organization/{orgname}/prototypes"
    router.add_get(base, list_prototypes)
    router.add_post(base, create_prototype)
    router.add_put(base + "/{prototypeid}", update_prototype)
    router.add_delete(base + "/{prototypeid}", delete_prototype)
