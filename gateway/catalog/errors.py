"""The catalog's errors, in the registry's error shape, with the challenge registry clients
act on (a Bearer challenge naming ``registry:catalog:*``, as the registry itself sends)."""

from aiohttp import web

from ..appkeys import CONFIG
from ..edge.errors import HTTPProblem

#: The scope the registry asks for on its catalog, named in every challenge.
CATALOG_SCOPE = "registry:catalog:*"


class CatalogError(HTTPProblem):
    """Raised by the catalog endpoint; rendered as ``{"errors": [{"code", "message",
    "detail"}]}``. A 401 carries ``WWW-Authenticate: Bearer realm=..., service=...,
    scope="registry:catalog:*"`` (with ``error="invalid_token"`` when a credential was
    presented and refused, RFC 6750 section 3); a 503 a Retry-After."""

    def __init__(self, status: int, code: str, message: str, *, refused_credential: bool = False,
                 retry_after: int | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.refused_credential = refused_credential
        self.retry_after = retry_after

    def response(self, request: web.Request) -> web.Response:
        headers = {}
        if self.status == 401:
            config = request.app[CONFIG]
            challenge = f'Bearer realm="{config.realm}",service="{config.service}",scope="{CATALOG_SCOPE}"'
            if self.refused_credential:
                challenge += ',error="invalid_token"'
            headers["WWW-Authenticate"] = challenge
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        body = {"errors": [{"code": self.code, "message": self.message, "detail": None}]}
        return web.json_response(body, status=self.status, headers=headers or None)


def unauthorized(message: str) -> CatalogError:
    """Return the 401 for a presented credential that is refused."""
    return CatalogError(401, "UNAUTHORIZED", message, refused_credential=True)


def registry_unavailable(message: str) -> CatalogError:
    """Return the 503 for a registry that cannot give its catalog; ``message`` names why."""
    return CatalogError(503, "UNAVAILABLE", message, retry_after=10)
