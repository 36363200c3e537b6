"""Organizations and their members, and the signed-in user (Quay's ``/api/v1/organization``
and ``/api/v1/user/``).

Quay manages membership through teams; regauth has two roles instead, ``admin`` and
``member``, set with ``PUT /api/v1/organization/{orgname}/members/{membername}`` (ours).
"""

from aiohttp import web

from tokenstore.names import check_namespace

from ..appkeys import OFFLOAD, STORE
from ..management.audit_fields import performer
from .auth import current_user, require_org_admin
from .bodies import read_object, string_field
from .errors import not_found
from .team_listing import organization_teams
from .views import member_view, organization_view, user_view

ORG_ROLES = ("admin", "member")


async def get_current_user(request: web.Request) -> web.Response:
    """``GET /api/v1/user/``: 200 the caller's name, superuser flag and organizations."""
    user = await current_user(request)
    memberships = await request.app[OFFLOAD].database(request.app[STORE].list_user_organizations, user)
    return web.json_response(user_view(user, memberships))


async def create_organization(request: web.Request) -> web.Response:
    """``POST /api/v1/organization/`` with ``{"name": "..."}``: 201 ``"Created"``.

    Any signed-in user may create one and becomes its admin. 400 when a user or
    organization already has the name, or the name breaks the rules.
    """
    user = await current_user(request)
    body = await read_object(request)
    name = string_field(body, "name", required=True)
    string_field(body, "email")  # accepted for Quay's clients, type-checked, not stored
    check_namespace(name, "organization")
    store = request.app[STORE]

    def create():
        with store.transaction():
            namespace = store.create_organization(name, admin=user.username)
            store.record_event("org_create", namespace.name, **performer(request, user), metadata={"namespace": name})

    await request.app[OFFLOAD].database(create)
    return web.json_response("Created", status=201)


async def get_organization(request: web.Request) -> web.Response:
    """``GET /api/v1/organization/{orgname}``: 200 ``{"name", "email", "is_admin", "is_member"}``,
    and for its members Quay's ``teams`` and ``ordered_teams``.

    Any signed-in user may look an organization up, as in Quay; 404 when there is none.
    """
    user = await current_user(request)
    orgname = check_namespace(request.match_info["orgname"], "organization")
    access = await request.app[OFFLOAD].database(request.app[STORE].namespace_access, user, orgname)
    if access.namespace is None or access.namespace.kind != "organization":
        raise not_found(f"organization {orgname!r} does not exist")
    body = organization_view(access.namespace, access.role)
    if access.role is not None:
        body.update(await organization_teams(request, orgname, user, is_admin=access.role == "admin"))
    return web.json_response(body)


async def delete_organization(request: web.Request) -> web.Response:
    """``DELETE /api/v1/organization/{orgname}``: 204. Its robots' secrets and every grant
    stop at once; the collector removes the rows later."""
    caller = await require_org_admin(request, request.match_info["orgname"])
    store = request.app[STORE]

    def delete():
        with store.transaction():
            store.record_event("org_delete", caller.namespace.name, **caller.audit(request),
                               metadata={"namespace": caller.namespace.name})
            store.delete_namespace(caller.namespace.name)

    await request.app[OFFLOAD].database(delete)
    return web.Response(status=204)


async def list_members(request: web.Request) -> web.Response:
    """``GET /api/v1/organization/{orgname}/members``: 200 ``{"members": [...]}`` (admins only)."""
    caller = await require_org_admin(request, request.match_info["orgname"])
    members = await request.app[OFFLOAD].database(request.app[STORE].list_members, caller.namespace.name)
    return web.json_response({"members": [member_view(member) for member in members]})


async def get_member(request: web.Request) -> web.Response:
    """``GET /api/v1/organization/{orgname}/members/{membername}``: 200 member, 404 when not one."""
    caller = await require_org_admin(request, request.match_info["orgname"])
    member = check_namespace(request.match_info["membername"], "user")
    membership = await request.app[OFFLOAD].database(request.app[STORE].get_member, caller.namespace.name, member)
    return web.json_response(member_view(membership))


async def put_member(request: web.Request) -> web.Response:
    """``PUT /api/v1/organization/{orgname}/members/{membername}`` with an optional
    ``{"role": "admin" | "member"}`` (default member): 200 member. Ours; adds or changes."""
    caller = await require_org_admin(request, request.match_info["orgname"])
    member = check_namespace(request.match_info["membername"], "user")
    body = await read_object(request, optional=True)
    role = string_field(body, "role", default="member", choices=ORG_ROLES)
    store = request.app[STORE]

    def put():
        with store.transaction():
            membership = store.set_member(caller.namespace.name, member, role)
            store.record_event("org_set_member", caller.namespace.name, **caller.audit(request),
                               metadata={"member": member, "role": role})
        return membership

    membership = await request.app[OFFLOAD].database(put)
    return web.json_response(member_view(membership))


async def delete_member(request: web.Request) -> web.Response:
    """``DELETE /api/v1/organization/{orgname}/members/{membername}``: 204; 400 for the last admin."""
    caller = await require_org_admin(request, request.match_info["orgname"])
    member = check_namespace(request.match_info["membername"], "user")
    store = request.app[STORE]

    def delete():
        with store.transaction():
            store.remove_member(caller.namespace.name, member)
            store.record_event("org_remove_member", caller.namespace.name, **caller.audit(request),
                               metadata={"member": member})

    await request.app[OFFLOAD].database(delete)
    return web.Response(status=204)
