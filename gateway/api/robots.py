"""Robot accounts, as Quay's ``/api/v1/organization/{orgname}/robots...`` and
``/api/v1/user/robots...``: the same handlers serve both (``auth.robot_from_path``).

Create and regenerate answer with the new secret (``token``); it is stored as a bcrypt hash,
so no other reply can contain it.
"""

from aiohttp import web

from tokenstore.secret_lifecycle import MAX_GRACE_SECONDS
from tokenstore.names import DESCRIPTION_MAX

from ..appkeys import OFFLOAD, STORE
from ..management.lifetimes import parse_api_expiration
from ..management.presenters import robot_view, secrets_json
from ..management.secret_hashing import new_secret_hash
from .auth import path_namespace, require_namespace_role, robot_from_path
from .bodies import bool_param, int_param, object_field, read_object, string_field
from .errors import invalid_request
from .robot_controls import creation_secret, is_basic, robot_object, self_regenerate
from .views import namespace_permission_view, robot_list_entry, robot_permission_view

MAX_LIST_LIMIT = 100_000


async def list_robots(request: web.Request) -> web.Response:
    """``GET .../robots?permissions=&limit=``: 200 ``{"robots": [...]}``.

    Members may list; ``permissions=true`` adds ``teams`` and ``repositories`` for admins
    only (as in Quay, a member's ``permissions=true`` is ignored).
    """
    namespace, kind = await path_namespace(request)
    caller = await require_namespace_role(request, namespace, admin=False, kind=kind)
    with_permissions = bool_param(request, "permissions") and caller.is_admin
    limit = int_param(request, "limit", low=0, high=MAX_LIST_LIMIT)
    store = request.app[STORE]

    def load():
        robots = store.list_robots(caller.namespace.name, limit)
        repositories = store.robot_repositories(caller.namespace.name) if with_permissions else None
        return robots, repositories

    robots, repositories = await request.app[OFFLOAD].database(load)
    if repositories is None:
        entries = [robot_list_entry(robot) for robot in robots]
    else:
        entries = [robot_list_entry(robot, repositories.get(robot.username, [])) for robot in robots]
    return web.json_response({"robots": entries})


async def get_robot(request: web.Request) -> web.Response:
    """``GET .../robots/{robot_shortname}``: 200 robot object with ``unstructured_metadata``,
    ``enabled`` and ``secrets`` (ours: each live secret's ``created`` and ``expiration``, newest first, so
    a rotation's overlap and an expiry are visible; never the secret itself)."""
    _, username = await robot_from_path(request)
    store = request.app[STORE]

    def load():
        return store.get_robot(username), store.list_secrets(username)

    robot, secrets = await request.app[OFFLOAD].database(load)
    body = robot_object(robot, metadata=True)
    body["secrets"] = secrets_json(secrets)
    return web.json_response(body)


async def create_robot(request: web.Request) -> web.Response:
    """``PUT .../robots/{robot_shortname}``: 201 robot object with its ``token``.

    Optional body ``{"description": "...", "unstructured_metadata": {...}, "expiration": ...}``
    (``expiration``, ours: when the secret stops working, UNIX seconds or RFC 3339; absent or
    null: never). 400 when the robot exists (as in Quay) or the body is malformed. Ours too:
    ``"token"``, an existing secret (superusers only; ``robot_controls.creation_secret``),
    which the reply then leaves out.
    """
    caller, username = await robot_from_path(request)
    body = await read_object(request, optional=True)
    description = string_field(body, "description", default="", max_length=DESCRIPTION_MAX)
    metadata = object_field(body, "unstructured_metadata")
    expires_at = _expiration(body)
    store = request.app[STORE]

    given = await creation_secret(request, caller, body)
    new_secret = given or await new_secret_hash(request)

    def create():
        return store.create_robot_audited(
            username, description, metadata, expires_at=expires_at, actor=caller.audit(request), new_secret=new_secret,
        )

    issued = await request.app[OFFLOAD].database(create)
    # A secret brought in by the caller is never echoed back.
    token = None if given is not None else issued.secret
    return web.json_response(robot_view(issued.robot, token=token, metadata=True), status=201)


async def delete_robot(request: web.Request) -> web.Response:
    """``DELETE .../robots/{robot_shortname}``: 204. The secret and every grant stop at once."""
    caller, username = await robot_from_path(request)
    store = request.app[STORE]

    def delete():
        store.delete_robot_audited(username, actor=caller.audit(request))

    await request.app[OFFLOAD].database(delete)
    return web.Response(status=204)


async def regenerate_robot(request: web.Request) -> web.Response:
    """``POST .../robots/{robot_shortname}/regenerate``: 200 ``{"name", "created",
    "last_accessed", "description", "token"}`` with the new secret; the old one is refused
    from the next token request on.

    Ours: ``?grace_seconds=N`` keeps the previous secret working N more seconds (default 0,
    at once, as Quay), for a rotation without an outage; an optional body
    ``{"expiration": ...}`` makes the new secret expire (UNIX seconds or RFC 3339). With
    Basic credentials of the robot itself: ``robot_controls.self_regenerate``.
    """
    if is_basic(request):
        return await self_regenerate(request)
    caller, username = await robot_from_path(request)
    grace_seconds = int_param(request, "grace_seconds", low=0, high=MAX_GRACE_SECONDS) or 0
    expires_at = _expiration(await read_object(request, optional=True))
    store = request.app[STORE]
    new_secret = await new_secret_hash(request)

    def regenerate():
        return store.regenerate_robot_audited(
            username, grace_seconds=grace_seconds, expires_at=expires_at, actor=caller.audit(request),
            new_secret=new_secret,
        )

    issued = await request.app[OFFLOAD].database(regenerate)
    return web.json_response(robot_view(issued.robot, token=issued.secret))


async def robot_permissions(request: web.Request) -> web.Response:
    """``GET .../robots/{robot_shortname}/permissions``: 200 ``{"permissions": [{"repository":
    {"name", "is_public"}, "role"}], "namespace_permission": {"namespace", "role"} | null}``
    (the last key is ours: a role on the whole namespace)."""
    _, username = await robot_from_path(request)
    permissions = await request.app[OFFLOAD].database(request.app[STORE].list_permissions, username)
    namespace_wide = next((p for p in permissions if p.repository is None), None)
    return web.json_response({
        "permissions": [robot_permission_view(p) for p in permissions if p.repository is not None],
        "namespace_permission": namespace_permission_view(namespace_wide),
    })


def _expiration(body: dict) -> float | None:
    """Return the ``expiration`` of a create or regenerate body as UNIX seconds (None: never);
    raises 400. Whether it lies in the future is the store's check (``check_expires_at``)."""
    try:
        return parse_api_expiration(body.get("expiration"))
    except ValueError as exc:
        raise invalid_request(f"'expiration': {exc}") from None
