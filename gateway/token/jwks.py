"""``GET /.well-known/jwks.json``: the public half of the signing key, for registry 3.x."""

from aiohttp import web

from ..appkeys import SIGNING_KEY


async def jwks(request: web.Request) -> web.Response:
    """Publish the public signing key as a JWK set (registry 3.x's ``jwks`` option)."""
    return web.json_response({"keys": [request.app[SIGNING_KEY].jwk()]})
