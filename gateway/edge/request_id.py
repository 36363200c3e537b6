"""Request ids: ``X-Request-ID`` taken from the request when it is sane, else made, carried
by every log record of the request (a context variable) and returned in the reply.

The robot and outcome a token flow decides are noted on the same context, so that the JSON
access log line of the request carries them too.
"""

import contextvars
import itertools
import os
import re
import secrets
from dataclasses import dataclass

from aiohttp import web

from .forwarded import client_address

HEADER = "X-Request-ID"
# What a request id given by a client or proxy may be: nginx's $request_id (32 hex digits),
# a UUID, or any short token of these characters. Anything else is replaced.
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


@dataclass
class RequestContext:
    """What the log records of one request share."""

    request_id: str
    client: str | None
    robot: str | None = None
    outcome: str | None = None

    def fields(self) -> dict:
        """Return the fields a log record of the request carries: request_id and client,
        and robot and outcome once noted."""
        fields = {"request_id": self.request_id, "client": self.client}
        if self.robot is not None:
            fields["robot"] = self.robot
        if self.outcome is not None:
            fields["outcome"] = self.outcome
        return fields


_CURRENT: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar("regauth_request", default=None)
_REQUEST_KEY = web.RequestKey("request_context", RequestContext)


def current() -> RequestContext | None:
    """Return the context of the request being handled, or None outside one."""
    return _CURRENT.get()


def of(request: web.BaseRequest) -> RequestContext | None:
    """Return the context the middleware gave ``request`` (None when it never ran)."""
    return request.get(_REQUEST_KEY)


def note(*, robot: str | None = None, outcome: str | None = None) -> dict:
    """Record the robot and outcome of the request being handled on its context (for its
    access log line); returns them as a dict for a log call's ``extra=``."""
    context = _CURRENT.get()
    fields = {}
    if robot is not None:
        fields["robot"] = robot[:300]
    if outcome is not None:
        fields["outcome"] = outcome
    if context is not None:
        context.robot = fields.get("robot", context.robot)
        context.outcome = fields.get("outcome", context.outcome)
    return fields


class _RequestIds:
    """New request ids: 16 random hex digits for the process, then 16 of a counter. Unique
    like a random UUID's, at a fraction of its cost (uuid4 asks the kernel for randomness at
    every request: 6 % of a warm token request's event loop time)."""

    def __init__(self):
        self._start()
        # A forked worker must not repeat its parent's (or a sibling's) ids.
        os.register_at_fork(after_in_child=self._start)

    def _start(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._counter = itertools.count()

    def new(self) -> str:
        """Return an id no other request of any process has had (32 hex digits)."""
        return f"{self._prefix}{next(self._counter):016x}"


_NEW_IDS = _RequestIds()


def request_id_for(given: str | None) -> str:
    """Return ``given`` when it is a sane request id, else a new one (32 hex digits)."""
    if given is not None and _SANE.fullmatch(given):
        return given
    return _NEW_IDS.new()


def request_id_middleware(trusted_proxies):
    """Return the middleware giving each request its context (its id, and its client's
    address as ``forwarded.client_address`` finds it behind ``trusted_proxies``) for the
    length of the handler."""

    @web.middleware
    async def middleware(request: web.Request, handler):
        context = RequestContext(request_id_for(request.headers.get(HEADER)), client_address(request, trusted_proxies))
        request[_REQUEST_KEY] = context
        token = _CURRENT.set(context)
        try:
            return await handler(request)
        finally:
            _CURRENT.reset(token)

    return middleware


async def _add_header(request: web.Request, response: web.StreamResponse) -> None:
    context = request.get(_REQUEST_KEY)
    if context is not None:
        response.headers[HEADER] = context.request_id


def install(app: web.Application, trusted_proxies) -> None:
    """Run the middleware before every other one (so errors they log carry the id), and
    return the id in every reply, including the ones an exception made."""
    app.middlewares.insert(0, request_id_middleware(trusted_proxies))
    app.on_response_prepare.append(_add_header)
