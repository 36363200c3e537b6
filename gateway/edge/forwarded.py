"""Who the client is when requests come through a reverse proxy.

``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed only when the connection comes
from one of the configured trusted proxies (``--trusted-proxies``); anyone else could write
whatever they like into them.
"""

import functools
import ipaddress
import logging

from aiohttp import web

log = logging.getLogger(__name__)

# Longer headers are not the work of a few proxies; ignore the excess.
MAX_FORWARDED_FOR = 4096


def _address(text: str | None):
    if not text:
        return None
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(address, networks) -> bool:
    return address is not None and any(address in network for network in networks)


# Every request asks about its peer, and a server sees few distinct peers (its proxies):
# parse and check each once. Bounded, so a flood of distinct clients cannot grow it; peers
# are socket addresses, never client-written text (X-Forwarded-For is not cached).
@functools.lru_cache(maxsize=1024)
def _trusted_peer(peer: str | None, networks: frozenset) -> bool:
    return _trusted(_address(peer), networks)


def client_address(request: web.Request, trusted_proxies) -> str | None:
    """Return the client's IP address as text (None when unknown).

    The peer's address, unless the peer is a trusted proxy: then the right-most address of
    ``X-Forwarded-For`` that is not itself a trusted proxy (each proxy appends the address
    it saw, so the entries left of the first untrusted one could be forged by the client).
    """
    peer = request.remote
    if not trusted_proxies or not _trusted_peer(peer, frozenset(trusted_proxies)):
        return peer
    header = ",".join(request.headers.getall("X-Forwarded-For", []))[:MAX_FORWARDED_FOR]
    hops = [part.strip() for part in header.split(",") if part.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break  # garbage: do not look further left
        if not _trusted(address, trusted_proxies):
            return str(address)
        peer = str(address)
    return peer


def public_origin(request: web.Request, trusted_proxies) -> str:
    """Return ``scheme://host`` as the client used it (X-Forwarded-Proto from a trusted proxy)."""
    scheme = request.scheme
    if _trusted_peer(request.remote, frozenset(trusted_proxies)):
        forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        if forwarded in ("http", "https"):
            scheme = forwarded
    return f"{scheme}://{request.host}"


def untrusted_forwarder_warning(trusted_proxies):
    """Return a middleware that logs one WARNING per server process, at the first request
    carrying ``X-Forwarded-For`` from a peer that is neither a trusted proxy nor loopback.

    Such a peer is most likely a proxy whose address is missing from --trusted-proxies: every
    client then looks like the proxy, and the UI sign-in throttle, keyed by (name, address),
    locks out everyone behind it after a few failures. Once, not per request: the log should
    say it, not fill up with it. The header's text is never logged.
    """
    networks = frozenset(trusted_proxies)
    warned = False

    @web.middleware
    async def middleware(request: web.Request, handler):
        nonlocal warned
        if not warned and "X-Forwarded-For" in request.headers:
            peer = _address(request.remote)
            if peer is not None and not peer.is_loopback and not _trusted_peer(request.remote, networks):
                warned = True
                log.warning(
                    "X-Forwarded-For came from %s, which is not a trusted proxy: the header is ignored, so "
                    "every client behind that proxy has its address in audit rows and shares one sign-in "
                    "throttle; if %s is your proxy, add it to REGAUTH_TRUSTED_PROXIES (--trusted-proxies)",
                    peer, peer,
                )
        return await handler(request)

    return middleware
