"""HTTP errors and the one middleware that turns exceptions into responses.

Handlers raise an ``HTTPProblem``; the middleware renders it. A database that cannot answer
(locked for the whole busy timeout, its disk full, read-only, failing or corrupt, its file
removed) is a 503 with Retry-After naming the cause (``unavailable``), logged in one line.
Anything else unexpected is logged with its traceback and answered with a plain 500 that
reveals nothing.
"""

import logging
from dataclasses import dataclass

from aiohttp import web

from tokenstore import StoreBusy, StoreUnavailable

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


# Seconds a client is told to wait: a lock is let go in a moment; a full disk or a damaged
# database waits for someone to act.
BUSY_RETRY_AFTER = "1"
UNAVAILABLE_RETRY_AFTER = "30"


@dataclass(frozen=True)
class Unavailable:
    """Why the database could not answer, for a 503."""

    cause: str
    retry_after: str
    busy: bool = False

    @property
    def message(self) -> str:
        """The cause and what it means for the request, e.g. "the database's disk is full:
        nothing was changed"."""
        return f"{self.cause}: nothing was changed{self._advice}"

    @property
    def sentence(self) -> str:
        """The same for a page: "Nothing was changed: the database's disk is full."."""
        return f"Nothing was changed: {self.cause}{self._advice}."

    @property
    def _advice(self) -> str:
        return ", try again in a moment" if self.busy else ""


def unavailable(request: web.Request, exc: BaseException) -> Unavailable | None:
    """Return the 503 to answer when ``exc`` is the store unable to answer (a
    ``tokenstore.StoreUnavailable``), after logging one WARNING line that names the cause
    (no traceback: the cause is not a bug); None for any other error."""
    if not isinstance(exc, StoreUnavailable):
        return None
    log.warning("%s %s answered 503: %s (%s)", request.method, request.path, exc.cause, exc)
    return Unavailable(exc.cause, retry_after_for(exc), busy=isinstance(exc, StoreBusy))


def retry_after_for(exc: StoreUnavailable) -> str:
    """Return the Retry-After (seconds, as text) of a 503 for the store failure ``exc``."""
    return BUSY_RETRY_AFTER if isinstance(exc, StoreBusy) else UNAVAILABLE_RETRY_AFTER


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
        reason = unavailable(request, exc)
        if reason is not None:
            return web.json_response(
                {"errors": [{"code": "UNAVAILABLE", "message": reason.message, "detail": None}],
                 "details": reason.message},
                status=503, headers={"Retry-After": reason.retry_after},
            )
        log.exception("unhandled error in %s %s", request.method, request.path)
        return web.json_response(
            {"errors": [{"code": "UNKNOWN", "message": "internal error", "detail": None}],
             "details": "internal error; the server log has the details"},
            status=500,
        )
