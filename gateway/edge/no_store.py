"""``Cache-Control: no-store`` on every reply that may carry a token, refresh token or secret.

Registry tokens, refresh tokens, exchanged credentials and new robot secrets travel in the
bodies of ``/token``, ``/oauth2/...``, the API and the UI's actions; a shared cache or a
browser's disk cache must keep none of them. Deny by default: every reply is marked, errors
included, except the two kinds that carry only public bytes (the UI's static files and the
published key set), so a route added later is covered without anyone remembering to.
"""

from aiohttp import web

# Paths whose replies hold nothing secret and are worth caching.
CACHEABLE_PREFIXES = ("/static/", "/.well-known/")


async def mark_no_store(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare`` hook: set ``Cache-Control: no-store`` (and ``Pragma: no-cache``
    for HTTP/1.0 caches) unless ``request`` is for a cacheable path. Returns nothing."""
    if request.path.startswith(CACHEABLE_PREFIXES):
        return
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"


def install(app: web.Application) -> None:
    """Register ``mark_no_store`` on ``app``'s response-prepare signal."""
    app.on_response_prepare.append(mark_no_store)
