"""``text_guard_middleware``: a NUL (or a lone surrogate) in a query value or the path is a
400 naming the parameter, in the error shape of the part of the site asked, before any
handler runs."""

from aiohttp import web

from .api.errors import invalid_request
from .edge.errors import HTTPProblem, bad_request
from .edge.text_input import TextInvalid, check_text, has_bad_text, short_name
from .ui.errors import UiError

# Paths whose errors take the registry's token error shape rather than the API's or the UI's.
_TOKEN_PATHS = ("/token", "/oauth2/", "/registry/", "/healthz", "/.well-known/")


def refusal(request: web.Request, message: str) -> HTTPProblem:
    """Return the 400 for ``message`` in the shape of the part of the site asked: the API's,
    the token endpoints', or the UI's."""
    path = request.path
    if path.startswith("/api/"):
        return invalid_request(message)
    if path.startswith(_TOKEN_PATHS):
        return bad_request(message)
    return UiError(400, message)


@web.middleware
async def text_guard_middleware(request: web.Request, handler):
    """Refuse a request whose query values or path segments hold a NUL or a lone surrogate
    with a 400 naming the parameter; pass every other request on unchanged."""
    if has_bad_text(request.path) or has_bad_text(request.query_string):
        for name, value in request.query.items():
            try:
                for text in (name, value):
                    check_text(text, f"query parameter {short_name(name)!r}")
            except TextInvalid as exc:
                raise refusal(request, str(exc)) from None
        raise refusal(request, "the path must be text without NUL characters or lone surrogates")
    return await handler(request)
