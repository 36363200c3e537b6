"""Namespaces: an organization's or a user's, which hold robots and repositories."""

from ..errors import AlreadyExists, DuplicateRow, NameInvalid, NamespaceNotFound
from ..models import Namespace
from ..names import NAMESPACE_KINDS, check_namespace
from .base import QueryBase
from .connection import SqlDatabase


def get_namespace(db: SqlDatabase, name: str) -> Namespace:
    """Return the live namespace ``name``; raises NamespaceNotFound."""
    row = db.execute(
        "SELECT id, name, kind, created FROM namespaces WHERE name = ? AND deleted_at IS NULL", [name]
    ).fetchone()
    if row is None:
        raise NamespaceNotFound(f"namespace {name!r} does not exist")
    return Namespace(*row)


def create_namespace(db: SqlDatabase, name: str, kind: str, now: float) -> Namespace:
    """Create namespace ``name`` of ``kind`` (organization or user) at time ``now``.

    Returns the Namespace; raises NameInvalid for a bad name or kind, AlreadyExists when a
    live namespace has that name.
    """
    check_namespace(name)
    if kind not in NAMESPACE_KINDS:
        raise NameInvalid(f"invalid namespace kind {kind!r}: use organization or user")
    try:
        (namespace_id,) = db.execute(
            "INSERT INTO namespaces (name, kind, created) VALUES (?, ?, ?) RETURNING id", [name, kind, now]
        ).fetchone()
    except DuplicateRow:
        raise AlreadyExists(f"namespace {name!r} already exists") from None
    return Namespace(namespace_id, name, kind, now)


def delete_namespace(db: SqlDatabase, name: str, now: float) -> None:
    """Mark namespace ``name`` and its live robots and repositories deleted at ``now``, in one
    transaction; raises NamespaceNotFound."""
    namespace = get_namespace(db, name)
    with db.atomic():
        db.execute("UPDATE namespaces SET deleted_at = ? WHERE id = ?", [now, namespace.id])
        db.execute("UPDATE robots SET deleted_at = ? WHERE namespace_id = ? AND deleted_at IS NULL", [now, namespace.id])
        db.execute(
            "UPDATE repositories SET deleted_at = ? WHERE namespace_id = ? AND deleted_at IS NULL", [now, namespace.id],
        )


class NamespaceQueries(QueryBase):
    """Store methods for namespaces."""

    def create_namespace(self, name: str, kind: str = "organization") -> Namespace:
        """Create a namespace (an organization or a user's own).

        Returns the Namespace; raises NameInvalid for a bad name or kind, AlreadyExists when
        a live namespace has that name.
        """
        return create_namespace(self.db, name, kind, self.clock())

    def get_namespace(self, name: str) -> Namespace:
        """Return the live namespace ``name``; raises NamespaceNotFound."""
        return get_namespace(self.db, name)

    def list_namespaces(self, kind: str | None = None) -> list[Namespace]:
        """Return the live namespaces, optionally of one kind, ordered by name."""
        sql = "SELECT id, name, kind, created FROM namespaces WHERE deleted_at IS NULL"
        params: list = []
        if kind:
            sql += " AND kind = ?"
            params.append(kind)
        return [Namespace(*row) for row in self.db.execute(sql + " ORDER BY name", params)]

    def delete_namespace(self, name: str) -> None:
        """Delete a namespace with its robots, secrets and repositories, effective at once.

        The rows stay until the collector runs, but nothing of the namespace authenticates
        or authorizes from this call on. Raises NamespaceNotFound.
        """
        delete_namespace(self.db, name, self.clock())
