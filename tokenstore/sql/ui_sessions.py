"""Web UI sessions as rows, found by the SHA-256 of the cookie's id (the rules:
``tokenstore.ui_sessions``)."""

from ..ui_sessions import (
    LAST_SEEN_INTERVAL,
    SESSION_IDLE_TIMEOUT,
    SESSION_LIFETIME,
    UiSession,
    is_plausible_session_id,
    new_session_id,
    session_hash,
)
from .base import QueryBase


class UiSessionQueries(QueryBase):
    """Store methods for web UI sessions."""

    def create_ui_session(self, user_id: int, *, lifetime: float = SESSION_LIFETIME) -> UiSession:
        """Start a session for user ``user_id``; returns it with its clear ``session_id``.

        Expired sessions of the same user are removed on the way, so the table does not grow
        with every sign-in.
        """
        now = self.clock()
        session_id = new_session_id()
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
        if not is_plausible_session_id(session_id):
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
