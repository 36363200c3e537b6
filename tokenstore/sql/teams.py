"""Organization teams: the teams, their members (users and robots of the organization) and
their roles on its repositories (the rules: ``tokenstore.teams``).

``team_grant`` is the team part of authorization, for a robot or a user alike: the token path
calls it in the transaction that issues a token, so a change here counts from the next request.
"""

from ..errors import (
    AlreadyExists,
    DuplicateRow,
    NotInOrganization,
    TeamMemberNotFound,
    TeamNotFound,
    TeamPermissionNotFound,
)
from ..names import (
    ROBOT_SEPARATOR,
    check_namespace,
    parse_repository_name,
    parse_robot_name,
)
from ..permissions import Role, parse_role, strongest
from ..teams import (
    NO_TEAM_GRANT,
    Team,
    TeamGrant,
    TeamMember,
    TeamPermission,
    check_team_description,
    check_team_name,
    check_team_role,
)
from . import accounts, repositories, robots
from .base import QueryBase
from .connection import SqlDatabase

_TEAM_COLUMNS = "t.id, t.namespace_id, n.name, t.name, t.role, t.description, t.created"


def get_team(db: SqlDatabase, organization: str, name: str) -> Team:
    """Return team ``name`` of the live organization; raises NameInvalid, NamespaceNotFound or TeamNotFound."""
    check_team_name(name)
    org = accounts.get_organization(db, organization)
    row = db.execute(
        f"SELECT {_TEAM_COLUMNS} FROM teams t JOIN namespaces n ON n.id = t.namespace_id"
        " WHERE t.namespace_id = ? AND t.name = ?",
        [org.id, name],
    ).fetchone()
    if row is None:
        raise TeamNotFound(f"team {name!r} is not a team of organization {organization!r}")
    return Team(*row)


def team_grant(
    db: SqlDatabase, namespace_id: int, repository_id: int | None, *, robot_id: int | None = None,
    user_id: int | None = None,
) -> TeamGrant:
    """Return what the teams of one robot (``robot_id``) or one user (``user_id``) give on a
    repository of namespace ``namespace_id`` (``repository_id`` None: it does not exist yet).

    The strongest of the team roles on the repository, admin for a team whose organization
    role is admin, and whether a push may create it (team role creator or admin). A user's
    teams count only while the user is a member of the organization. Raises ValueError
    unless exactly one of ``robot_id`` and ``user_id`` is given.
    """
    if (robot_id is None) == (user_id is None):
        raise ValueError("give exactly one of robot_id and user_id")
    if robot_id is not None:
        who, params = "m.robot_id = ?", [robot_id]
    else:
        who = (
            "m.user_id = ? AND EXISTS (SELECT 1 FROM org_members o"
            " WHERE o.namespace_id = t.namespace_id AND o.user_id = m.user_id)"
        )
        params = [user_id]
    rows = db.execute(
        "SELECT t.role, tp.role FROM team_members m JOIN teams t ON t.id = m.team_id"
        " LEFT JOIN team_permissions tp ON tp.team_id = t.id AND tp.repository_id = ?"
        f" WHERE {who} AND t.namespace_id = ?",
        [repository_id, *params, namespace_id],
    ).fetchall()
    return grant_of_team_rows(rows)


def grant_of_team_rows(rows) -> TeamGrant:
    """Return what teams give, from one ``(team role, team's role on the repository or None)``
    pair per team of the member (duplicates allowed; a pair with no team role is skipped)."""
    rows = [(team_role, repo_role) for team_role, repo_role in rows if team_role is not None]
    if not rows:
        return NO_TEAM_GRANT
    roles = [Role(repo_role) for _, repo_role in rows if repo_role is not None]
    roles += [Role.ADMIN for team_role, _ in rows if team_role == "admin"]
    return TeamGrant(strongest(roles), any(team_role in ("creator", "admin") for team_role, _ in rows))


