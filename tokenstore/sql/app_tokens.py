"""App tokens: created, listed, revoked (each with its audit row), and redeemed at a login
for the user's Principal (the rules: ``tokenstore.app_tokens``)."""

import json
import uuid

from ..app_tokens import (
    APP_TOKEN_USE_INTERVAL,
    APP_TOKEN_USERNAME,
    AppToken,
    AppTokenNotFound,
    IssuedAppToken,
    app_token_digest,
    check_expiry,
    check_title,
    has_app_token_shape,
    new_app_token,
)
from ..audit import bounded
from ..errors import InvalidCredentials
from ..models import Principal
from .accounts import get_user
from .audit import record_event
from .base import QueryBase

_COLUMNS = "t.id, t.uuid, u.username, t.title, t.created, t.expires_at, t.last_accessed"
# A token counts while it is not revoked and its user and their namespace are live.
_LIVE = "t.revoked_at IS NULL AND u.deleted_at IS NULL AND n.deleted_at IS NULL"
_FROM = "FROM app_tokens t JOIN users u ON u.id = t.user_id JOIN namespaces n ON n.id = u.namespace_id"


class AppTokenQueries(QueryBase):
    """Store methods for app tokens."""

    def create_app_token(
        self, username: str, title: str, *, expires_at: float | None = None, actor: dict | None = None,
        via: str | None = None,
    ) -> IssuedAppToken:
        """Create an app token for ``username`` and log ``create_app_specific_token`` in the
        user's namespace, in one transaction; the clear token is in the result only.

        ``actor`` holds the audit row's performer fields (``record_event``); ``via`` marks a
        row written by the command line. Raises UserNotFound, or NameInvalid for a bad title
        or an expiration not in the future.
        """
        check_title(title)
        now = self.clock()
        check_expiry(expires_at, now)
        token, token_uuid = new_app_token(), str(uuid.uuid4())
        with self.db.atomic():
            user = get_user(self.db, username)
            token_id = self.db.execute(
                "INSERT INTO app_tokens (user_id, uuid, title, hash, created, expires_at) VALUES (?, ?, ?, ?, ?, ?)"
                " RETURNING id",
                [user.id, token_uuid, title, app_token_digest(token), now, expires_at],
            ).fetchone()[0]
            self._log_token_change("create_app_specific_token", username, title, token_uuid, actor, via)
        return IssuedAppToken(AppToken(token_id, token_uuid, username, title, now, expires_at, None), token)

    def list_app_tokens(self, username: str, *, expiring_within: float | None = None) -> list[AppToken]:
        """Return the user's tokens that are not revoked (expired ones too, as Quay lists
        them), oldest first; with ``expiring_within`` only those that expire within that
        many seconds from now and have not yet. Raises UserNotFound."""
        user = get_user(self.db, username)
        sql = f"SELECT {_COLUMNS} {_FROM} WHERE t.user_id = ? AND {_LIVE}"
        params: list = [user.id]
        if expiring_within is not None:
            now = self.clock()
            sql += " AND t.expires_at > ? AND t.expires_at <= ?"
            params += [now, now + expiring_within]
        return [AppToken(*row) for row in self.db.execute(sql + " ORDER BY t.id", params)]

    def get_app_token(self, username: str, token_uuid: str) -> AppToken:
        """Return the user's token with this uuid; raises AppTokenNotFound when there is none,
        or it is revoked or expired (as Quay answers 404 for an expired one)."""
        token = self._find(username, token_uuid)
        if token is None or token.is_expired(self.clock()):
            raise AppTokenNotFound(f"no app token of {username!r} has the uuid {token_uuid[:100]!r}")
        return token

    def revoke_app_token(
        self, token_uuid: str, *, username: str | None = None, actor: dict | None = None, via: str | None = None,
    ) -> AppToken:
        """Revoke the token with this uuid (of ``username`` when given: another user's is not
        found) and log ``revoke_app_specific_token``, in one transaction; it is refused from
        the next token request on. Returns its metadata; raises AppTokenNotFound (also for a
        token already revoked)."""
        with self.db.atomic():
            token = self._find(username, token_uuid)
            if token is None:
                who = f" of {username!r}" if username is not None else ""
                raise AppTokenNotFound(f"no app token{who} has the uuid {token_uuid[:100]!r}")
            self.db.execute("UPDATE app_tokens SET revoked_at = ? WHERE id = ?", [self.clock(), token.id])
            self._log_token_change("revoke_app_specific_token", token.username, token.title, token.uuid, actor, via)
        return token

    def authenticate_app_token(self, username: str, token: str) -> Principal:
        """Return the Principal (kind ``user``) of the person whose app token ``token`` is,
        logging in as ``$app`` or under their own user name.

        One indexed lookup by digest, joined with the user and their namespace: run it in the
        transaction that issues the token, and a revocation, expiry or deletion committed
        before is seen. Records the token's use (at most once a minute). Raises
        InvalidCredentials for a malformed, unknown, revoked token, another user's, or a
        deleted user's; with ``reason`` "expired" for an expired one.
        """
        row = None
        if has_app_token_shape(token):
            row = self.db.execute(
                f"SELECT {_COLUMNS}, u.id, u.namespace_id {_FROM} WHERE t.hash = ? AND {_LIVE}",
                [app_token_digest(token)],
            ).fetchone()
        if row is None or username not in (APP_TOKEN_USERNAME, row[2]):
            raise InvalidCredentials()  # the same refusal as a robot's
        info, user_id, namespace_id = AppToken(*row[:7]), row[7], row[8]
        now = self.clock()
        if info.is_expired(now):
            raise InvalidCredentials(
                f"the app token {info.title[:80]!r} of {info.username} has expired: create a new one", reason="expired",
            )
        if info.last_accessed is None or now - info.last_accessed >= APP_TOKEN_USE_INTERVAL:
            self._brief_write("the use of an app token", lambda: self.db.execute(
                "UPDATE app_tokens SET last_accessed = ? WHERE id = ?", [now, info.id],
            ))
        return Principal(
            kind="user", username=info.username, namespace_id=namespace_id, user_id=user_id, token_id=info.id,
            token_title=info.title,
        )

    def record_user_login(
        self, username: str, *, success: bool, reason: str | None = None, ip: str | None = None,
        user_agent: str | None = None, scopes: list[str] | None = None, access: list[dict] | None = None,
        token_title: str | None = None,
    ) -> None:
        """Log a person's token request in their own namespace, as ``record_robot_login``
        does a robot's: a failure counts a ``login_failure`` (``record_refusal``), a success
        writes ``login_success`` and ``issue_token``. Nothing is written when no live user
        has the name (``$app`` names nobody)."""
        row = self.db.execute(
            "SELECT n.name FROM users u JOIN namespaces n ON n.id = u.namespace_id"
            " WHERE u.username = ? AND u.deleted_at IS NULL AND n.deleted_at IS NULL",
            [username],
        ).fetchone()
        if row is None:
            return
        common = {"username": username, "useragent": user_agent, "kind": "app_specific_token"}
        if not success:
            self.record_refusal(
                "login_failure", row[0], performer=username, performer_kind="user", ip=ip, reason=reason or "invalid",
                metadata=common,
            )
            return
        now = self.clock()
        login = bounded({**common, "app_specific_token_title": token_title})
        issue = bounded({"username": username, "useragent": user_agent, "scopes": list(scopes or []),
                         "access": list(access or [])})
        for kind, metadata in (("login_success", login), ("issue_token", issue)):
            self.db.execute_at_commit(
                "INSERT INTO audit_log (namespace_id, kind, performer, performer_kind, ip, metadata, created)"
                " SELECT id, ?, ?, 'user', ?, ?, ? FROM namespaces WHERE name = ? AND deleted_at IS NULL",
                [kind, bounded(username), bounded(ip), json.dumps(metadata), now, row[0]],
            )

    def _find(self, username: str | None, token_uuid: str) -> AppToken | None:
        """Return the live token with this uuid (of ``username`` when given), or None."""
        sql = f"SELECT {_COLUMNS} {_FROM} WHERE t.uuid = ? AND {_LIVE}"
        params = [token_uuid]
        if username is not None:
            sql += " AND u.username = ?"
            params.append(username)
        row = self.db.execute(sql, params).fetchone()
        return AppToken(*row) if row else None

    def _log_token_change(self, kind: str, username: str, title: str, token_uuid: str, actor, via) -> None:
        metadata = {"app_specific_token_title": title, "app_specific_token": token_uuid}
        if via is not None:
            metadata["via"] = via
        record_event(self.db, self.clock(), kind, username, **(actor or {}), metadata=metadata)
