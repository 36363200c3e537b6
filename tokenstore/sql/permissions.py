"""Grants: a robot's role on one repository or on its whole namespace (the role → action
table is ``tokenstore.permissions``)."""

from ..errors import GrantOutsideNamespace, PermissionNotFound
from ..models import Permission, Repository, Robot
from ..names import check_namespace, parse_repository_name
from ..permissions import Role, parse_role
from . import repositories, robots
from .base import QueryBase
from .connection import SqlDatabase


def grant_target(db: SqlDatabase, robot: Robot, target: str) -> Repository | None:
    """Resolve a grant target (``ns/repo`` or ``ns``) to a repository, None for the whole
    namespace. Raises NameInvalid, RepositoryNotFound, or GrantOutsideNamespace when the
    target is not in the robot's own namespace."""
    if "/" in target:
        namespace = parse_repository_name(target).namespace
    else:
        namespace = check_namespace(target)
    if namespace != robot.namespace:
        raise GrantOutsideNamespace(
            f"robot {robot.username!r} can only be granted rights inside namespace {robot.namespace!r}"
        )
    return repositories.get_repository(db, target) if "/" in target else None


def _delete_permission(db: SqlDatabase, robot_id: int, repository: Repository | None) -> int:
    if repository is None:
        sql, params = "DELETE FROM permissions WHERE robot_id = ? AND repository_id IS NULL", [robot_id]
    else:
        sql, params = "DELETE FROM permissions WHERE robot_id = ? AND repository_id = ?", [robot_id, repository.id]
    return db.execute(sql, params).rowcount


def grant(db: SqlDatabase, username: str, target: str, role: str | Role, now: float) -> Permission:
    """Give a robot ``role`` on ``target`` at ``now``, replacing any role it had there, in one
    transaction. Returns the Permission; raises what ``PermissionQueries.grant`` raises."""
    role = parse_role(role)
    robot = robots.get_robot(db, username)
    repository = grant_target(db, robot, target)
    with db.atomic():
        _delete_permission(db, robot.id, repository)
        db.execute(
            "INSERT INTO permissions (robot_id, namespace_id, repository_id, role, created) VALUES (?, ?, ?, ?, ?)",
            [robot.id, robot.namespace_id, repository.id if repository else None, role.value, now],
        )
    return Permission(
        robot.username, robot.namespace, repository.name if repository else None, role,
        bool(repository and repository.is_public),
    )


def revoke(db: SqlDatabase, username: str, target: str) -> None:
    """Remove a robot's role on ``target``; raises what ``PermissionQueries.revoke`` raises."""
    robot = robots.get_robot(db, username)
    repository = grant_target(db, robot, target)
    if _delete_permission(db, robot.id, repository) == 0:
        raise PermissionNotFound(f"robot {username!r} has no permission on {target!r}")


def _permissions_of(db: SqlDatabase, robot: Robot) -> list[Permission]:
    rows = db.execute(
        "SELECT p.name, p.visibility, g.role FROM permissions g"
        " LEFT JOIN repositories p ON p.id = g.repository_id"
        " WHERE g.robot_id = ? AND (g.repository_id IS NULL OR p.deleted_at IS NULL)"
        " ORDER BY g.repository_id IS NOT NULL, p.name",
        [robot.id],
    )
    return [
        Permission(robot.username, robot.namespace, repo_name, Role(role), visibility == "public")
        for repo_name, visibility, role in rows
    ]


class PermissionQueries(QueryBase):
    """Store methods for grants."""

    def grant(self, username: str, target: str, role: str | Role) -> Permission:
        """Give a robot ``role`` on ``target``: ``ns/repo`` (one repository) or ``ns`` (all of it).

        Replaces any role the robot had on that target. Returns the Permission. Raises
        NameInvalid, RobotNotFound, RepositoryNotFound, or GrantOutsideNamespace when the
        target is not in the robot's own namespace.
        """
        return grant(self.db, username, target, role, self.clock())

    def revoke(self, username: str, target: str) -> None:
        """Remove a robot's role on ``target``.

        Raises NameInvalid, RobotNotFound, RepositoryNotFound, GrantOutsideNamespace, or
        PermissionNotFound when the robot had no role there.
        """
        revoke(self.db, username, target)

    def get_permission(self, username: str, target: str) -> Permission:
        """Return the robot's role on ``target``; raises PermissionNotFound when it has none."""
        robot = robots.get_robot(self.db, username)
        repository = grant_target(self.db, robot, target)
        for permission in _permissions_of(self.db, robot):
            if permission.repository == (repository.name if repository else None):
                return permission
        raise PermissionNotFound(f"robot {username!r} has no permission on {target!r}")

    def list_permissions(self, username: str) -> list[Permission]:
        """Return every live grant of the robot, namespace-wide first, then by repository."""
        return _permissions_of(self.db, robots.get_robot(self.db, username))

    def list_repository_permissions(self, full_name: str) -> list[Permission]:
        """Return every live robot's role on one repository (namespace-wide grants not included)."""
        repository = repositories.get_repository(self.db, full_name)
        rows = self.db.execute(
            "SELECT r.shortname, g.role FROM permissions g JOIN robots r ON r.id = g.robot_id"
            " WHERE g.repository_id = ? AND r.deleted_at IS NULL ORDER BY r.shortname",
            [repository.id],
        )
        return [
            Permission(f"{repository.namespace}+{short}", repository.namespace, repository.name, Role(role), repository.is_public)
            for short, role in rows
        ]