def _member_ids(db: SqlDatabase, organization_id: int, organization: str, member: str) -> tuple[str, int]:
    """Resolve a member name (a user, or a robot ``org+short``) of the organization to
    ("user" | "robot", id). Raises NameInvalid, UserNotFound, RobotNotFound, or
    NotInOrganization for a robot of another namespace or a user who is not a member."""
    if ROBOT_SEPARATOR in member:
        if parse_robot_name(member).namespace != organization:
            raise NotInOrganization(f"robot {member!r} is not a robot of organization {organization!r}")
        return "robot", robots.get_robot(db, member).id
    user = accounts.get_user(db, check_namespace(member, "user"))
    is_member = db.execute(
        "SELECT 1 FROM org_members WHERE namespace_id = ? AND user_id = ?", [organization_id, user.id]
    ).fetchone()
    if is_member is None:
        raise NotInOrganization(f"user {member!r} is not a member of organization {organization!r}")
    return "user", user.id


def _team_repository(db: SqlDatabase, team: Team, full_name: str):
    """Return the live repository ``full_name`` of the team's organization; raises NameInvalid,
    RepositoryNotFound, or NotInOrganization for a repository of another namespace."""
    if parse_repository_name(full_name).namespace != team.organization:
        raise NotInOrganization(
            f"team {team.name!r} can only hold roles on repositories of organization {team.organization!r}"
        )
    return repositories.get_repository(db, full_name)


