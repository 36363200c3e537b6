"""Security headers of every web UI response.

The Content-Security-Policy allows scripts, styles, images and requests from this origin
only, and no inline script or style at all: a value that slipped into a page unescaped still
could not run. Pages are never framed (clickjacking), never sniffed into another type, never
leak their address in a Referer, and pages (which carry the CSRF token) are not cached.
"""

from aiohttp import web

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
))

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def apply(response: web.StreamResponse, *, cacheable: bool = False) -> web.StreamResponse:
    """Add the security headers to ``response`` (and ``Cache-Control: no-store`` unless
    ``cacheable``); returns it."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if not cacheable:
        response.headers["Cache-Control"] = "no-store"
    return response
