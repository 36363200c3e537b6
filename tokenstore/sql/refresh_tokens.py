"""Refresh tokens: issued to a robot's login, redeemed for its Principal while the secret
they are bound to lives (the rules: ``tokenstore.refresh_tokens``)."""

from .. import refresh_tokens as rules  # limits read at each call: tests lower them
from ..errors import InvalidCredentials
from ..federation import credential_hash
from ..models import Principal
from . import robots
from .base import QueryBase
from .connection import SqlDatabase
from .secret_lifecycle import live_secret


def redemption_sql(token_hash: str) -> str:
    """The statement ``redeem_refresh_token`` reads with: the token's and its robot's rows
    while robot, namespace and secret are all live (no row otherwise). ``token_hash`` is an
    SQL expression: ``?`` for one token, a column of the list a backend reads a batch's
    ahead for (tokenstore/postgres/read_ahead.py). Its other two parameters are the time
    now, twice."""
    return (
        "SELECT t.id, t.last_used, r.id, r.namespace_id, n.name, r.shortname, r.last_accessed, s.id, s.last_used"
        " FROM refresh_tokens t JOIN robot_secrets s ON s.id = t.secret_id AND s.robot_id = t.robot_id"
        " JOIN robots r ON r.id = t.robot_id JOIN namespaces n ON n.id = r.namespace_id"
        f" WHERE t.hash = {token_hash} AND r.deleted_at IS NULL AND r.disabled_at IS NULL AND n.deleted_at IS NULL"
        f" AND {live_secret()}"
    )


def redemption_key(token_hash: str) -> tuple:
    """The key under which a read ahead of the redemption of the token hashed ``token_hash``
    is remembered."""
    return ("redeem", token_hash)


def _live_secret(db: SqlDatabase, secret_id: int, robot_id: int, now: float) -> tuple | None:
    """Return a row when secret ``secret_id`` of robot ``robot_id`` still authenticates and
    its robot and namespace are live and the robot is enabled; None otherwise."""
    return db.execute(
        "SELECT s.id FROM robot_secrets s JOIN robots r ON r.id = s.robot_id"
        " JOIN namespaces n ON n.id = r.namespace_id"
        " WHERE s.id = ? AND s.robot_id = ? AND r.deleted_at IS NULL AND r.disabled_at IS NULL AND n.deleted_at IS NULL"
        f" AND {live_secret()}",
        [secret_id, robot_id, now, now],
    ).fetchone()


class RefreshTokenQueries(QueryBase):
    """Store methods for refresh tokens."""

    def issue_refresh_token(self, principal: Principal, client_id: str = "") -> str:
        """Return a new refresh token bound to the principal's robot and secret.

        Raises InvalidCredentials when the principal carries no robot secret (anonymous, or
        a keyless credential, which lasts one hour and must not be outlived) or that secret
        is no longer live.
        """
        if not principal.is_robot or principal.secret_id is None or principal.robot_id is None:
            raise InvalidCredentials("only a login with a robot's secret can get a refresh token")
        now = self.clock()
        token = rules.new_refresh_token()
        with self.db.atomic():
            if _live_secret(self.db, principal.secret_id, principal.robot_id, now) is None:
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
                [principal.robot_id, principal.secret_id, credential_hash(token), client_id[:rules.MAX_CLIENT_ID_LENGTH], now],
            )
            self.db.execute(
                "DELETE FROM refresh_tokens WHERE secret_id = ? AND id NOT IN"
                " (SELECT id FROM refresh_tokens WHERE secret_id = ? ORDER BY id DESC LIMIT ?)",
                [principal.secret_id, principal.secret_id, rules.MAX_REFRESH_TOKENS_PER_SECRET],
            )
        return token

    def redeem_refresh_token(self, token: str) -> Principal:
        """Return the Principal a refresh token stands for.

        One indexed lookup by hash joined with the secret, robot and namespace. Raises
        InvalidCredentials (with a message that tells the user to log in again) when the
        token is unknown or its secret, robot or namespace is no longer live.
        """
        now = self.clock()
        if not rules.has_refresh_token_shape(token):
            raise InvalidCredentials(rules.REFRESH_TOKEN_INVALID)
        token_hash = credential_hash(token)
        rows = self.db.recall(redemption_key(token_hash))
        if rows is None:
            rows = self.db.execute(redemption_sql("?"), [token_hash, now, now]).fetchall()
        if not rows:
            raise InvalidCredentials(rules.REFRESH_TOKEN_INVALID)
        token_id, last_used, robot_id, namespace_id, namespace, shortname, last_accessed, secret_id, secret_last_used = rows[0]
        # A refresh token stands for its secret: using it is using the secret.
        self._record_use(robot_id, last_accessed, now, secret_id, secret_last_used)
        if last_used is None or now - last_used >= rules.REFRESH_TOKEN_USE_INTERVAL:
            # Bookkeeping like _record_use's: a busy database skips it rather than fail the request.
            self._brief_write("the use of a refresh token", lambda: self.db.execute(
                "UPDATE refresh_tokens SET last_used = ? WHERE id = ?", [now, token_id],
            ))
        return Principal(
            kind="robot", username=f"{namespace}+{shortname}", robot_id=robot_id, namespace_id=namespace_id,
            secret_id=secret_id,
        )

    def count_refresh_tokens(self, username: str) -> int:
        """Return how many refresh tokens of the robot still work."""
        robot = robots.get_robot(self.db, username)
        now = self.clock()
        return self.db.execute(
            "SELECT count(*) FROM refresh_tokens t JOIN robot_secrets s ON s.id = t.secret_id"
            f" WHERE t.robot_id = ? AND {live_secret()}",
            [robot.id, now, now],
        ).fetchone()[0]
