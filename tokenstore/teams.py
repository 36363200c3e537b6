"""Organization teams: the records the store returns and the rules for their names and roles.

A team belongs to one organization and has a role there (``TEAM_ROLES``): ``member`` gives
only the team's repository permissions, ``creator`` also lets its members' pushes create
repositories in the organization, ``admin`` is admin on every repository of it. Its members
are the organization's users and robots.
"""

from dataclasses import dataclass

from .errors import NameInvalid
from .names import check_description, check_namespace
from .permissions import Role

TEAM_ROLES = ("member", "creator", "admin")
MEMBER_KINDS = ("user", "robot")


@dataclass(frozen=True)
class Team:
    id: int
    namespace_id: int
    organization: str
    name: str
    role: str
    description: str
    created: float
    # Filled in by ``list_teams`` only (live members; roles on live repositories).
    member_count: int = 0
    repo_count: int = 0


@dataclass(frozen=True)
class TeamMember:
    """One member of a team: a user (``kind`` "user") or a robot (``name`` is ``org+short``)."""

    team: str
    name: str
    kind: str
    created: float

    @property
    def is_robot(self) -> bool:
        return self.kind == "robot"


@dataclass(frozen=True)
class TeamPermission:
    """A team's role on one repository of its organization."""

    organization: str
    team: str
    repository: str
    role: Role
    is_public: bool = False


@dataclass(frozen=True)
class TeamGrant:
    """What a user's or robot's teams give it on one repository: the strongest role
    (None for none) and whether a push may create the repository when it does not exist."""

    role: Role | None
    may_create: bool


NO_TEAM_GRANT = TeamGrant(None, False)


def check_team_name(name: str) -> str:
    """Return ``name`` when it is a valid team name (the namespace rule: lower case letters,
    digits and single separators); raises NameInvalid."""
    return check_namespace(name, "team")


def check_team_role(role: object) -> str:
    """Return ``role`` when it is member, creator or admin; raises NameInvalid."""
    if role not in TEAM_ROLES:
        raise NameInvalid(f"invalid team role {str(role)[:50]!r}: use member, creator or admin")
    return role


def check_team_description(description: object) -> str:
    """Return ``description`` when it is text of at most 4096 characters; raises NameInvalid."""
    return check_description(description, limit=4096)
