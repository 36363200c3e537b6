"""Slowing down password guessing at the web UI's sign-in.

Each failed sign-in is recorded under the user name as typed and the client's address. Once
``MAX_FAILURES`` have failed within ``WINDOW`` seconds for that pair, further attempts for it
are refused without a password check until the oldest of them leaves the window; a
successful sign-in clears the pair's record. Keyed by both, so that someone guessing one
user's password from one address cannot lock that user out from anywhere else, and so that
a name that does not exist is throttled exactly like one that does (the form does not tell
them apart). The rows live in the shared database, so the limit holds across worker
processes; the collector removes rows older than the window.
"""

# Failed sign-ins for one user name from one address, and the window they are counted over.
MAX_FAILURES = 5
WINDOW = 15 * 60.0
# Longer names are refused before any check (the form's own limit is lower); stored cut.
_MAX_KEY_LENGTH = 255


def _key(username: str, address: str | None) -> tuple[str, str]:
    return username[:_MAX_KEY_LENGTH], (address or "")[:_MAX_KEY_LENGTH]


class SigninThrottleMixin:
    """Store methods for the sign-in throttle; mixed into ``tokenstore.Store``."""

    def signin_wait(self, username: str, address: str | None) -> float:
        """Return how many seconds must pass before ``username`` may try to sign in again from
        ``address``; 0 when an attempt may go ahead now."""
        now = self.clock()
        rows = self.db.execute(
            "SELECT failed_at FROM signin_failures WHERE username = ? AND address = ? AND failed_at > ?"
            " ORDER BY failed_at DESC LIMIT ?",
            [*_key(username, address), now - WINDOW, MAX_FAILURES],
        ).fetchall()
        if len(rows) < MAX_FAILURES:
            return 0.0
        return max(0.0, rows[-1][0] + WINDOW - now)

    def record_signin_failure(self, username: str, address: str | None) -> None:
        """Count a failed sign-in of ``username`` from ``address``."""
        now = self.clock()
        name, where = _key(username, address)
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
        self.db.execute("DELETE FROM signin_failures WHERE username = ? AND address = ?", [*_key(username, address)])
