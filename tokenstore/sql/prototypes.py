"""Default permissions (Quay's prototypes; the records: ``tokenstore.prototypes``), and
``apply_prototypes``, which every repository creation runs in its own transaction.

A prototype counts only while its delegate robot, and its activating user or robot, are
live; one whose team is deleted goes with it (ON DELETE CASCADE).
"""

import uuid as uuid_module

from ..errors import (
    NameInvalid,
    PrototypeInvalid,
    PrototypeNotFound,
    RobotNotFound,
    TeamNotFound,
    UserNotFound,
)
from ..models import Repository
from ..names import ROBOT_SEPARATOR, check_namespace, parse_robot_name
from ..permissions import Role, parse_role, strongest
from ..prototypes import DELEGATE_KINDS, Prototype
from . import accounts, robots, teams
from .base import QueryBase
from .connection import SqlDatabase

_COLUMNS = (
    "pr.uuid, pr.role, pr.created, r.shortname, t.name, au.username, ar.shortname,"
    " CASE WHEN EXISTS (SELECT 1 FROM org_members m WHERE m.namespace_id = pr.namespace_id"
    " AND m.user_id = au.id) THEN 1 ELSE 0 END"
)
_FROM = (
    " FROM prototypes pr"
    " LEFT JOIN robots r ON r.id = pr.delegate_robot_id"
    " LEFT JOIN teams t ON t.id = pr.delegate_team_id"
    " LEFT JOIN users au ON au.id = pr.activating_user_id"
    " LEFT JOIN robots ar ON ar.id = pr.activating_robot_id"
)
# A prototype whose robot or user was deleted counts for nothing (its row waits for the collector).
_LIVE = (
    "(pr.delegate_robot_id IS NULL OR r.deleted_at IS NULL)"
    " AND (pr.activating_user_id IS NULL OR au.deleted_at IS NULL)"
    " AND (pr.activating_robot_id IS NULL OR ar.deleted_at IS NULL)"
)

PERSON_DELEGATE = (
    "{name!r} is not a robot (org+shortname): only robots and teams hold repository roles here; "
    "to give a person a role, put them in a team and name the team as the delegate"
)


def _prototype(organization: str, row) -> Prototype:
    uuid, role, created, robot, team, user, activating_robot, is_member = row
    if robot is not None:
        kind, delegate = "user", f"{organization}{ROBOT_SEPARATOR}{robot}"
    else:
        kind, delegate = "team", team
    if activating_robot is not None:
        activating, is_robot = f"{organization}{ROBOT_SEPARATOR}{activating_robot}", True
    else:
        activating, is_robot = user, False
    return Prototype(uuid, organization, Role(role), kind, delegate, activating, is_robot, bool(is_member), created)


def _delegate_ids(db: SqlDatabase, organization: str, kind: str, name: str) -> tuple[int | None, int | None]:
    """Return (robot id, team id), one of them None, for a delegate of the organization.

    Raises NameInvalid for an unknown kind or a malformed name, PrototypeInvalid for a
    person, another namespace's robot, or an unknown robot or team."""
    if kind not in DELEGATE_KINDS:
        raise NameInvalid(f"invalid delegate kind {str(kind)[:50]!r}: use user (a robot, org+shortname) or team")
    if kind == "team":
        try:
            return None, teams.get_team(db, organization, name).id
        except TeamNotFound:
            raise PrototypeInvalid(f"unknown delegate: organization {organization!r} has no team {name!r}") from None
    if not isinstance(name, str) or ROBOT_SEPARATOR not in name:
        check_namespace(name, "user")
        raise PrototypeInvalid(PERSON_DELEGATE.format(name=name))
    if parse_robot_name(name).namespace != organization:
        raise PrototypeInvalid(f"robot {name!r} can only hold roles inside its own namespace")
    try:
        return robots.get_robot(db, name).id, None
    except RobotNotFound:
        raise PrototypeInvalid(f"unknown delegate: robot {name!r} does not exist") from None


def _activating_ids(db: SqlDatabase, organization: str, name: str) -> tuple[int | None, int | None]:
    """Return (user id, robot id), one of them None, for the user or robot ``name``.

    Raises NameInvalid for a malformed name, PrototypeInvalid for an unknown user or robot
    or another namespace's robot (which can never create a repository here)."""
    if ROBOT_SEPARATOR in name:
        if parse_robot_name(name).namespace != organization:
            raise PrototypeInvalid(f"robot {name!r} cannot create repositories in {organization!r}")
        try:
            return None, robots.get_robot(db, name).id
        except RobotNotFound:
            raise PrototypeInvalid(f"Unknown activating user: robot {name!r} does not exist") from None
    try:
        return accounts.get_user(db, check_namespace(name, "user")).id, None
    except UserNotFound:
        raise PrototypeInvalid(f"Unknown activating user: {name!r} does not exist") from None


def get_prototype(db: SqlDatabase, organization: str, uuid: str) -> tuple[int, Prototype]:
    """Return (row id, Prototype) of a live prototype of the live organization; raises
    NamespaceNotFound or PrototypeNotFound."""
    org = accounts.get_organization(db, organization)
    row = db.execute(
        f"SELECT pr.id, {_COLUMNS}{_FROM} WHERE pr.namespace_id = ? AND pr.uuid = ? AND {_LIVE}",
        [org.id, str(uuid)],
    ).fetchone()
    if row is None:
        raise PrototypeNotFound(f"organization {organization!r} has no default permission {str(uuid)[:64]!r}")
    return row[0], _prototype(organization, row[1:])


