"""Read-only views of grants that the management API lists: who holds a namespace-wide role,
and which repositories each robot of a namespace may use."""

from ..models import Permission
from ..permissions import Role
from . import namespaces
from .base import QueryBase


class ListingQueries(QueryBase):
    """Store methods listing grants."""

    def list_namespace_grants(self, namespace: str) -> list[Permission]:
        """Return the namespace-wide grants of ``namespace``'s live robots, by robot name.

        Raises NamespaceNotFound.
        """
        ns = namespaces.get_namespace(self.db, namespace)
        rows = self.db.execute(
            "SELECT r.shortname, g.role FROM permissions g JOIN robots r ON r.id = g.robot_id"
            " WHERE g.namespace_id = ? AND g.repository_id IS NULL AND r.deleted_at IS NULL ORDER BY r.shortname",
            [ns.id],
        )
        return [Permission(f"{ns.name}+{short}", ns.name, None, Role(role)) for short, role in rows]

    def robot_repositories(self, namespace: str) -> dict[str, list[str]]:
        """Map each live robot of ``namespace`` with repository grants to those repositories' names.

        One query for the whole namespace. Raises NamespaceNotFound.
        """
        ns = namespaces.get_namespace(self.db, namespace)
        rows = self.db.execute(
            "SELECT r.shortname, p.name FROM permissions g JOIN robots r ON r.id = g.robot_id"
            " JOIN repositories p ON p.id = g.repository_id"
            " WHERE r.namespace_id = ? AND r.deleted_at IS NULL AND p.deleted_at IS NULL ORDER BY r.shortname, p.name",
            [ns.id],
        )
        result: dict[str, list[str]] = {}
        for short, repository in rows:
            result.setdefault(f"{ns.name}+{short}", []).append(repository)
        return result
