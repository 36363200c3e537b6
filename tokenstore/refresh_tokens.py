"""Refresh tokens: what docker keeps in config.json instead of the robot's secret.

When a login asks for an offline token (docker's ``offline_token=true``), the gateway issues
a refresh token; docker stores it as ``identitytoken`` and from then on trades it for access
tokens with ``POST /token``. A refresh token

- is 256 random bits with its own prefix; only its SHA-256 is stored (with that much
  randomness nothing can be guessed, so bcrypt would only slow every pull down);
- is bound to the robot and to the secret it was obtained with, and is valid exactly while
  that secret is: regenerating the secret (after the grace period, if any), its expiry, or
  deleting the robot or namespace ends it, checked by a join at every use (a secret replaced
  without grace stays ended whatever the clock does, and so do its refresh tokens);
- never rotates: docker ignores a new one in a reply, so the same token is redeemed for as
  long as its secret lives, across regauth restarts.
"""

import secrets

from .errors import InvalidCredentials
from .federation import credential_hash
from .models import Principal
from .secret_lifecycle import live_secret

REFRESH_TOKEN_PREFIX = "rgref_"
# A login loop must not grow the table without bound: beyond this many live refresh tokens
# per secret the oldest are dropped (their clients then have to log in again).
MAX_REFRESH_TOKENS_PER_SECRET = 1000
MAX_CLIENT_ID_LENGTH = 255

REFRESH_TOKEN_INVALID = (
    "this saved login is no longer valid: the robot's secret was regenerated or expired, or the"
    " robot was deleted"
)


class RefreshTokenMixin:
    """Store methods for refresh tokens; mixed into ``tokenstore.Store``."""

    def issue_refresh_token(self, principal: Principal, client_id: str = "") -> str:
        """Return a new refresh token bound to the principal's robot and secret.

        Raises InvalidCredentials when the principal carries no robot secret (anonymous, or
        a keyless credential, which lasts one hour and must not be outlived) or that secret
        is no longer live.
        """
        if not principal.is_robot or principal.secret_id is None or principal.robot_id is None:
            raise InvalidCredentials("only a login with a robot's secret can get a refresh token")
        now = self.clock()
        token = REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.db.atomic():
            if self._live_secret(principal.secret_id, principal.robot_id, now) is None:
                raise InvalidCredentials()
            # Tokens of this robot whose secret is gone can never work again: drop them.
            self.db.execute(
                "DELETE FROM refresh_tokens WHERE robot_id = ? AND secret_id IN"
                " (SELECT id FROM robot_secrets WHERE robot_id = ? AND"
                f" NOT ({live_secret('robot_secrets')}))",
                [principal.robot_id, principal.robot_id, now, now],
            )
            self.db.execute(
                "INSERT INTO refresh_tokens (robot_id, secret_id, hash, client_id, created) VALUES (?, ?, ?, ?, ?)",
                [principal.robot_id, principal.secret_id, credential_hash(token), client_id[:MAX_CLIENT_ID_LENGTH], now],
            )
            self.db.execute(
                "DELETE FROM refresh_tokens WHERE secret_id = ? AND id NOT IN"
                " (SELECT id FROM refresh_tokens WHERE secret_id = ? ORDER BY id DESC LIMIT ?)",
                [principal.secret_id, principal.secret_id, MAX_REFRESH_TOKENS_PER_SECRET],
            )
        return token

    def redeem_refresh_token(self, token: str) -> Principal:
        """Return the Principal a refresh token stands for.

        One indexed lookup by hash joined with the secret, robot and namespace. Raises
        InvalidCredentials (with a message that tells the user to log in again) when the
        token is unknown or its secret, robot or namespace is no longer live.
        """
        now = self.clock()
        if not isinstance(token, str) or not token.startswith(REFRESH_TOKEN_PREFIX):
            raise InvalidCredentials(REFRESH_TOKEN_INVALID)
        row = self.db.execute(
            "SELECT t.id, t.last_used, r.id, r.namespace_id, n.name, r.shortname, r.last_accessed, s.id, s.last_used"
            " FROM refresh_tokens t JOIN robot_secrets s ON s.id = t.secret_id AND s.robot_id = t.robot_id"
            " JOIN robots r ON r.id = t.robot_id JOIN namespaces n ON n.id = r.namespace_id"
            " WHERE t.hash = ? AND r.deleted_at IS NULL AND n.deleted_at IS NULL"
            f" AND {live_secret()}",
            [credential_hash(token), now, now],
        ).fetchone()
        if row is None:
            raise InvalidCredentials(REFRESH_TOKEN_INVALID)
        token_id, last_used, robot_id, namespace_id, namespace, shortname, last_accessed, secret_id, secret_last_used = row
        # A refresh token stands for its secret: using it is using the secret.
        self._touch(robot_id, last_accessed, now, secret_id, secret_last_used)
        if last_used is None or now - last_used >= 60:
            # Bookkeeping like _touch's: a busy database skips it rather than fail the request.
            self._brief_write("the use of a refresh token", lambda: self.db.execute(
                "UPDATE refresh_tokens SET last_used = ? WHERE id = ?", [now, token_id],
            ))
        return Principal(
            kind="robot", username=f"{namespace}+{shortname}", robot_id=robot_id, namespace_id=namespace_id,
            secret_id=secret_id,
        )

    def count_refresh_tokens(self, username: str) -> int:
        """Return how many refresh tokens of the robot still work."""
        robot = self.get_robot(username)
        now = self.clock()
        return self.db.execute(
            "SELECT count(*) FROM refresh_tokens t JOIN robot_secrets s ON s.id = t.secret_id"
            f" WHERE t.robot_id = ? AND {live_secret()}",
            [robot.id, now, now],
        ).fetchone()[0]

    def _live_secret(self, secret_id: int, robot_id: int, now: float):
        return self.db.execute(
            "SELECT s.id FROM robot_secrets s JOIN robots r ON r.id = s.robot_id"
            " JOIN namespaces n ON n.id = r.namespace_id"
            " WHERE s.id = ? AND s.robot_id = ? AND r.deleted_at IS NULL AND n.deleted_at IS NULL"
            f" AND {live_secret()}",
            [secret_id, robot_id, now, now],
        ).fetchone()
