"""A robot's secrets: when a secret row still works, replacing a robot's secret (with a grace
period), listing the live ones, and the lifetime-checked ways to create and rotate them.

A robot has at most two live secrets: the current one and one in grace.
"""

from collections.abc import Callable

from .. import hashing
from ..models import IssuedSecret, SecretInfo
from ..secret_lifecycle import check_expires_at, check_grace_seconds
from . import robots
from .base import QueryBase
from .connection import SqlDatabase


def unreplaced_secret(alias: str = "s") -> str:
    """Return the SQL condition that secret row ``alias`` was neither ended nor is past its
    grace period; it takes one parameter, the time now.

    ``ended`` (set when a secret is replaced without grace, or pushed out by a newer
    rotation) is a state that no clock can undo; only the grace period is a time.
    """
    return f"{alias}.ended = 0 AND ({alias}.revoked_at IS NULL OR {alias}.revoked_at > ?)"


def live_secret(alias: str = "s") -> str:
    """Return the SQL condition that secret row ``alias`` still authenticates: unreplaced
    (see ``unreplaced_secret``) and not expired; it takes two parameters, now and now."""
    return f"{unreplaced_secret(alias)} AND ({alias}.expires_at IS NULL OR {alias}.expires_at > ?)"


def regenerate_secret(
    db: SqlDatabase, clock: Callable[[], float], bcrypt_cost: int, username: str, *, grace_seconds: float = 0,
    expires_at: float | None = None, new_secret: hashing.NewSecret | None = None,
) -> IssuedSecret:
    """Replace the robot's secret with ``new_secret`` (or one made here at ``bcrypt_cost``),
    expiring at ``expires_at`` (None: never), in one transaction.

    Without ``grace_seconds`` every previous secret ends at once; with it, the current one
    keeps working that long and any older one still in grace ends at once. An ended secret
    stays ended whatever the clock does. Returns the IssuedSecret with the new clear
    secret. Raises NameInvalid or RobotNotFound.
    """
    robot = robots.get_robot(db, username)
    new_secret = new_secret or hashing.new_secret(bcrypt_cost)
    now = clock()
    with db.atomic():
        kept = None
        if grace_seconds > 0:
            kept = db.execute(
                "SELECT s.id, s.selector FROM robot_secrets s WHERE s.robot_id = ? AND s.revoked_at IS NULL"
                f" AND {live_secret()} ORDER BY s.id DESC LIMIT 1",
                [robot.id, now, now],
            ).fetchone()
        # revoked_at only says when, for people; ``ended`` is what authentication reads.
        db.execute(
            "UPDATE robot_secrets SET ended = 1,"
            " revoked_at = CASE WHEN revoked_at IS NULL OR revoked_at > ? THEN ? ELSE revoked_at END"
            " WHERE robot_id = ? AND ended = 0 AND id IS DISTINCT FROM ?",
            [now, now, robot.id, kept[0] if kept else None],
        )
        if kept is not None:
            db.execute("UPDATE robot_secrets SET revoked_at = ? WHERE id = ?", [now + grace_seconds, kept[0]])
            while kept[1] is not None and hashing.selector(new_secret.secret) == kept[1]:
                # One draw in 65,536: the two live secrets must not share a selector, or a
                # wrong secret naming it would cost two bcrypt checks.
                new_secret = hashing.new_secret(bcrypt_cost)
        secret_id = robots.insert_secret(db, robot.id, new_secret, now, expires_at)
    return IssuedSecret(robot, secret_id, now, new_secret.secret)


def create_robot_expiring(
    db: SqlDatabase, clock: Callable[[], float], bcrypt_cost: int, username: str, description: str = "",
    unstructured_metadata: dict | None = None, *, expires_at: float | None = None,
    new_secret: hashing.NewSecret | None = None,
) -> IssuedSecret:
    """Create a robot like ``robots.create_robot``, its secret expiring at ``expires_at``
    (None: never). Raises LifetimeInvalid first, then whatever ``create_robot`` raises."""
    expires_at = check_expires_at(expires_at, clock())
    return robots.create_robot(
        db, clock, bcrypt_cost, username, description, unstructured_metadata, new_secret=new_secret,
        expires_at=expires_at,
    )


