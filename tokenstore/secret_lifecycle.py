"""Rotating a robot's secret without an outage, and secrets that expire: the lifetimes a
caller may ask for.

The store checks them before it writes (``rotate_secret``, ``create_robot_expiring``), so the
CLI and the API refuse the same values with the same messages.
"""

from .errors import NameInvalid

# An overlap longer than this is no longer a rotation but two secrets.
MAX_GRACE_SECONDS = 30 * 86400


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


def check_expires_at(expires_at: object, now: float) -> float | None:
    """Return ``expires_at`` (UNIX seconds, or None for never) as a float if it lies after ``now``.

    Raises LifetimeInvalid.
    """
    if expires_at is None:
        return None
    if isinstance(expires_at, bool) or not isinstance(expires_at, (int, float)):
        raise LifetimeInvalid("expiration must be a time (UNIX seconds)")
    if expires_at <= now:
        raise LifetimeInvalid("expiration must be in the future")
    return float(expires_at)