def apply_prototypes(
    db: SqlDatabase, repository: Repository, now: float, *, user_id: int | None = None, robot_id: int | None = None,
) -> int:
    """Give each delegate of the repository's organization's matching prototypes its role on
    the new ``repository``: a robot a ``permissions`` row, a team a ``team_permissions`` row;
    a role already held there is raised, never lowered. A prototype matches when it has no
    activating user, or when its activating user is ``user_id`` or its activating robot is
    ``robot_id`` (the creator; both None for a creation nobody is named for).

    Run it in the creation's transaction. Returns the number of rows written.
    """
    rows = db.execute(
        "SELECT pr.delegate_robot_id, pr.delegate_team_id, pr.role FROM prototypes pr"
        " LEFT JOIN robots r ON r.id = pr.delegate_robot_id"
        " WHERE pr.namespace_id = ? AND (pr.delegate_robot_id IS NULL OR r.deleted_at IS NULL)"
        " AND ((pr.activating_user_id IS NULL AND pr.activating_robot_id IS NULL)"
        "  OR pr.activating_user_id = ? OR pr.activating_robot_id = ?)",
        [repository.namespace_id, user_id, robot_id],
    ).fetchall()
    wanted: dict[tuple[str, int], Role] = {}
    for delegate_robot, delegate_team, role in rows:
        key = ("robot", delegate_robot) if delegate_robot is not None else ("team", delegate_team)
        wanted[key] = strongest([Role(role), *([wanted[key]] if key in wanted else [])])
    for (kind, delegate_id), role in wanted.items():
        table, column = ("permissions", "robot_id") if kind == "robot" else ("team_permissions", "team_id")
        held = db.execute(
            f"SELECT role FROM {table} WHERE {column} = ? AND repository_id = ?", [delegate_id, repository.id]
        ).fetchone()
        if held is None:
            if kind == "robot":
                db.execute(
                    "INSERT INTO permissions (robot_id, namespace_id, repository_id, role, created) VALUES (?, ?, ?, ?, ?)",
                    [delegate_id, repository.namespace_id, repository.id, role.value, now],
                )
            else:
                db.execute(
                    "INSERT INTO team_permissions (team_id, repository_id, role, created) VALUES (?, ?, ?, ?)",
                    [delegate_id, repository.id, role.value, now],
                )
        elif role.rank > Role(held[0]).rank:
            db.execute(
                f"UPDATE {table} SET role = ? WHERE {column} = ? AND repository_id = ?",
                [role.value, delegate_id, repository.id],
            )
    return len(wanted)


def creator_ids(db: SqlDatabase, creator: str | None) -> tuple[int | None, int | None]:
    """Return (user id, robot id) of the live user or robot ``creator`` (both None for None);
    raises NameInvalid, UserNotFound or RobotNotFound."""
    if creator is None:
        return None, None
    if ROBOT_SEPARATOR in creator:
        return None, robots.get_robot(db, creator).id
    return accounts.get_user(db, creator).id, None


class PrototypeQueries(QueryBase):
    """Store methods for default permissions."""

    def create_prototype(
        self, organization: str, role: str | Role, delegate_kind: str, delegate: str, activating: str | None = None,
    ) -> Prototype:
        """Create a default permission: ``delegate`` (a robot ``org+short`` of kind "user",
        or a team of kind "team") gets ``role`` on each repository created in the
        organization from now on, or only on those ``activating`` (a user or a robot of the
        organization) creates. Returns the Prototype; raises NameInvalid, NamespaceNotFound
        or PrototypeInvalid (a person as delegate, an unknown robot, team or user)."""
        role = parse_role(role)
        org = accounts.get_organization(self.db, organization)
        delegate_robot, delegate_team = _delegate_ids(self.db, organization, delegate_kind, delegate)
        user_id, robot_id = (None, None) if activating is None else _activating_ids(self.db, organization, activating)
        uuid = str(uuid_module.uuid4())
        self.db.execute(
            "INSERT INTO prototypes (uuid, namespace_id, delegate_robot_id, delegate_team_id, activating_user_id,"
            " activating_robot_id, role, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [uuid, org.id, delegate_robot, delegate_team, user_id, robot_id, role.value, self.clock()],
        )
        return get_prototype(self.db, organization, uuid)[1]

    def list_prototypes(self, organization: str) -> list[Prototype]:
        """Return the organization's live default permissions, oldest first; raises NamespaceNotFound."""
        org = accounts.get_organization(self.db, organization)
        rows = self.db.execute(
            f"SELECT {_COLUMNS}{_FROM} WHERE pr.namespace_id = ? AND {_LIVE} ORDER BY pr.id", [org.id]
        )
        return [_prototype(organization, row) for row in rows]

    def get_prototype(self, organization: str, uuid: str) -> Prototype:
        """Return the default permission ``uuid``; raises NamespaceNotFound or PrototypeNotFound."""
        return get_prototype(self.db, organization, uuid)[1]

    def set_prototype_role(self, organization: str, uuid: str, role: str | Role) -> Prototype:
        """Change a default permission's role (repositories created before keep theirs);
        returns the Prototype and raises NameInvalid, NamespaceNotFound or PrototypeNotFound."""
        role = parse_role(role)
        row_id, _ = get_prototype(self.db, organization, uuid)
        self.db.execute("UPDATE prototypes SET role = ? WHERE id = ?", [role.value, row_id])
        return get_prototype(self.db, organization, uuid)[1]

    def delete_prototype(self, organization: str, uuid: str) -> Prototype:
        """Delete a default permission (roles it gave stay); returns what it was and raises
        NamespaceNotFound or PrototypeNotFound."""
        row_id, prototype = get_prototype(self.db, organization, uuid)
        self.db.execute("DELETE FROM prototypes WHERE id = ?", [row_id])
        return prototype
