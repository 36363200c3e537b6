"""What a person logged in with an app token may do on a repository: their role, from their
own namespace, their organization role and their teams' grants.

- A user is admin of every repository of their own namespace.
- An organization admin is admin of every repository of the organization.
- A plain organization member gets only what their teams grant, as in Quay, where belonging
  to an organization means belonging to one of its teams.
- A superuser gets nothing more at the registry than the rules above give them.
"""

from ..models import Principal
from ..names import RepositoryName
from ..permissions import Role, strongest
from . import teams
from .connection import SqlDatabase


def user_repository_and_role(db: SqlDatabase, principal: Principal, name: RepositoryName) -> tuple[int | None, bool, Role | None]:
    """Return the live repository's id (None when it does not exist), whether it is public,
    and the person's strongest role on it (None for none).

    One statement: the live namespace by name, its live repository, and the user's
    membership row in it, each an index probe.
    """
    row = db.execute(
        "SELECT n.id, n.kind, p.id, p.visibility, m.role FROM namespaces n"
        " LEFT JOIN repositories p ON p.namespace_id = n.id AND p.name = ? AND p.deleted_at IS NULL"
        " LEFT JOIN org_members m ON m.namespace_id = n.id AND m.user_id = ?"
        " WHERE n.name = ? AND n.deleted_at IS NULL",
        [name.name, principal.user_id, name.namespace],
    ).fetchone()
    if row is None:
        return None, False, None
    namespace_id, kind, repository_id, visibility, member_role = row
    roles = list(grants_through_teams(db, principal, namespace_id, repository_id))
    if kind == "user" and namespace_id == principal.namespace_id:
        roles.append(Role.ADMIN)
    if kind == "organization" and member_role == "admin":
        roles.append(Role.ADMIN)
    return repository_id, visibility == "public", strongest(roles)


def grants_through_teams(
    db: SqlDatabase, principal: Principal, namespace_id: int, repository_id: int | None,
) -> list[Role]:
    """Return the roles the person's teams in namespace ``namespace_id`` hold on repository
    ``repository_id`` (None: it does not exist yet): their repository roles, admin through an
    admin team, and, for a push that creates the repository, write through a creator team
    (the person then holds only what the teams grant on it, Quay's creator admin being a
    robot's permission row). Teams count only while the person is a member of the
    organization (``teams.team_grant``)."""
    grant = teams.team_grant(db, namespace_id, repository_id, user_id=principal.user_id)
    roles = [grant.role] if grant.role is not None else []
    if repository_id is None and grant.may_create:
        roles.append(Role.WRITE)
    return roles
