"""Rendering UI pages: every template gets the signed-in user, the CSRF token, the registry's
address and the one-time notice left by the previous request (a "flash" cookie)."""

import base64
import json

import aiohttp_jinja2
from aiohttp import web

from ..appkeys import CONFIG
from . import csrf, headers
from .cookies import clear_cookie, set_cookie
from .formatting import registry_host
from .keys import SESSION_ID, USER

FLASH_COOKIE = "regauth_flash"
FLASH_KINDS = ("success", "error")
MAX_FLASH_LENGTH = 500


def flash(response: web.StreamResponse, request: web.Request, text: str, kind: str = "success") -> None:
    """Leave ``text`` to be shown once on the next page this browser renders."""
    value = json.dumps({"kind": kind, "text": text[:MAX_FLASH_LENGTH]})
    set_cookie(response, request, FLASH_COOKIE, base64.urlsafe_b64encode(value.encode()).decode(), max_age=120)


def _read_flash(request: web.Request) -> dict | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(raw.encode()).decode())
    except (ValueError, UnicodeError):
        return None
    if not isinstance(value, dict) or value.get("kind") not in FLASH_KINDS or not isinstance(value.get("text"), str):
        return None
    return {"kind": value["kind"], "text": value["text"][:MAX_FLASH_LENGTH]}


def render(request: web.Request, template: str, context: dict, *, status: int = 200) -> web.Response:
    """Render ``template`` with ``context`` and the common values; returns the response
    with the security headers."""
    common = {
        "user": request.get(USER),
        "csrf_token": csrf.token_for(request[SESSION_ID], csrf.SESSION_PURPOSE) if SESSION_ID in request else "",
        "registry_host": registry_host(request.app[CONFIG].realm),
        "flash": _read_flash(request),
        "path": request.path,
        # What the navigation highlights; pages set the ones that apply.
        "section": "",
        "tab": "",
        "place": None,
    }
    response = aiohttp_jinja2.render_template(template, request, {**common, **context}, status=status)
    if FLASH_COOKIE in request.cookies:
        clear_cookie(response, request, FLASH_COOKIE)
    return headers.apply(response)
