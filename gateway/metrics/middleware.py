"""``metrics_middleware``: counts token requests by outcome and times them and the
management API's requests, by route template.

It sits inside the error middleware, where a refusal is still the exception a handler raised:
a 429, or a 503 the login throttle raised, is ``throttled``; a store that could not answer
(its 503) or any unexpected error is ``error``.
"""

import asyncio
import time

from aiohttp import web

from ..edge.errors import HTTPProblem
from . import hooks

# The routes whose requests end in a token or a refusal (registry tokens, and keyless
# credentials of the federation exchange).
TOKEN_ROUTES = frozenset({"/token", "/oauth2/federation/robot/token"})
API_PREFIX = "/api/"


@web.middleware
async def metrics_middleware(request: web.Request, handler):
    """Pass the request on, counting and timing it when it is for a token or the API;
    returns the handler's response, raises what it raised."""
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else ""
    if route in TOKEN_ROUTES:
        return await _token_request(request, handler)
    if not route.startswith(API_PREFIX):
        return await handler(request)
    started = time.perf_counter()
    try:
        return await handler(request)
    finally:
        hooks.api_request(request.method, route, time.perf_counter() - started)


async def _token_request(request: web.Request, handler) -> web.StreamResponse:
    started = time.perf_counter()
    outcome: str | None = "error"
    try:
        response = await handler(request)
        outcome = outcome_of(response.status)
        return response
    except HTTPProblem as problem:
        outcome = outcome_of(problem.status, raised=True)
        raise
    except web.HTTPException as exc:
        outcome = outcome_of(exc.status)
        raise
    except asyncio.CancelledError:
        outcome = None  # the client went away: no answer to count
        raise
    finally:
        if outcome is not None:
            hooks.token_request(outcome, time.perf_counter() - started)


def outcome_of(status: int, *, raised: bool = False) -> str:
    """Return the outcome of a token request answered with ``status``: issued, refused,
    throttled or error. A 503 is ``throttled`` when a handler ``raised`` it (the login
    throttle's full queue); the store's 503 comes from the error middleware instead."""
    if status < 400:
        return "issued"
    if status == 429 or (status == 503 and raised):
        return "throttled"
    if status < 500:
        return "refused"
    return "error"
