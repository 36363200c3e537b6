"""Web UI sign-in sessions, kept server-side.

The browser holds a 256-bit random session id in a cookie; the table holds only its SHA-256,
so a copy of the database cannot be replayed as a cookie, and signing out deletes the row:
the cookie is worthless from that moment, wherever copies of it went. A session ends at its
absolute expiry, after an idle period, or when its user is deleted.
"""

import hashlib
import secrets
from dataclasses import dataclass, field

# Absolute lifetime of a session and how long it may sit unused.
SESSION_LIFETIME = 12 * 3600.0
SESSION_IDLE_TIMEOUT = 2 * 3600.0
# last_seen is written at most once per this many seconds per session, so that browsing
# does not turn every page view into a write.
LAST_SEEN_INTERVAL = 60.0
SESSION_ID_BYTES = 32


def session_hash(session_id: str) -> str:
    """Return the hex SHA-256 of a session id, the form it is stored and looked up in."""
    return hashlib.sha256(session_id.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True)
class UiSession:
    """A live session: who is signed in, and since when. ``session_id`` is the clear id,
    present only on the object ``create_ui_session`` returns (for the cookie)."""

    id: int
    user_id: int
    username: str
    created: float
    expires_at: float
    last_seen: float
    session_id: str = field(default="", repr=False)


def new_session_id() -> str:
    """Return a new clear session id (SESSION_ID_BYTES random bytes, URL-safe text) for the cookie."""
    return secrets.token_urlsafe(SESSION_ID_BYTES)


def is_plausible_session_id(session_id: str) -> bool:
    """Return False for an id that cannot be one (empty or too long), before any lookup."""
    return bool(session_id) and len(session_id) <= 128
