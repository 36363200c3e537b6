"""Roles and the registry actions they allow: the one table of that fact."""

from dataclasses import dataclass
from enum import Enum

from .errors import NameInvalid


class Role(str, Enum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {Role.READ: 1, Role.WRITE: 2, Role.ADMIN: 3}

# read -> pull; write -> pull, push; admin -> pull, push, delete and the registry's "*"
# (which grants every action, so it is reserved for admin).
ROLE_ACTIONS: dict[Role, frozenset[str]] = {
    Role.READ: frozenset({"pull"}),
    Role.WRITE: frozenset({"pull", "push"}),
    Role.ADMIN: frozenset({"pull", "push", "delete", "*"}),
}

PUBLIC_ACTIONS = frozenset({"pull"})


def parse_role(value: str) -> Role:
    """Return the Role named by ``value`` (case-insensitive).

    Raises NameInvalid when it is not read, write or admin.
    """
    try:
        return Role(str(value).lower())
    except ValueError:
        raise NameInvalid(f"invalid role {value!r}: use read, write or admin") from None


def strongest(roles) -> Role | None:
    """Return the highest-ranked role among ``roles``, or None when there is none."""
    return max(roles, key=lambda role: role.rank, default=None)


@dataclass(frozen=True)
class Resource:
    """A registry resource as in the distribution token spec: ``type`` and ``name``."""

    type: str
    name: str
