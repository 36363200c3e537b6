"""``GET /.well-known/jwks.json``: the public half of every trusted signing key, for
registry 3.x."""

from aiohttp import web

from .live_keyring import KEYRING


async def jwks(request: web.Request) -> web.Response:
    """Publish every trusted key (active, staged, previous) as a JWK set (registry 3.x's
    ``jwks`` option), so a registry that re-reads it trusts a staged key before it signs."""
    return web.json_response(request.app[KEYRING].current.jwks())
