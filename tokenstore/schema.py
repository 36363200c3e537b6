"""The database schema, as named migrations applied in order.

Rows are soft-deleted (``deleted_at`` set) so that a deletion takes effect at once for every
reader; the collector (``Store.collect_garbage``) removes them later. Names are unique only
among live rows, so a namespace re-created with a deleted one's name is a new namespace that
inherits nothing. Times are UNIX seconds (REAL).
"""

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("tokenstore")


@migrations(name="0001_core")
def _core(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE namespaces (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('organization', 'user')),
            created REAL NOT NULL,
            deleted_at REAL
        );
        CREATE UNIQUE INDEX namespaces_live_name ON namespaces(name) WHERE deleted_at IS NULL;

        CREATE TABLE robots (
            id INTEGER PRIMARY KEY,
            namespace_id INTEGER NOT NULL REFERENCES namespaces(id),
            shortname TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            unstructured_metadata TEXT NOT NULL DEFAULT '{}',
            created REAL NOT NULL,
            last_accessed REAL,
            deleted_at REAL
        );
        CREATE UNIQUE INDEX robots_live_name ON robots(namespace_id, shortname) WHERE deleted_at IS NULL;

        CREATE TABLE robot_secrets (
            id INTEGER PRIMARY KEY,
            robot_id INTEGER NOT NULL REFERENCES robots(id),
            hash TEXT NOT NULL,
            created REAL NOT NULL,
            expires_at REAL,
            revoked_at REAL
        );
        CREATE INDEX robot_secrets_robot ON robot_secrets(robot_id, revoked_at);

        CREATE TABLE repositories (
            id INTEGER PRIMARY KEY,
            namespace_id INTEGER NOT NULL REFERENCES namespaces(id),
            name TEXT NOT NULL,
            visibility TEXT NOT NULL CHECK (visibility IN ('public', 'private')),
            description TEXT NOT NULL DEFAULT '',
            created REAL NOT NULL,
            deleted_at REAL
        );
        CREATE UNIQUE INDEX repositories_live_name ON repositories(namespace_id, name) WHERE deleted_at IS NULL;

        -- repository_id NULL: the grant covers the whole namespace, including repositories
        -- created later by a push.
        CREATE TABLE permissions (
            id INTEGER PRIMARY KEY,
            robot_id INTEGER NOT NULL REFERENCES robots(id),
            namespace_id INTEGER NOT NULL REFERENCES namespaces(id),
            repository_id INTEGER REFERENCES repositories(id),
            role TEXT NOT NULL CHECK (role IN ('read', 'write', 'admin')),
            created REAL NOT NULL
        );
        CREATE UNIQUE INDEX permissions_repository ON permissions(robot_id, repository_id)
            WHERE repository_id IS NOT NULL;
        CREATE UNIQUE INDEX permissions_namespace ON permissions(robot_id)
            WHERE repository_id IS NULL;
        CREATE INDEX permissions_by_repository ON permissions(repository_id);
        """
    )


def apply_migrations(db: Database) -> None:
    """Bring ``db`` up to the newest schema; applied migrations are skipped."""
    migrations.apply(db)
