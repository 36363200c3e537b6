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


class UiSessionMixin:
    """Store methods for web UI sessions; mixed into ``tokenstore.Store``."""

    def create_ui_session(self, user_id: int, *, lifetime: float = SESSION_LIFETIME) -> UiSession:
        """Start a session for user ``user_id``; returns it with its clear ``session_id``.

        Expired sessions of the same user are removed on the way, so the table does not grow
        with every sign-in.
        """
        now = self.clock()
        session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
        with self.db.atomic():
            self.db.execute(
                "DELETE FROM ui_sessions WHERE user_id = ? AND (expires_at <= ? OR last_seen <= ?)",
                [user_id, now, now - SESSION_IDLE_TIMEOUT],
            )
            row_id = self.db.execute(
                "INSERT INTO ui_sessions (user_id, hash, created, expires_at, last_seen) VALUES (?, ?, ?, ?, ?)"
                " RETURNING id",
                [user_id, session_hash(session_id), now, now + lifetime, now],
            ).fetchone()[0]
        username = self.db.execute("SELECT username FROM users WHERE id = ?", [user_id]).fetchone()
        return UiSession(row_id, user_id, username[0] if username else "", now, now + lifetime, now, session_id)

    def get_ui_session(self, session_id: str) -> UiSession | None:
        """Return the live session with this clear id, or None.

        None when the id is unknown, the session expired or sat idle too long, or its user
        was deleted. Records the use (throttled), which extends the idle period.
        """
        if not session_id or len(session_id) > 128:
            return None
        now = self.clock()
        row = self.db.execute(
            "SELECT s.id, s.user_id, u.username, s.created, s.expires_at, s.last_seen"
            " FROM ui_sessions s JOIN users u ON u.id = s.user_id"
            " WHERE s.hash = ? AND u.deleted_at IS NULL AND s.expires_at > ? AND s.last_seen > ?",
            [session_hash(session_id), now, now - SESSION_IDLE_TIMEOUT],
        ).fetchone()
        if row is None:
            return None
        session = UiSession(*row)
        if now - session.last_seen >= LAST_SEEN_INTERVAL:
            self.db.execute("UPDATE ui_sessions SET last_seen = ? WHERE id = ?", [now, session.id])
        return session

    def end_ui_session(self, session_id: str) -> None:
        """Delete the session with this clear id (signing out); unknown ids are ignored."""
        if session_id:
            self.db.execute("DELETE FROM ui_sessions WHERE hash = ?", [session_hash(session_id)])

    def end_user_ui_sessions(self, user_id: int) -> int:
        """Delete every session of a user (after a password change, say); returns how many."""
        return self.db.execute("DELETE FROM ui_sessions WHERE user_id = ?", [user_id]).rowcount

    def purge_ui_sessions(self) -> int:
        """Delete expired and idle sessions; returns how many rows went."""
        now = self.clock()
        return self.db.execute(
            "DELETE FROM ui_sessions WHERE expires_at <= ? OR last_seen <= ?", [now, now - SESSION_IDLE_TIMEOUT]
        ).rowcount