def rotate_secret(
    db: SqlDatabase, clock: Callable[[], float], bcrypt_cost: int, username: str, *, grace_seconds: object = 0,
    expires_at: float | None = None, new_secret: hashing.NewSecret | None = None,
) -> IssuedSecret:
    """Regenerate the robot's secret (``regenerate_secret``) after checking the lifetimes.

    Returns the IssuedSecret; raises LifetimeInvalid, NameInvalid or RobotNotFound.
    """
    grace = check_grace_seconds(grace_seconds)
    expires_at = check_expires_at(expires_at, clock())
    return regenerate_secret(
        db, clock, bcrypt_cost, username, grace_seconds=grace, expires_at=expires_at, new_secret=new_secret,
    )


class SecretLifecycleQueries(QueryBase):
    """Store methods for a robot's secrets: regeneration, rotation with checked lifetimes,
    expiry, listing."""

    def regenerate_secret(
        self, username: str, *, grace_seconds: float = 0, expires_at: float | None = None,
        new_secret: hashing.NewSecret | None = None,
    ) -> IssuedSecret:
        """Replace the robot's secret with a new one (``new_secret``, made before the caller's
        transaction began, or one made here).

        A robot has at most two live secrets: the current one and one in grace. Without
        ``grace_seconds`` every previous secret ends at once; with it, the current one keeps
        working that long and any older one still in grace ends at once. An ended secret
        stays ended whatever the clock does. Returns the IssuedSecret with the new clear
        secret. Raises NameInvalid or RobotNotFound.
        """
        return regenerate_secret(
            self.db, self.clock, self.bcrypt_cost, username, grace_seconds=grace_seconds, expires_at=expires_at,
            new_secret=new_secret,
        )

    def list_secrets(self, username: str) -> list[SecretInfo]:
        """Return the robot's secrets that still authenticate, newest first (no hashes)."""
        robot = robots.get_robot(self.db, username)
        now = self.clock()
        rows = self.db.execute(
            "SELECT id, created, CASE WHEN expires_at IS NULL THEN revoked_at WHEN revoked_at IS NULL THEN expires_at"
            " WHEN expires_at < revoked_at THEN expires_at ELSE revoked_at END, last_used"
            f" FROM robot_secrets s WHERE robot_id = ? AND {live_secret()} ORDER BY id DESC",
            [robot.id, now, now],
        )
        return [SecretInfo(*row) for row in rows]

    def oldest_live_secrets(self) -> dict[str, float]:
        """Return, for each namespace with a live robot secret (a live robot's current
        secret, or one in its grace period, not expired), when its oldest was created (UNIX
        seconds), keyed by namespace name."""
        now = self.clock()
        rows = self.db.execute(
            "SELECT n.name, MIN(s.created) FROM robot_secrets s JOIN robots r ON r.id = s.robot_id"
            " JOIN namespaces n ON n.id = r.namespace_id"
            f" WHERE r.deleted_at IS NULL AND n.deleted_at IS NULL AND {live_secret()} GROUP BY n.name",
            [now, now],
        )
        return {name: created for name, created in rows}

    def check_expires_at(self, expires_at: float | None) -> float | None:
        """Return ``expires_at`` (UNIX seconds, or None for never) if it lies in the future.

        Raises LifetimeInvalid.
        """
        return check_expires_at(expires_at, self.clock())

    def create_robot_expiring(
        self, username: str, description: str = "", unstructured_metadata: dict | None = None,
        *, expires_at: float | None = None, new_secret: hashing.NewSecret | None = None,
    ) -> IssuedSecret:
        """Create a robot like ``create_robot``, its secret expiring at ``expires_at`` (None: never).

        Raises LifetimeInvalid first, then whatever ``create_robot`` raises.
        """
        return create_robot_expiring(
            self.db, self.clock, self.bcrypt_cost, username, description, unstructured_metadata,
            expires_at=expires_at, new_secret=new_secret,
        )

    def rotate_secret(
        self, username: str, *, grace_seconds: object = 0, expires_at: float | None = None,
        new_secret: hashing.NewSecret | None = None,
    ) -> IssuedSecret:
        """Regenerate the robot's secret after checking the lifetimes.

        The previous secret keeps working ``grace_seconds`` longer (0: it stops at once, as
        in Quay); the new one expires at ``expires_at`` (None: never). Returns the
        IssuedSecret; raises LifetimeInvalid, NameInvalid or RobotNotFound.
        """
        return rotate_secret(
            self.db, self.clock, self.bcrypt_cost, username, grace_seconds=grace_seconds, expires_at=expires_at,
            new_secret=new_secret,
        )
