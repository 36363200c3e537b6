"""HTTP errors and the one middleware that turns exceptions into responses.

Handlers raise an ``HTTPProblem``; the middleware renders it. A database that stayed locked
for the whole busy timeout (another process holding a long write) is a 503 with Retry-After:
the request can simply be tried again. Anything else unexpected is logged with its
traceback and answered with a plain 500 that reveals nothing.
"""

import logging

from aiohttp import web

from tokenstore.database import database_busy

log = logging.getLogger(__name__)


class HTTPProblem(Exception):
    """Base of the errors a handler raises to answer with a 4xx."""

    status = 400

    def response(self, request: web.Request) -> web.Response:  # pragma: no cover - abstract
        raise NotImplementedError


class TokenError(HTTPProblem):
    """Raised by the token endpoint; rendered in the registry's error shape.

    ``{"errors": [{"code", "message", "detail"}], "details": ...}`` — docker shows ``details``.
    A 401 carries a Basic challenge so clients ask for credentials.
    """

    def __init__(
        self, status: int, code: str, message: str, details: str | None = None, realm: str = "regauth", *,
        retry_after: int | None = None,
    ):
        """``retry_after`` (seconds) becomes a Retry-After header, for a 429 or a 503."""
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or message
        self.realm = realm
        self.retry_after = retry_after

    def response(self, request: web.Request) -> web.Response:
        body = {"errors": [{"code": self.code, "message": self.message, "detail": None}], "details": self.details}
        headers = {"WWW-Authenticate": f'Basic realm="{self.realm}"'} if self.status == 401 else {}
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return web.json_response(body, status=self.status, headers=headers or None)


BUSY_RETRY_AFTER = "1"
BUSY_MESSAGE = "the database is busy with another writer: try again in a moment"


def bad_request(message: str) -> TokenError:
    """Return a 400 TokenError with ``message``."""
    return TokenError(400, "INVALID_REQUEST", message)


@web.middleware
async def error_middleware(request: web.Request, handler):
    """Render HTTPProblems; hide unexpected errors behind a plain 500."""
    try:
        return await handler(request)
    except HTTPProblem as problem:
        return problem.response(request)
    except web.HTTPException:
        raise
    except Exception as exc:
        if database_busy(exc):
            log.warning("%s %s answered 503: %s", request.method, request.path, exc)
            return web.json_response(
                {"errors": [{"code": "UNAVAILABLE", "message": BUSY_MESSAGE, "detail": None}], "details": BUSY_MESSAGE},
                status=503, headers={"Retry-After": BUSY_RETRY_AFTER},
            )
        log.exception("unhandled error in %s %s", request.method, request.path)
        return web.json_response(
            {"errors": [{"code": "UNKNOWN", "message": "internal error", "detail": None}],
             "details": "internal error; the server log has the details"},
            status=500,
        )