class TeamQueries(QueryBase):
    """Store methods for organization teams."""

    def create_team(self, organization: str, name: str, role: str = "member", description: str = "") -> Team:
        """Create team ``name`` in ``organization`` with an organization ``role`` (member,
        creator or admin). Returns the Team; raises NameInvalid, NamespaceNotFound, or
        AlreadyExists when the organization has a team of that name."""
        check_team_name(name)
        check_team_role(role)
        check_team_description(description)
        org = accounts.get_organization(self.db, organization)
        try:
            self.db.execute(
                "INSERT INTO teams (namespace_id, name, role, description, created) VALUES (?, ?, ?, ?, ?)",
                [org.id, name, role, description, self.clock()],
            )
        except DuplicateRow:
            raise AlreadyExists(f"organization {organization!r} already has a team {name!r}") from None
        return get_team(self.db, organization, name)

    def get_team(self, organization: str, name: str) -> Team:
        """Return the team; raises NameInvalid, NamespaceNotFound or TeamNotFound."""
        return get_team(self.db, organization, name)

    def list_teams(self, organization: str) -> list[Team]:
        """Return the organization's teams, oldest first; raises NamespaceNotFound."""
        org = accounts.get_organization(self.db, organization)
        rows = self.db.execute(
            f"SELECT {_TEAM_COLUMNS},"
            " (SELECT count(*) FROM team_members m LEFT JOIN users u ON u.id = m.user_id"
            "  LEFT JOIN robots r ON r.id = m.robot_id"
            "  WHERE m.team_id = t.id AND u.deleted_at IS NULL AND r.deleted_at IS NULL),"
            " (SELECT count(*) FROM team_permissions tp JOIN repositories p ON p.id = tp.repository_id"
            "  WHERE tp.team_id = t.id AND p.deleted_at IS NULL)"
            " FROM teams t JOIN namespaces n ON n.id = t.namespace_id WHERE t.namespace_id = ? ORDER BY t.id",
            [org.id],
        )
        return [Team(*row) for row in rows]

    def update_team(
        self, organization: str, name: str, *, role: str | None = None, description: str | None = None,
    ) -> Team:
        """Change a team's organization role and/or description (None: unchanged); a lower
        role counts from the next token request. Returns the Team; raises NameInvalid,
        NamespaceNotFound or TeamNotFound."""
        if role is not None:
            check_team_role(role)
        if description is not None:
            check_team_description(description)
        team = get_team(self.db, organization, name)
        with self.db.atomic():
            if role is not None:
                self.db.execute("UPDATE teams SET role = ? WHERE id = ?", [role, team.id])
            if description is not None:
                self.db.execute("UPDATE teams SET description = ? WHERE id = ?", [description, team.id])
        return get_team(self.db, organization, name)

    def delete_team(self, organization: str, name: str) -> None:
        """Delete a team with its memberships and repository roles, in one transaction;
        raises NameInvalid, NamespaceNotFound or TeamNotFound."""
        team = get_team(self.db, organization, name)
        with self.db.atomic():
            self.db.execute("DELETE FROM team_members WHERE team_id = ?", [team.id])
            self.db.execute("DELETE FROM team_permissions WHERE team_id = ?", [team.id])
            self.db.execute("DELETE FROM teams WHERE id = ?", [team.id])

    # -- members ----------------------------------------------------------------------

    def add_team_member(self, organization: str, team: str, member: str) -> TeamMember:
        """Add a user (a member of the organization) or a robot (``org+short``) to the team;
        adding a member again changes nothing. Returns the TeamMember; raises NameInvalid,
        NamespaceNotFound, TeamNotFound, UserNotFound, RobotNotFound or NotInOrganization."""
        found = get_team(self.db, organization, team)
        kind, member_id = _member_ids(self.db, found.namespace_id, organization, member)
        column = "user_id" if kind == "user" else "robot_id"
        now = self.clock()
        with self.db.atomic():
            present = self.db.execute(
                f"SELECT created FROM team_members WHERE team_id = ? AND {column} = ?", [found.id, member_id]
            ).fetchone()
            if present is not None:
                return TeamMember(team, member, kind, present[0])
            self.db.execute(
                f"INSERT INTO team_members (team_id, {column}, created) VALUES (?, ?, ?)", [found.id, member_id, now]
            )
        return TeamMember(team, member, kind, now)

    def remove_team_member(self, organization: str, team: str, member: str) -> None:
        """Take a user or robot out of the team, effective from the next token request.

        Raises NameInvalid, NamespaceNotFound, TeamNotFound, UserNotFound, RobotNotFound, or
        TeamMemberNotFound when it is not a member."""
        found = get_team(self.db, organization, team)
        if ROBOT_SEPARATOR in member:
            column, member_id = "robot_id", robots.get_robot(self.db, member).id
        else:
            column, member_id = "user_id", accounts.get_user(self.db, check_namespace(member, "user")).id
        deleted = self.db.execute(
            f"DELETE FROM team_members WHERE team_id = ? AND {column} = ?", [found.id, member_id]
        ).rowcount
        if not deleted:
            raise TeamMemberNotFound(f"{member!r} is not a member of team {team!r}")

    def list_team_members(self, organization: str, team: str) -> list[TeamMember]:
        """Return the team's live members, people first, each group by name; raises
        NameInvalid, NamespaceNotFound or TeamNotFound."""
        found = get_team(self.db, organization, team)
        users = self.db.execute(
            "SELECT u.username, m.created FROM team_members m JOIN users u ON u.id = m.user_id"
            " WHERE m.team_id = ? AND u.deleted_at IS NULL ORDER BY u.username",
            [found.id],
        ).fetchall()
        bots = self.db.execute(
            "SELECT r.shortname, m.created FROM team_members m JOIN robots r ON r.id = m.robot_id"
            " WHERE m.team_id = ? AND r.deleted_at IS NULL ORDER BY r.shortname",
            [found.id],
        ).fetchall()
        return [TeamMember(team, name, "user", created) for name, created in users] + [
            TeamMember(team, f"{organization}{ROBOT_SEPARATOR}{short}", "robot", created) for short, created in bots
        ]

    def member_teams(self, organization: str, member: str) -> list[str]:
        """Return the names of the organization's teams that user or robot ``member`` is in
        (empty for an unknown one); raises NamespaceNotFound."""
        org = accounts.get_organization(self.db, organization)
        if ROBOT_SEPARATOR in member:
            namespace, _, shortname = member.partition(ROBOT_SEPARATOR)
            if namespace != organization:
                return []  # another namespace's robot is in none of these teams
            rows = self.db.execute(
                "SELECT t.name FROM team_members m JOIN teams t ON t.id = m.team_id JOIN robots r ON r.id = m.robot_id"
                " WHERE t.namespace_id = ? AND r.namespace_id = ? AND r.shortname = ? AND r.deleted_at IS NULL"
                " ORDER BY t.name",
                [org.id, org.id, shortname],
            )
        else:
            rows = self.db.execute(
                "SELECT t.name FROM team_members m JOIN teams t ON t.id = m.team_id JOIN users u ON u.id = m.user_id"
                " WHERE t.namespace_id = ? AND u.username = ? AND u.deleted_at IS NULL ORDER BY t.name",
                [org.id, member],
            )
        return [name for (name,) in rows]

    # -- repository roles ---------------------------------------------------------------

    def set_team_permission(self, organization: str, team: str, full_name: str, role: str | Role) -> TeamPermission:
        """Give the team ``role`` (read, write or admin) on repository ``full_name`` of its
        organization, replacing any role it had there. Returns the TeamPermission; raises
        NameInvalid, NamespaceNotFound, TeamNotFound, RepositoryNotFound or NotInOrganization."""
        role = parse_role(role)
        found = get_team(self.db, organization, team)
        repository = _team_repository(self.db, found, full_name)
        with self.db.atomic():
            self.db.execute(
                "DELETE FROM team_permissions WHERE team_id = ? AND repository_id = ?", [found.id, repository.id]
            )
            self.db.execute(
                "INSERT INTO team_permissions (team_id, repository_id, role, created) VALUES (?, ?, ?, ?)",
                [found.id, repository.id, role.value, self.clock()],
            )
        return TeamPermission(organization, team, repository.name, role, repository.is_public)

    def get_team_permission(self, organization: str, team: str, full_name: str) -> TeamPermission:
        """Return the team's role on the repository; raises what ``set_team_permission``
        raises, or TeamPermissionNotFound when it has none."""
        found = get_team(self.db, organization, team)
        repository = _team_repository(self.db, found, full_name)
        row = self.db.execute(
            "SELECT role FROM team_permissions WHERE team_id = ? AND repository_id = ?", [found.id, repository.id]
        ).fetchone()
        if row is None:
            raise TeamPermissionNotFound(f"team {team!r} has no permission on {full_name!r}")
        return TeamPermission(organization, team, repository.name, Role(row[0]), repository.is_public)

    def remove_team_permission(self, organization: str, team: str, full_name: str) -> None:
        """Take the team's role on the repository away, effective from the next token request;
        raises what ``get_team_permission`` raises."""
        found = get_team(self.db, organization, team)
        repository = _team_repository(self.db, found, full_name)
        deleted = self.db.execute(
            "DELETE FROM team_permissions WHERE team_id = ? AND repository_id = ?", [found.id, repository.id]
        ).rowcount
        if not deleted:
            raise TeamPermissionNotFound(f"team {team!r} has no permission on {full_name!r}")

    def list_team_permissions(self, organization: str, team: str) -> list[TeamPermission]:
        """Return the team's roles on live repositories, by repository name; raises
        NameInvalid, NamespaceNotFound or TeamNotFound."""
        found = get_team(self.db, organization, team)
        rows = self.db.execute(
            "SELECT p.name, p.visibility, tp.role FROM team_permissions tp JOIN repositories p ON p.id = tp.repository_id"
            " WHERE tp.team_id = ? AND p.deleted_at IS NULL ORDER BY p.name",
            [found.id],
        )
        return [TeamPermission(organization, team, name, Role(role), vis == "public") for name, vis, role in rows]

    def list_repository_team_permissions(self, full_name: str) -> list[TeamPermission]:
        """Return every team's role on one live repository, by team name; raises NameInvalid
        or RepositoryNotFound."""
        repository = repositories.get_repository(self.db, full_name)
        rows = self.db.execute(
            "SELECT t.name, tp.role FROM team_permissions tp JOIN teams t ON t.id = tp.team_id"
            " WHERE tp.repository_id = ? ORDER BY t.name",
            [repository.id],
        )
        return [
            TeamPermission(repository.namespace, name, repository.name, Role(role), repository.is_public)
            for name, role in rows
        ]

    # -- authorization ------------------------------------------------------------------

    def team_grant(
        self, namespace_id: int, repository_id: int | None, *, robot_id: int | None = None,
        user_id: int | None = None,
    ) -> TeamGrant:
        """Return what the teams of a robot or of a user give on one repository (see
        ``team_grant`` above: either id, never both)."""
        return team_grant(self.db, namespace_id, repository_id, robot_id=robot_id, user_id=user_id)
