"""Errors of the management API, in Quay's shape.

Every failure under ``/api/`` answers with Quay's problem body::

    {"detail": "...", "error_message": "...", "error_type": "invalid_request",
     "title": "invalid_request", "type": "https://HOST/api/v1/error/invalid_request", "status": 400}

- 400 ``invalid_request``: a bad body, parameter or name; something that already exists.
- 401 ``invalid_token``: no API token, or one that is unknown, expired or revoked.
- 403 ``insufficient_scope``: signed in, but without the right.
- 404 ``not_found``: the organization, robot, repository, member or permission does not exist.
- 503 ``service_unavailable`` with Retry-After: the database could not answer (locked by
  another writer for the whole busy timeout, its disk full, read-only, failing or corrupt,
  its file removed); the detail names the cause, and nothing was changed.

Handlers raise ``ApiError``; ``api_error_middleware`` turns model errors, aiohttp's own
404/405/413 and anything unexpected into one, and the application's error middleware renders
it (``gateway.edge.errors``).
"""

import logging

from aiohttp import web

from tokenstore import InvalidCredentials, NotFound, TokenStoreError
from ..appkeys import CONFIG
from ..edge.errors import HTTPProblem, unavailable
from ..edge.forwarded import public_origin

log = logging.getLogger(__name__)

ERROR_TYPES = {
    400: "invalid_request", 401: "invalid_token", 403: "insufficient_scope", 404: "not_found", 503: "service_unavailable",
}
API_PREFIX = "/api/"


class ApiError(HTTPProblem):
    """Raised by an API handler to answer with Quay's error body.

    ``error_type`` defaults from the status (see ERROR_TYPES); ``detail`` is shown to the
    caller, so it never holds a secret or an internal error's text.
    """

    def __init__(self, status: int, detail: str, error_type: str | None = None, headers: dict | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.error_type = error_type or ERROR_TYPES.get(status, "invalid_request")
        self.headers = headers or {}

    def response(self, request: web.Request) -> web.Response:
        origin = public_origin(request, request.app[CONFIG].trusted_proxies)
        body = {
            "detail": self.detail,
            "error_message": self.detail,
            "error_type": self.error_type,
            "title": self.error_type,
            "type": f"{origin}/api/v1/error/{self.error_type}",
            "status": self.status,
        }
        return web.json_response(body, status=self.status, headers=self.headers)


def invalid_request(detail: str) -> ApiError:
    """Return a 400 ``invalid_request``."""
    return ApiError(400, detail)


def unauthorized(detail: str, *, token_presented: bool) -> ApiError:
    """Return a 401 ``invalid_token`` with a Bearer challenge (RFC 6750 section 3)."""
    challenge = 'Bearer realm="regauth"'
    if token_presented:
        challenge += ', error="invalid_token"'
    return ApiError(401, detail, headers={"WWW-Authenticate": challenge})


def forbidden(detail: str = "you do not have the right to do this") -> ApiError:
    """Return a 403 ``insufficient_scope``."""
    return ApiError(403, detail)


def not_found(detail: str) -> ApiError:
    """Return a 404 ``not_found``."""
    return ApiError(404, detail)


def from_store_error(exc: TokenStoreError) -> ApiError:
    """Map a model error to its API error: NotFound → 404, a credential failure → 401,
    every other model error (bad name, role or value; already exists; grant outside the
    namespace; last admin) → 400. The model's messages name no secret and are meant for people."""
    if isinstance(exc, NotFound):
        return not_found(str(exc))
    if isinstance(exc, InvalidCredentials):
        return unauthorized(str(exc), token_presented=True)
    return invalid_request(str(exc))


_HTTP_DETAILS = {
    404: "no such API endpoint",
    405: "this endpoint does not take that method",
    413: "the request body is too large",
}


@web.middleware
async def api_error_middleware(request: web.Request, handler):
    """Under /api/: answer model errors, aiohttp's 4xx and unexpected errors in Quay's shape."""
    if not request.path.startswith(API_PREFIX):
        return await handler(request)
    try:
        return await handler(request)
    except HTTPProblem:
        raise
    except TokenStoreError as exc:
        raise from_store_error(exc) from None
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        raise ApiError(exc.status, _HTTP_DETAILS.get(exc.status, exc.reason), headers=headers) from None
    except Exception as exc:
        reason = unavailable(request, exc)
        if reason is not None:
            raise ApiError(503, reason.message, headers={"Retry-After": reason.retry_after}) from None
        log.exception("unhandled error in %s %s", request.method, request.path)
        raise ApiError(500, "internal error; the server log has the details", "internal_error") from None
