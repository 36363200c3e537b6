"""The UI's state-changing requests: create, regenerate and delete robots; grant, change and
revoke their repository permissions.

Each is a signed-in admin's request with a valid CSRF token (``sessions.action``), changing
the data through the same store calls and audit rows as the management API. Create and
regenerate answer the page's script with JSON holding the new secret, the only place it ever
appears. docs/architecture.md, "The web UI: CSRF, sign-in and actions", says more.
"""

import json
import logging
from collections.abc import Callable

from aiohttp import web

from tokenstore import AlreadyExists, IssuedSecret, NameInvalid, NotFound, TokenStoreError
from tokenstore.names import DESCRIPTION_MAX

from ..appkeys import CONFIG, OFFLOAD, STORE
from ..edge.text_input import has_bad_text
from ..management.audit_fields import performer
from ..management.presenters import robot_view
from ..management.secret_hashing import new_secret_hash
from .errors import UiError, not_found
from .formatting import human_date, iso_date, login_commands, registry_host
from .keys import USER
from .pages import ROLE_CHOICES
from .places import Place, require_admin, resolve, robot_name
from .render import flash, render
from .sessions import action

log = logging.getLogger(__name__)

# The grant form's value for "every repository of the namespace, present and future".
NAMESPACE_WIDE = "*"
ROLES = tuple(value for value, _, _ in ROLE_CHOICES)
MAX_JSON_BODY = 4096


async def _admin_place(request: web.Request) -> Place:
    place = await resolve(request)
    require_admin(place)
    return place


def _secret_reply(place: Place, issued: IssuedSecret, host: str, *, status: int = 200) -> web.Response:
    """The JSON reply to create and regenerate: Quay's robot object with ``token``, and what
    the dialog shows with it (dates for people, login commands, where its pages are)."""
    username, shortname = issued.robot.username, issued.robot.shortname
    body = robot_view(issued.robot, token=issued.secret)
    body.update({
        "secret_created": human_date(issued.created),
        "secret_created_iso": iso_date(issued.created),
        "login_commands": login_commands(username, host),
        "login_commands_with_token": login_commands(username, host, issued.secret),
        "permissions_url": place.robot_url(shortname),
        "regenerate_url": place.robot_url(shortname, "regenerate"),
    })
    return web.json_response(body, status=status)


async def _json_object(request: web.Request) -> dict:
    if request.content_type != "application/json":
        # The form's plain submission, without the page's script: the secret could only be
        # shown in a page rendered here, which never happens.
        raise UiError(415, "Creating a robot account needs JavaScript: its token is shown only in the dialog.")
    raw = await request.content.read(MAX_JSON_BODY + 1)
    if len(raw) > MAX_JSON_BODY:
        raise UiError(413, "The form is too large.")
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise UiError(400, "The form could not be read. Reload the page and try again.") from None
    if not isinstance(body, dict):
        raise UiError(400, "The form could not be read. Reload the page and try again.")
    return body


def _text(body: dict, name: str, *, max_length: int) -> str:
    value = body.get(name, "")
    if not isinstance(value, str):
        raise UiError(400, f"The {name} must be text.")
    value = value.strip()
    if has_bad_text(value):
        raise UiError(400, f"The {name} must be text without NUL characters or lone surrogates.")
    if len(value) > max_length:
        raise UiError(400, f"The {name} may be at most {max_length} characters long.")
    return value


@action
async def create_robot(request: web.Request) -> web.Response:
    """``POST .../robots`` with JSON ``{"shortname", "description"}``: 201 with the new
    robot and its secret, 400 with ``{"error"}`` when the name is taken or malformed."""
    place = await _admin_place(request)
    body = await _json_object(request)
    shortname = _text(body, "shortname", max_length=255)
    description = _text(body, "description", max_length=DESCRIPTION_MAX)
    username = f"{place.name}+{shortname}"
    store = request.app[STORE]
    audit = performer(request, request[USER])

    new_secret = await new_secret_hash(request)

    def create() -> IssuedSecret:
        return store.create_robot_audited(username, description, actor=audit, new_secret=new_secret)

    try:
        issued = await request.app[OFFLOAD].database(create)
    except AlreadyExists:
        raise UiError(400, f"A robot account named {username} already exists.") from None
    except NameInvalid as exc:
        raise UiError(400, _sentence(str(exc))) from None
    return _secret_reply(place, issued, registry_host(request.app[CONFIG].realm), status=201)


