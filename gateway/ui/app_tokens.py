"""The App tokens tab of the signed-in user's own namespace: their app-specific tokens for
``docker login -u '$app'``, the form that creates one and revocation.

The same store calls as ``/api/v1/user/apptoken``, audited with the user as performer. A new
token is shown once, in the page that answers the form (never in a redirect or a cookie);
only its digest is kept.
"""

import time

from aiohttp import web

from tokenstore import TokenStoreError
from tokenstore.app_tokens import TITLE_MAX

from ..appkeys import OFFLOAD, STORE
from ..management.audit_fields import performer
from .actions import _sentence
from .keys import USER
from .places import resolve
from .render import flash, render
from .sessions import action, page

BASE = "/user/apptokens"
# (form value in days, label); "" never expires.
EXPIRY_CHOICES = (("", "Never"), ("30", "In 30 days"), ("90", "In 90 days"), ("365", "In a year"))
DAY = 86400


def add_app_token_routes(router: web.UrlDispatcher, route_prefix: str) -> None:
    """Add the App tokens page and its actions under ``/user/apptokens``."""
    name = route_prefix + "user.apptokens"
    router.add_get(BASE, app_tokens_page, name=name)
    router.add_post(BASE, create_app_token, name=name + ".create")
    router.add_post(BASE + "/revoke", revoke_app_token, name=name + ".revoke")


@page
async def app_tokens_page(request: web.Request) -> web.Response:
    """The user's app tokens, and the form that creates one."""
    return await _render(request)


@action
async def create_app_token(request: web.Request) -> web.Response:
    """``POST /user/apptokens`` with ``title`` and ``expires`` (days, empty: never): 201 with
    the page showing the new token once; back to the page with why, for a bad form."""
    form = await request.post()
    title, expires = str(form.get("title", "")).strip(), str(form.get("expires", ""))
    back = web.HTTPSeeOther(BASE)
    if not title or len(title) > TITLE_MAX:
        flash(back, request, f"Give the token a title of 1 to {TITLE_MAX} characters.", "error")
        raise back
    if expires not in {value for value, _ in EXPIRY_CHOICES}:
        flash(back, request, "Choose when the token expires.", "error")
        raise back
    expires_at = time.time() + int(expires) * DAY if expires else None
    user = request[USER]
    store, actor = request.app[STORE], performer(request, user)
    try:
        issued = await request.app[OFFLOAD].database(
            lambda: store.create_app_token(user.username, title, expires_at=expires_at, actor=actor),
        )
    except TokenStoreError as exc:
        flash(back, request, _sentence(str(exc)), "error")
        raise back from None
    return await _render(request, issued=issued, status=201)


@action
async def revoke_app_token(request: web.Request) -> web.StreamResponse:
    """``POST /user/apptokens/revoke`` with ``uuid``: refused at the registry from the next
    request on."""
    token_uuid = str((await request.post()).get("uuid", ""))[:64]
    user = request[USER]
    store, actor = request.app[STORE], performer(request, user)
    back = web.HTTPSeeOther(BASE)
    try:
        revoked = await request.app[OFFLOAD].database(
            lambda: store.revoke_app_token(token_uuid, username=user.username, actor=actor),
        )
    except TokenStoreError:
        flash(back, request, "That token was already revoked, or is not yours.", "error")
    else:
        flash(back, request, f"Revoked {revoked.title}. The registry refuses it from the next login on.")
    raise back


async def _render(request: web.Request, *, issued=None, status: int = 200) -> web.Response:
    place = await resolve(request)
    tokens = await request.app[OFFLOAD].database(request.app[STORE].list_app_tokens, request[USER].username)
    return render(request, "app_tokens.html", {
        "place": place, "tokens": tokens, "issued": issued, "expiry_choices": EXPIRY_CHOICES,
        "title_max": TITLE_MAX, "now": time.time(), "tab": "apptokens",
    }, status=status)
