"""Robots: their rows, and the secret a robot is created with."""

import json
from collections.abc import Callable

from .. import hashing
from ..errors import AlreadyExists, DuplicateRow, RobotNotFound
from ..models import IssuedSecret, Robot
from ..names import check_description, parse_robot_name
from . import namespaces
from .base import QueryBase
from .connection import SqlDatabase

ROBOT_COLUMNS = """r.id, r.namespace_id, n.name AS namespace, r.shortname, r.description,
    r.unstructured_metadata, r.created, r.last_accessed, r.disabled_at"""


def robot_from_row(row) -> Robot:
    """Return the Robot of a row selected with ROBOT_COLUMNS."""
    id_, namespace_id, namespace, shortname, description, metadata, created, last_accessed, disabled_at = row
    return Robot(
        id_, namespace_id, namespace, shortname, description, json.loads(metadata or "{}"), created, last_accessed,
        disabled_at,
    )


def get_robot(db: SqlDatabase, username: str) -> Robot:
    """Return the live robot ``namespace+shortname``; raises NameInvalid or RobotNotFound."""
    name = parse_robot_name(username)
    row = db.execute(
        f"SELECT {ROBOT_COLUMNS} FROM robots r JOIN namespaces n ON n.id = r.namespace_id"
        " WHERE n.name = ? AND r.shortname = ? AND r.deleted_at IS NULL AND n.deleted_at IS NULL",
        [name.namespace, name.shortname],
    ).fetchone()
    if row is None:
        raise RobotNotFound(f"robot {username!r} does not exist")
    return robot_from_row(row)


def insert_secret(
    db: SqlDatabase, robot_id: int, new_secret: hashing.NewSecret, now: float, expires_at: float | None = None,
) -> int:
    """Store ``new_secret``'s hash and selector for robot ``robot_id``; returns the secret's id."""
    return db.execute(
        "INSERT INTO robot_secrets (robot_id, hash, selector, created, expires_at) VALUES (?, ?, ?, ?, ?)"
        " RETURNING id",
        [robot_id, new_secret.hashed, hashing.selector(new_secret.secret), now, expires_at],
    ).fetchone()[0]


def create_robot(
    db: SqlDatabase, clock: Callable[[], float], bcrypt_cost: int, username: str, description: str = "",
    unstructured_metadata: dict | None = None, *, new_secret: hashing.NewSecret | None = None,
    expires_at: float | None = None,
) -> IssuedSecret:
    """Create robot ``namespace+shortname`` with ``new_secret`` (or one made here at
    ``bcrypt_cost``, once the names are checked), expiring at ``expires_at`` (None: never),
    in one transaction.

    Returns the IssuedSecret with the clear secret. Raises NameInvalid, NamespaceNotFound,
    or AlreadyExists when the robot exists.
    """
    name = parse_robot_name(username)
    description = check_description(description)
    metadata = json.dumps(unstructured_metadata or {})
    namespace = namespaces.get_namespace(db, name.namespace)
    new_secret = new_secret or hashing.new_secret(bcrypt_cost)
    now = clock()
    try:
        with db.atomic():
            robot_id = db.execute(
                "INSERT INTO robots (namespace_id, shortname, description, unstructured_metadata, created)"
                " VALUES (?, ?, ?, ?, ?) RETURNING id",
                [namespace.id, name.shortname, description, metadata, now],
            ).fetchone()[0]
            secret_id = insert_secret(db, robot_id, new_secret, now, expires_at)
    except DuplicateRow:
        raise AlreadyExists(f"robot {username!r} already exists") from None
    return IssuedSecret(get_robot(db, username), secret_id, now, new_secret.secret)


def delete_robot(db: SqlDatabase, username: str, now: float) -> None:
    """Mark the robot deleted at ``now``; raises NameInvalid or RobotNotFound."""
    robot = get_robot(db, username)
    db.execute("UPDATE robots SET deleted_at = ? WHERE id = ?", [now, robot.id])


class RobotQueries(QueryBase):
    """Store methods for robots (their secrets: ``secret_lifecycle.py``)."""

    def create_robot(
        self, username: str, description: str = "", unstructured_metadata: dict | None = None,
        *, new_secret: hashing.NewSecret | None = None,
    ) -> IssuedSecret:
        """Create robot ``namespace+shortname`` with a fresh secret (``new_secret``, made
        before the caller's transaction began, or one made here).

        Returns an IssuedSecret carrying the clear secret (the only time it is available).
        Raises NameInvalid, NamespaceNotFound, or AlreadyExists when the robot exists.
        """
        return create_robot(
            self.db, self.clock, self.bcrypt_cost, username, description, unstructured_metadata, new_secret=new_secret,
        )

    def get_robot(self, username: str) -> Robot:
        """Return the live robot ``namespace+shortname``; raises NameInvalid or RobotNotFound."""
        return get_robot(self.db, username)

    def list_robots(self, namespace: str, limit: int | None = None) -> list[Robot]:
        """Return the live robots of ``namespace`` ordered by shortname; raises NamespaceNotFound."""
        ns = namespaces.get_namespace(self.db, namespace)
        sql = (
            f"SELECT {ROBOT_COLUMNS} FROM robots r JOIN namespaces n ON n.id = r.namespace_id"
            " WHERE r.namespace_id = ? AND r.deleted_at IS NULL ORDER BY r.shortname"
        )
        params: list = [ns.id]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [robot_from_row(row) for row in self.db.execute(sql, params)]

    def update_robot(self, username: str, *, description: str | None = None, unstructured_metadata: dict | None = None) -> Robot:
        """Change a robot's description and/or metadata; returns the updated Robot.

        Raises NameInvalid or RobotNotFound.
        """
        robot = get_robot(self.db, username)
        if description is not None:
            self.db.execute("UPDATE robots SET description = ? WHERE id = ?", [check_description(description), robot.id])
        if unstructured_metadata is not None:
            self.db.execute(
                "UPDATE robots SET unstructured_metadata = ? WHERE id = ?", [json.dumps(unstructured_metadata), robot.id]
            )
        return get_robot(self.db, username)

    def delete_robot(self, username: str) -> None:
        """Delete a robot; its secrets and permissions stop working at once.

        Raises NameInvalid or RobotNotFound.
        """
        delete_robot(self.db, username, self.clock())
