"""Keyless robots: the federation settings of a robot, as Quay 3.13's
``/api/v1/organization/{orgname}/robots/{robot_shortname}/federation`` (and under
``/api/v1/user/robots/``).

- ``GET``: 200 ``[{"issuer", "subject", "audience"}]``.
- ``POST`` with ``[{"issuer": "https://...", "subject": "...", "audience": "..."}]``
  (``audience`` optional): replaces the settings, 200 with the new list. Entries that stay the
  same keep the credentials already exchanged through them; the others stop at once.
- ``DELETE``: removes them all, 204; every credential exchanged through them stops at once.

Only the robot namespace's admins may read or change them. Changes are audited as
``create_robot_federation`` / ``delete_robot_federation``. The rules for a valid setting live
in ``tokenstore.federation``.
"""

from aiohttp import web

from ..appkeys import CONFIG, OFFLOAD, STORE
from ..federation.issuer_policy import check_federation_issuers
from .auth import robot_from_path
from .bodies import read_json


async def get_federation(request: web.Request) -> web.Response:
    """``GET .../robots/{robot_shortname}/federation``: 200 with the settings (404 no robot)."""
    _, username = await robot_from_path(request)
    federations = await request.app[OFFLOAD].database(request.app[STORE].list_federations, username)
    return web.json_response([federation.as_dict() for federation in federations])


async def set_federation(request: web.Request) -> web.Response:
    """``POST .../robots/{robot_shortname}/federation``: 200 with the new settings.

    400 for a malformed body (not a list, missing issuer or subject, an issuer that is not an
    https URL or not public, an unknown key, a duplicate), 404 when the robot does not exist.
    """
    caller, username = await robot_from_path(request)
    body = await read_json(request)
    await check_federation_issuers(body, allow_private=request.app[CONFIG].allow_private_issuers)
    store = request.app[STORE]

    def replace():
        with store.transaction():
            federations = store.set_federations(username, body)
            store.record_event(
                "create_robot_federation", caller.namespace.name, **caller.audit(request),
                metadata={"robot": username.split("+", 1)[1], "config": [f.as_dict() for f in federations]},
            )
        return federations

    federations = await request.app[OFFLOAD].database(replace)
    return web.json_response([federation.as_dict() for federation in federations])


async def delete_federation(request: web.Request) -> web.Response:
    """``DELETE .../robots/{robot_shortname}/federation``: 204 (404 when there is no such robot)."""
    caller, username = await robot_from_path(request)
    store = request.app[STORE]

    def delete():
        with store.transaction():
            removed = store.delete_federations(username)
            store.record_event(
                "delete_robot_federation", caller.namespace.name, **caller.audit(request),
                metadata={"robot": username.split("+", 1)[1], "config": [f.as_dict() for f in removed]},
            )

    await request.app[OFFLOAD].database(delete)
    return web.Response(status=204)


def add_routes(app: web.Application, prefix: str = "/api/v1") -> None:
    """Register the federation endpoints under the organization and user robot paths."""
    for base in (f"{prefix}/organization/{{orgname}}/robots/{{robot_shortname}}", f"{prefix}/user/robots/{{robot_shortname}}"):
        path = f"{base}/federation"
        app.router.add_get(path, get_federation)
        app.router.add_post(path, set_federation)
        app.router.add_delete(path, delete_federation)
