"""Repositories: created by a push or through the API, public or private."""

from ..errors import AlreadyExists, DuplicateRow, NameInvalid, RepositoryNotFound
from ..models import Repository
from ..names import VISIBILITIES, check_description, parse_repository_name
from . import namespaces, prototypes
from .base import QueryBase
from .connection import SqlDatabase

_REPO_COLUMNS = "p.id, p.namespace_id, n.name AS namespace, p.name, p.visibility, p.description, p.created"


def find_repository(db: SqlDatabase, full_name: str) -> Repository | None:
    """Return the live repository ``full_name`` or None. Raises NameInvalid."""
    name = parse_repository_name(full_name)
    row = db.execute(
        f"SELECT {_REPO_COLUMNS} FROM repositories p JOIN namespaces n ON n.id = p.namespace_id"
        " WHERE n.name = ? AND p.name = ? AND p.deleted_at IS NULL AND n.deleted_at IS NULL",
        [name.namespace, name.name],
    ).fetchone()
    return Repository(*row) if row else None


def get_repository(db: SqlDatabase, full_name: str) -> Repository:
    """Return the live repository ``namespace/name``; raises NameInvalid or RepositoryNotFound."""
    repository = find_repository(db, full_name)
    if repository is None:
        raise RepositoryNotFound(f"repository {full_name!r} does not exist")
    return repository


def create_repository(db: SqlDatabase, full_name: str, visibility: str, description: str, now: float) -> Repository:
    """Create repository ``namespace/name`` at ``now``.

    Returns the Repository; raises NameInvalid, NamespaceNotFound or AlreadyExists.
    """
    name = parse_repository_name(full_name)
    if visibility not in VISIBILITIES:
        raise NameInvalid(f"invalid visibility {visibility!r}: use public or private")
    namespace = namespaces.get_namespace(db, name.namespace)
    try:
        db.execute(
            "INSERT INTO repositories (namespace_id, name, visibility, description, created) VALUES (?, ?, ?, ?, ?)",
            [namespace.id, name.name, visibility, check_description(description, limit=4096), now],
        )
    except DuplicateRow:
        raise AlreadyExists(f"repository {full_name!r} already exists") from None
    return get_repository(db, full_name)


class RepositoryQueries(QueryBase):
    """Store methods for repositories."""

    def create_repository(
        self, full_name: str, visibility: str = "private", description: str = "", *, creator: str | None = None,
    ) -> Repository:
        """Create repository ``namespace/name`` and, in the same transaction, apply its
        organization's default permissions (``prototypes.apply_prototypes``) for ``creator``,
        the user or robot creating it (None: only those without an activating user apply).

        Returns the Repository; raises NameInvalid, NamespaceNotFound, AlreadyExists, or
        UserNotFound or RobotNotFound for an unknown creator.
        """
        with self.db.atomic():
            user_id, robot_id = prototypes.creator_ids(self.db, creator)
            repository = create_repository(self.db, full_name, visibility, description, self.clock())
            prototypes.apply_prototypes(self.db, repository, self.clock(), user_id=user_id, robot_id=robot_id)
        return repository

    def get_repository(self, full_name: str) -> Repository:
        """Return the live repository ``namespace/name``; raises NameInvalid or RepositoryNotFound."""
        return get_repository(self.db, full_name)

    def list_repositories(self, namespace: str) -> list[Repository]:
        """Return the live repositories of ``namespace``; raises NamespaceNotFound."""
        ns = namespaces.get_namespace(self.db, namespace)
        rows = self.db.execute(
            f"SELECT {_REPO_COLUMNS} FROM repositories p JOIN namespaces n ON n.id = p.namespace_id"
            " WHERE p.namespace_id = ? AND p.deleted_at IS NULL ORDER BY p.name",
            [ns.id],
        )
        return [Repository(*row) for row in rows]

    def set_visibility(self, full_name: str, visibility: str) -> Repository:
        """Make a repository public or private; returns it. Raises NameInvalid or RepositoryNotFound."""
        if visibility not in VISIBILITIES:
            raise NameInvalid(f"invalid visibility {visibility!r}: use public or private")
        repository = get_repository(self.db, full_name)
        self.db.execute("UPDATE repositories SET visibility = ? WHERE id = ?", [visibility, repository.id])
        return get_repository(self.db, full_name)

    def delete_repository(self, full_name: str) -> None:
        """Delete a repository; grants on it stop at once. Raises NameInvalid or RepositoryNotFound."""
        repository = get_repository(self.db, full_name)
        self.db.execute("UPDATE repositories SET deleted_at = ? WHERE id = ?", [self.clock(), repository.id])
