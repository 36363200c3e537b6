"""The web UI's cookies: HttpOnly, SameSite=Strict, and Secure whenever the browser reached
us over https (directly, or through a trusted proxy that says so in ``X-Forwarded-Proto``)."""

from aiohttp import web

from ..appkeys import CONFIG
from ..edge.forwarded import public_origin


def is_https(request: web.Request) -> bool:
    """Return True when the browser reached us over https (directly or via a trusted proxy)."""
    return public_origin(request, request.app[CONFIG].trusted_proxies).startswith("https://")


def set_cookie(response: web.StreamResponse, request: web.Request, name: str, value: str, *,
               max_age: float, path: str = "/") -> None:
    """Set an HttpOnly, SameSite=Strict cookie, Secure when the request came over https."""
    response.set_cookie(
        name, value, max_age=int(max_age), path=path, httponly=True, samesite="Strict", secure=is_https(request)
    )


def clear_cookie(response: web.StreamResponse, request: web.Request, name: str, *, path: str = "/") -> None:
    """Tell the browser to drop cookie ``name``."""
    response.del_cookie(name, path=path, httponly=True, samesite="Strict", secure=is_https(request))
