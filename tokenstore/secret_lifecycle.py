"""Rotating a robot's secret without an outage, and secrets that expire.

``Store.regenerate_secret`` does the work; these methods check the lifetimes a caller asks
for first, so the CLI and the API refuse the same values with the same messages, and add an
expiry to the secret a robot is created with.
"""

from .errors import NameInvalid
from .hashing import NewSecret
from .models import IssuedSecret

# An overlap longer than this is no longer a rotation but two secrets.
MAX_GRACE_SECONDS = 30 * 86400


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


class LifetimeInvalid(NameInvalid):
    """Raised when a grace period is negative, too long or not a number, or a secret's
    expiry is not in the future."""


def check_grace_seconds(value: object) -> int:
    """Return ``value`` as whole seconds between 0 and MAX_GRACE_SECONDS; raises LifetimeInvalid."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise LifetimeInvalid("grace_seconds must be a whole number of seconds")
    try:
        seconds = int(value) if not isinstance(value, float) or value.is_integer() else None
    except ValueError:
        seconds = None
    if seconds is None:
        raise LifetimeInvalid(f"grace_seconds must be a whole number of seconds, got {value!r}")
    if not 0 <= seconds <= MAX_GRACE_SECONDS:
        raise LifetimeInvalid(f"grace_seconds must be between 0 and {MAX_GRACE_SECONDS} (30 days), got {seconds}")
    return seconds


class SecretLifecycleMixin:
    """Store methods for secret rotation and expiry; mixed into ``tokenstore.Store``."""

    def check_expires_at(self, expires_at: float | None) -> float | None:
        """Return ``expires_at`` (UNIX seconds, or None for never) if it lies in the future.

        Raises LifetimeInvalid.
        """
        if expires_at is None:
            return None
        if isinstance(expires_at, bool) or not isinstance(expires_at, (int, float)):
            raise LifetimeInvalid("expiration must be a time (UNIX seconds)")
        if expires_at <= self.clock():
            raise LifetimeInvalid("expiration must be in the future")
        return float(expires_at)

    def create_robot_expiring(
        self, username: str, description: str = "", unstructured_metadata: dict | None = None,
        *, expires_at: float | None = None, new_secret: NewSecret | None = None,
    ) -> IssuedSecret:
        """Create a robot like ``create_robot``, its secret expiring at ``expires_at`` (None: never).

        Raises LifetimeInvalid first, then whatever ``create_robot`` raises.
        """
        expires_at = self.check_expires_at(expires_at)
        issued = self.create_robot(username, description, unstructured_metadata, new_secret=new_secret)
        if expires_at is not None:
            try:
                self.db.execute("UPDATE robot_secrets SET expires_at = ? WHERE id = ?", [expires_at, issued.secret_id])
            except BaseException:
                # The secret was never shown to anyone; leave no robot behind with a
                # secret that does not expire as asked.
                self.delete_robot(username)
                raise
        return issued

    def rotate_secret(
        self, username: str, *, grace_seconds: object = 0, expires_at: float | None = None,
        new_secret: NewSecret | None = None,
    ) -> IssuedSecret:
        """Regenerate the robot's secret after checking the lifetimes.

        The previous secret keeps working ``grace_seconds`` longer (0: it stops at once, as
        in Quay); the new one expires at ``expires_at`` (None: never). Returns the
        IssuedSecret; raises LifetimeInvalid, NameInvalid or RobotNotFound.
        """
        grace = check_grace_seconds(grace_seconds)
        expires_at = self.check_expires_at(expires_at)
        return self.regenerate_secret(username, grace_seconds=grace, expires_at=expires_at, new_secret=new_secret)
