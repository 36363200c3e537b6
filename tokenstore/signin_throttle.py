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


def throttle_key(username: str, address: str | None) -> tuple[str, str]:
    """Return the (user name, address) pair failures are counted under, each cut to a bounded length."""
    return username[:_MAX_KEY_LENGTH], (address or "")[:_MAX_KEY_LENGTH]


def seconds_to_wait(recent_failures: list[float], now: float) -> float:
    """Return how many seconds must pass before the next attempt, given the times of a pair's
    most recent failures inside the window (newest first, at most MAX_FAILURES of them);
    0 when an attempt may go ahead now."""
    if len(recent_failures) < MAX_FAILURES:
        return 0.0
    return max(0.0, recent_failures[MAX_FAILURES - 1] + WINDOW - now)
