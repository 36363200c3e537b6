"""Errors the web UI answers with: an HTML page for a person, JSON for the page's script.

Handlers raise ``UiError``; the application's one error middleware renders it through
``response`` (as it does every ``HTTPProblem``). The message is shown to the person, so it is
written for them and never carries an internal error's text.
"""

from aiohttp import web

from ..edge.errors import HTTPProblem
from . import headers
from .render import render

TITLES = {
    400: "Not accepted", 401: "Signed out", 403: "Not allowed", 404: "Not found", 413: "Too large",
    415: "JavaScript needed", 500: "Something went wrong", 503: "Unavailable",
}


def wants_json(request: web.Request) -> bool:
    """Return True for the page script's requests, which ask for JSON."""
    return "application/json" in request.headers.get("Accept", "")


class UiError(HTTPProblem):
    """Raised by a UI handler to answer with ``status`` and a message for the person."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    def response(self, request: web.Request) -> web.Response:
        if wants_json(request):
            response = web.json_response({"error": self.message}, status=self.status)
        else:
            response = render(
                request, "error.html",
                {"title": TITLES.get(self.status, "Error"), "message": self.message, "status": self.status},
                status=self.status,
            )
        response.headers.update(self.headers)
        return headers.apply(response)


def not_found(what: str = "page") -> UiError:
    """Return a 404 UiError; the same for what does not exist and what the user may not see."""
    return UiError(404, f"There is no such {what}, or you do not have access to it.")
