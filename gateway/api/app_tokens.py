"""App-specific tokens, as Quay's ``/api/v1/user/apptoken``: the signed-in user's own tokens
for logging in to the registry (``docker login -u '$app'``).

Create answers with the token (``token_code``) once; only its digest is stored, so a GET
never shows it again (Quay's GET does: it keeps tokens encrypted).
"""

from aiohttp import web

from tokenstore.app_tokens import EXPIRING_WINDOW, TITLE_MAX

from ..appkeys import OFFLOAD, STORE
from ..management.audit_fields import performer
from ..management.lifetimes import parse_api_expiration
from ..management.presenters import quay_date
from .auth import current_user
from .bodies import bool_param, read_object, string_field
from .errors import invalid_request, not_found

# A Quay uuid is 36 characters; anything much longer names no token.
_MAX_UUID = 64


def app_token_view(token, code: str | None = None) -> dict:
    """Quay's token object: uuid, title, last_accessed, created, expiration (RFC 2822 dates),
    and ``token_code`` when given (the create reply only)."""
    body = {
        "uuid": token.uuid,
        "title": token.title,
        "last_accessed": quay_date(token.last_accessed),
        "created": quay_date(token.created),
        "expiration": quay_date(token.expires_at),
    }
    if code is not None:
        body["token_code"] = code
    return body


async def list_app_tokens(request: web.Request) -> web.Response:
    """``GET /api/v1/user/apptoken?expiring=``: 200 ``{"tokens": [...], "only_expiring": ...}``,
    the caller's tokens not revoked (expired ones too); ``expiring=true`` keeps those that
    expire within Quay's window (2.8 days). ``only_expiring`` echoes the parameter (null when
    absent), as Quay does."""
    user = await current_user(request)
    expiring = bool_param(request, "expiring") if "expiring" in request.query else None
    tokens = await request.app[OFFLOAD].database(
        request.app[STORE].list_app_tokens, user.username, expiring_within=EXPIRING_WINDOW if expiring else None,
    )
    return web.json_response({"tokens": [app_token_view(t) for t in tokens], "only_expiring": expiring})


async def create_app_token(request: web.Request) -> web.Response:
    """``POST /api/v1/user/apptoken`` with ``{"title": "..."}`` (required, at most 255
    characters) and, ours, an optional ``"expiration"`` (UNIX seconds or RFC 3339; absent or
    null: never): 200 ``{"token": {... "token_code"}}``. 400 for a malformed body."""
    user = await current_user(request)
    body = await read_object(request)
    title = string_field(body, "title", required=True, max_length=TITLE_MAX)
    if not title.strip():
        raise invalid_request("'title' must not be empty")
    try:
        expires_at = parse_api_expiration(body.get("expiration"))
    except ValueError as exc:
        raise invalid_request(f"'expiration': {exc}") from None
    actor = performer(request, user)
    issued = await request.app[OFFLOAD].database(
        request.app[STORE].create_app_token, user.username, title, expires_at=expires_at, actor=actor,
    )
    return web.json_response({"token": app_token_view(issued.info, issued.token)})


async def get_app_token(request: web.Request) -> web.Response:
    """``GET /api/v1/user/apptoken/{token_uuid}``: 200 ``{"token": {...}}`` without the
    token itself; 404 for another user's, a revoked or an expired token."""
    user = await current_user(request)
    token_uuid = _uuid(request)
    token = await request.app[OFFLOAD].database(request.app[STORE].get_app_token, user.username, token_uuid)
    return web.json_response({"token": app_token_view(token)})


async def revoke_app_token(request: web.Request) -> web.Response:
    """``DELETE /api/v1/user/apptoken/{token_uuid}``: 204; the token is refused from the
    next token request on. 404 for another user's or an already revoked token."""
    user = await current_user(request)
    token_uuid = _uuid(request)
    actor = performer(request, user)
    await request.app[OFFLOAD].database(
        request.app[STORE].revoke_app_token, token_uuid, username=user.username, actor=actor,
    )
    return web.Response(status=204)


def _uuid(request: web.Request) -> str:
    """Return the path's token uuid; a 404 when it is too long to name a token."""
    token_uuid = request.match_info["token_uuid"]
    if len(token_uuid) > _MAX_UUID:
        raise not_found("no app token has that uuid")
    return token_uuid
