"""Default permissions (Quay's "prototypes"): the records the store returns.

A prototype of an organization gives its ``delegate`` (one of its robots, or one of its
teams) a role on every repository created in the organization from then on, at the moment
of creation; with an ``activating`` user or robot, only on the repositories that one
creates. People hold no repository roles here, so a person is never a delegate.
"""

from dataclasses import dataclass

from .permissions import Role

DELEGATE_KINDS = ("user", "team")


@dataclass(frozen=True)
class Prototype:
    """One default permission. ``delegate`` is a robot's full name (``org+short``, kind
    "user" as Quay spells it) or a team's name (kind "team"); ``activating`` is the user or
    robot whose creations it applies to (None: every creation)."""

    uuid: str
    organization: str
    role: Role
    delegate_kind: str
    delegate: str
    activating: str | None = None
    activating_is_robot: bool = False
    # Whether ``activating`` (a person) is a member of the organization; robots always are.
    activating_is_member: bool = False
    created: float = 0.0
