"""Where a UI page is: an organization (``/organization/{orgname}/...``) or the signed-in
user's own namespace (``/user/...``), and the user's standing there.

Rights are the management API's (``gateway/api/auth.py``), read from the same model call,
``Store.namespace_access``: admins (organization admins, the user in their own namespace,
superusers) manage robots and their permissions; plain members may list robots, never
see their permissions or a secret. A namespace the user may not see gets the same 404 as one
that does not exist, so the UI cannot be used to probe names.
"""

from dataclasses import dataclass

from aiohttp import web

from tokenstore import NameInvalid, Namespace, User
from tokenstore.names import check_namespace

from ..appkeys import OFFLOAD, STORE
from .errors import UiError, not_found
from .keys import USER


@dataclass(frozen=True)
class Place:
    """A namespace as the signed-in user sees it, and the URL its pages live under."""

    namespace: Namespace
    role: str
    base: str

    @property
    def name(self) -> str:
        return self.namespace.name

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_organization(self) -> bool:
        return self.namespace.kind == "organization"

    def robot_url(self, shortname: str, action: str = "") -> str:
        """Return the URL of one of this namespace's robots (``action``: a sub-path)."""
        return f"{self.base}/robots/{shortname}" + (f"/{action}" if action else "")


async def resolve(request: web.Request) -> Place:
    """Return the Place of the request's route for the signed-in user.

    Raises a 404 UiError when the organization does not exist, is not one, or the user is
    not a member of it.
    """
    user: User = request[USER]
    orgname = request.match_info.get("orgname")
    if orgname is None:
        name, kind, base = user.username, "user", "/user"
    else:
        name, kind, base = orgname, "organization", f"/organization/{orgname}"
    try:
        check_namespace(name)
    except NameInvalid:
        raise not_found("organization") from None
    access = await request.app[OFFLOAD].database(request.app[STORE].namespace_access, user, name)
    if access.namespace is None or access.namespace.kind != kind or not access.is_member:
        raise not_found("organization")
    return Place(access.namespace, access.role, base)


def require_admin(place: Place) -> None:
    """Raise a 403 UiError unless the user administers ``place``."""
    if not place.is_admin:
        raise UiError(403, f"Only admins of {place.name} can do this. Ask one of them.")


def robot_name(request: web.Request, place: Place) -> str:
    """Return the full name (``namespace+shortname``) of the robot in the route; raises a 404
    UiError when the shortname is malformed."""
    try:
        shortname = check_namespace(request.match_info["robot_shortname"], "robot shortname")
    except NameInvalid:
        raise not_found("robot account") from None
    return f"{place.name}+{shortname}"
