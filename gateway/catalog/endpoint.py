"""``GET /v2/_catalog``: the caller, the page asked for, the registry's names the caller may
pull, and the reply the registry itself would give."""

from collections.abc import Sequence

from aiohttp import web

from tokenstore import Principal, Resource

from ..appkeys import AUTHORIZER, OFFLOAD
from ..edge import request_id
from ..token.authz import Authorizer
from ..token.scopes import Scope
from .callers import caller
from .paging import page_request, visible_page
from .upstream import RegistryCatalog, open_session

PATH = "/v2/_catalog"


def add_route(app: web.Application) -> None:
    """Serve ``GET /v2/_catalog`` (nginx sends it here) with its registry client."""
    app.cleanup_ctx.append(open_session)
    app.router.add_get(PATH, get_catalog)


async def get_catalog(request: web.Request) -> web.Response:
    """Answer with ``{"repositories": [...]}``: the names the caller may pull, ``n`` at most,
    after ``last``, with a ``Link`` to the next page when more follow.

    Raises a 400 CatalogError for a bad ``n`` or ``last``, a 401 for a refused credential,
    a 503 when the registry cannot give its catalog (``upstream``).
    """
    asked = page_request(request.query)
    principal = await caller(request)
    registry = RegistryCatalog(request.app)
    offload, authorizer = request.app[OFFLOAD], request.app[AUTHORIZER]

    async def visible(names: list[str]) -> list[str]:
        return await offload.database(pullable, authorizer, principal, names)

    page = await visible_page(asked, registry.page, visible)
    request_id.note(robot=principal.username, outcome="listed")
    headers = {"Docker-Distribution-API-Version": "registry/2.0"}
    link = page.link(asked.n)
    if link is not None:
        headers["Link"] = link
    return web.json_response({"repositories": page.names}, headers=headers)


def pullable(authorizer: Authorizer, principal: Principal, names: Sequence[str]) -> list[str]:
    """Return the names of ``names`` the principal may pull, in their order. Synchronous:
    call it on a database thread."""
    granted = authorizer.authorize(principal, [Scope(Resource("repository", name), ("pull",)) for name in names])
    return [access.name for access in granted if access.actions]
