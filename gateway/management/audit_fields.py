"""Who made a change, as its audit row records it: the fields the API and the web UI write
for a signed-in user."""

from aiohttp import web

from tokenstore import User

from ..appkeys import CONFIG
from ..edge.forwarded import client_address


def performer(request: web.Request, user: User) -> dict:
    """Return the ``performer``, ``performer_kind`` and ``ip`` fields of an audit row."""
    return {
        "performer": user.username,
        "performer_kind": "user",
        "ip": client_address(request, request.app[CONFIG].trusted_proxies),
    }
