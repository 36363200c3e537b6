"""The sign-in throttle's failed attempts (the rule: ``tokenstore.signin_throttle``)."""

from ..signin_throttle import MAX_FAILURES, WINDOW, seconds_to_wait, throttle_key
from .base import QueryBase


class SigninThrottleQueries(QueryBase):
    """Store methods for the sign-in throttle."""

    def signin_wait(self, username: str, address: str | None) -> float:
        """Return how many seconds must pass before ``username`` may try to sign in again from
        ``address``; 0 when an attempt may go ahead now."""
        now = self.clock()
        rows = self.db.execute(
            "SELECT failed_at FROM signin_failures WHERE username = ? AND address = ? AND failed_at > ?"
            " ORDER BY failed_at DESC LIMIT ?",
            [*throttle_key(username, address), now - WINDOW, MAX_FAILURES],
        ).fetchall()
        return seconds_to_wait([row[0] for row in rows], now)

    def record_signin_failure(self, username: str, address: str | None) -> None:
        """Count a failed sign-in of ``username`` from ``address``."""
        now = self.clock()
        name, where = throttle_key(username, address)
        with self.db.atomic():
            # Only the failures inside the window count: drop the pair's older ones on the way.
            self.db.execute(
                "DELETE FROM signin_failures WHERE username = ? AND address = ? AND failed_at <= ?",
                [name, where, now - WINDOW],
            )
            self.db.execute(
                "INSERT INTO signin_failures (username, address, failed_at) VALUES (?, ?, ?)", [name, where, now],
            )

    def clear_signin_failures(self, username: str, address: str | None) -> None:
        """Forget the failed sign-ins of ``username`` from ``address`` (after a successful one)."""
        self.db.execute("DELETE FROM signin_failures WHERE username = ? AND address = ?", [*throttle_key(username, address)])
