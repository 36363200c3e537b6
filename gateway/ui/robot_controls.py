"""The robot page's Disable and Enable buttons: a signed-in admin's form post (CSRF-checked
by ``sessions.action``), the same audited store call as the API, then back to the page."""

from aiohttp import web

from tokenstore import NotFound

from ..appkeys import OFFLOAD, STORE
from ..management.audit_fields import performer
from .actions import _admin_place
from .errors import not_found
from .keys import USER
from .places import robot_name
from .render import flash
from .sessions import action


@action
async def disable(request: web.Request) -> web.StreamResponse:
    """``POST .../robots/{robot_shortname}/disable``: the robot is refused from its next request on."""
    await _set_enabled(request, False)


@action
async def enable(request: web.Request) -> web.StreamResponse:
    """``POST .../robots/{robot_shortname}/enable``: the robot may log in again."""
    await _set_enabled(request, True)


async def _set_enabled(request: web.Request, enabled: bool) -> None:
    """Change the robot, then redirect to its page with what happened; always raises."""
    place = await _admin_place(request)
    username = robot_name(request, place)
    store = request.app[STORE]
    audit = performer(request, request[USER])

    def change():
        return store.set_robot_enabled_audited(username, enabled, actor=audit)

    try:
        await request.app[OFFLOAD].database(change)
    except NotFound:
        raise not_found("robot account") from None
    response = web.HTTPSeeOther(place.robot_url(username.split("+", 1)[1]))
    if enabled:
        flash(response, request, f"Enabled robot account {username}. It can log in again.")
    else:
        flash(response, request, f"Disabled robot account {username}. It can no longer log in.")
    raise response