@action
async def regenerate(request: web.Request) -> web.Response:
    """``POST .../robots/{robot_shortname}/regenerate``: 200 with the robot and its new
    secret. The old secret is refused from the next token request on."""
    place = await _admin_place(request)
    username = robot_name(request, place)
    store = request.app[STORE]
    audit = performer(request, request[USER])

    new_secret = await new_secret_hash(request)

    def regenerate_secret() -> IssuedSecret:
        return store.regenerate_robot_audited(username, actor=audit, new_secret=new_secret)

    try:
        issued = await request.app[OFFLOAD].database(regenerate_secret)
    except NotFound:
        raise not_found("robot account") from None
    return _secret_reply(place, issued, registry_host(request.app[CONFIG].realm))


@action
async def delete_robot(request: web.Request) -> web.StreamResponse:
    """``POST .../robots/{robot_shortname}/delete``: asks for confirmation (a page) unless the
    form says ``confirmed=yes``; then deletes the robot and goes back to the list."""
    place = await _admin_place(request)
    username = robot_name(request, place)
    form = await request.post()
    store = request.app[STORE]
    if form.get("confirmed") != "yes":
        try:
            found = await request.app[OFFLOAD].database(store.get_robot, username)
        except NotFound:
            raise not_found("robot account") from None
        return render(request, "confirm_delete.html", {"place": place, "robot": found, "tab": "robots"})
    audit = performer(request, request[USER])

    def delete() -> None:
        store.delete_robot_audited(username, actor=audit)

    response = web.HTTPSeeOther(f"{place.base}/robots")
    try:
        await request.app[OFFLOAD].database(delete)
    except NotFound:
        flash(response, request, f"Robot account {username} was already deleted.", "error")
    else:
        flash(response, request, f"Deleted robot account {username}. Its token no longer works.")
    raise response


@action
async def grant(request: web.Request) -> web.StreamResponse:
    """``POST .../robots/{robot_shortname}/permissions`` with ``repository`` (a name, or
    ``*`` for the whole namespace) and ``role``: gives or changes the robot's role there."""
    place = await _admin_place(request)
    username = robot_name(request, place)
    form = await request.post()
    repository, role = str(form.get("repository", "")), str(form.get("role", ""))
    store = request.app[STORE]
    audit = performer(request, request[USER])
    response = web.HTTPSeeOther(place.robot_url(username.split("+", 1)[1]))
    if role not in ROLES:
        flash(response, request, "Choose read, write or admin.", "error")
        raise response
    if not repository:
        flash(response, request, "Choose a repository.", "error")
        raise response

    def change() -> None:
        store.grant_audited(username, _target(place, repository), role, actor=audit)

    where = _target_label(place, repository)
    await _change_permission(request, response, change, where, f"{username} now has {role} on {where}.")


@action
async def revoke(request: web.Request) -> web.StreamResponse:
    """``POST .../robots/{robot_shortname}/permissions/revoke`` with ``repository`` (or ``*``):
    removes the robot's role there."""
    place = await _admin_place(request)
    username = robot_name(request, place)
    form = await request.post()
    repository = str(form.get("repository", ""))
    store = request.app[STORE]
    audit = performer(request, request[USER])
    response = web.HTTPSeeOther(place.robot_url(username.split("+", 1)[1]))

    def remove() -> None:
        store.revoke_audited(username, _target(place, repository), actor=audit)

    where = _target_label(place, repository)
    await _change_permission(request, response, remove, where, f"Revoked {username}'s access to {where}.")


async def _change_permission(
    request: web.Request, response: web.HTTPSeeOther, change: Callable[[], None], where: str, done: str,
) -> None:
    """Run ``change`` (a grant or revoke) in the database pool, then redirect with ``done``
    or with why it failed on ``where``. Always raises ``response``."""
    try:
        await request.app[OFFLOAD].database(change)
    except TokenStoreError as exc:
        flash(response, request, _failure(exc, where), "error")
    else:
        flash(response, request, done)
    raise response


def _target(place: Place, repository: str) -> str:
    """Return the grant target: the namespace for ``*``, else ``namespace/repository``."""
    return place.name if repository == NAMESPACE_WIDE else f"{place.name}/{repository}"


def _target_label(place: Place, repository: str) -> str:
    if repository == NAMESPACE_WIDE:
        return f"every repository of {place.name}"
    return f"{place.name}/{repository}"


def _failure(exc: TokenStoreError, where: str) -> str:
    if isinstance(exc, NotFound):
        return f"Nothing changed: {where} or the robot account no longer exists, or held no permission."
    return _sentence(str(exc))


def _sentence(message: str) -> str:
    """Return a model error message as a sentence for people (capital first, full stop)."""
    message = message.strip()
    return (message[:1].upper() + message[1:]).rstrip(".") + "."
