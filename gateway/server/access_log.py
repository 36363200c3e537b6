"""The access log as JSON fields (``--log-format json``): one record per request."""

from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from ..edge import request_id

# Query parameters whose values are logged: the token request's and the listings' own,
# none of which can hold a secret. Any other parameter is logged by name only, its value
# replaced, since a client may put anything (a password, a token) in one.
LOGGED_QUERY_VALUES = frozenset({
    "service", "scope", "account", "client_id", "offline_token", "namespace", "starttime", "endtime",
    "kind", "performer", "next_page", "before", "next",
})
HIDDEN = "(hidden)"
MAX_QUERY = 4096


def query_shown(query_string: str) -> str:
    """Return ``query_string`` with the value of every parameter outside
    LOGGED_QUERY_VALUES replaced by HIDDEN ("" for none)."""
    if not query_string:
        return ""
    pairs = parse_qsl(query_string[:MAX_QUERY], keep_blank_values=True)
    return "&".join(f"{name}={value if name in LOGGED_QUERY_VALUES else HIDDEN}" for name, value in pairs)


class JsonAccessLogger(AbstractAccessLogger):
    """One record per request, its facts as fields: method, path, query (``query_shown``),
    status, bytes, duration (seconds), peer and user agent, with the request id, client,
    robot and outcome of its context."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        context = request_id.of(request)
        fields = {
            "method": request.method,
            "path": request.path,
            "query": query_shown(request.query_string),
            "status": response.status,
            "bytes": response.body_length,
            "duration": round(time, 6),
            "peer": request.remote,
            "user_agent": request.headers.get("User-Agent", "")[:300],
        }
        if context is not None:
            fields.update(context.fields())
        self.logger.info("%s %s %d", request.method, request.path, response.status, extra=fields)
