"""Federation settings and the keyless credentials exchanged through them (the rules:
``tokenstore.federation``)."""

from ..errors import InvalidCredentials, NameInvalid
from ..federation import (
    FEDERATED_CREDENTIAL_TTL,
    FederatedCredential,
    Federation,
    credential_hash,
    new_federated_credential,
    parse_federation_rules,
)
from ..models import Principal
from ..names import parse_robot_name
from . import robots
from .base import QueryBase
from .connection import SqlDatabase


def federations_of(db: SqlDatabase, robot_id: int) -> list[Federation]:
    """Return robot ``robot_id``'s federation settings in the order they were set."""
    rows = db.execute(
        "SELECT id, robot_id, issuer, subject, audience, created FROM robot_federations WHERE robot_id = ? ORDER BY id",
        [robot_id],
    )
    return [Federation(*row) for row in rows]


class FederationQueries(QueryBase):
    """Store methods for federation settings and federated credentials."""

    def list_federations(self, username: str) -> list[Federation]:
        """Return the robot's federation settings in the order they were set.

        Raises NameInvalid or RobotNotFound.
        """
        return federations_of(self.db, robots.get_robot(self.db, username).id)

    def set_federations(self, username: str, body: object) -> list[Federation]:
        """Replace the robot's federation settings with those in ``body`` (Quay's POST).

        Entries equal to an existing one (issuer, subject and audience) are kept, with the
        credentials exchanged through them; every other existing entry is removed and its
        credentials stop working at once. Returns the new settings; raises FederationInvalid,
        NameInvalid or RobotNotFound.
        """
        rules = parse_federation_rules(body)
        robot = robots.get_robot(self.db, username)
        now = self.clock()
        with self.db.atomic():
            existing = {(f.issuer, f.subject, f.audience): f for f in federations_of(self.db, robot.id)}
            wanted = {(r.issuer, r.subject, r.audience) for r in rules}
            for key, federation in existing.items():
                if key not in wanted:
                    self.db.execute("DELETE FROM robot_federations WHERE id = ?", [federation.id])
            for rule in rules:
                key = (rule.issuer, rule.subject, rule.audience)
                if key not in existing:
                    self.db.execute(
                        "INSERT INTO robot_federations (robot_id, issuer, subject, audience, created) VALUES (?, ?, ?, ?, ?)",
                        [robot.id, rule.issuer, rule.subject, rule.audience, now],
                    )
        return federations_of(self.db, robot.id)

    def delete_federations(self, username: str) -> list[Federation]:
        """Remove every federation setting of the robot; their credentials stop at once.

        Returns the settings that were removed; raises NameInvalid or RobotNotFound.
        """
        robot = robots.get_robot(self.db, username)
        with self.db.atomic():
            removed = federations_of(self.db, robot.id)
            self.db.execute("DELETE FROM robot_federations WHERE robot_id = ?", [robot.id])
        return removed

    def federations_for_exchange(self, username: str, issuer: str) -> list[Federation]:
        """Return the live robot's settings for ``issuer`` (exact match), [] for any unknown,
        disabled or malformed robot name, so an exchange cannot tell a missing robot from a
        robot without a matching setting."""
        try:
            name = parse_robot_name(username)
        except NameInvalid:
            return []
        rows = self.db.execute(
            "SELECT f.id, f.robot_id, f.issuer, f.subject, f.audience, f.created FROM robot_federations f"
            " JOIN robots r ON r.id = f.robot_id JOIN namespaces n ON n.id = r.namespace_id"
            " WHERE n.name = ? AND r.shortname = ? AND f.issuer = ?"
            " AND r.deleted_at IS NULL AND r.disabled_at IS NULL AND n.deleted_at IS NULL ORDER BY f.id",
            [name.namespace, name.shortname, issuer],
        )
        return [Federation(*row) for row in rows]

    def issue_federated_credential(self, username: str, federation_id: int) -> FederatedCredential:
        """Issue a credential valid FEDERATED_CREDENTIAL_TTL seconds through one setting.

        Called after the external JWT was verified against that setting. Expired
        credentials of the robot are removed on the way. Raises InvalidCredentials when the
        setting was removed (or the robot deleted) in the meantime.
        """
        now = self.clock()
        settings = federations_of(self.db, robots.get_robot(self.db, username).id)
        federation = next((f for f in settings if f.id == federation_id), None)
        if federation is None:
            raise InvalidCredentials("the federation setting no longer exists")
        credential = new_federated_credential()
        expires_at = now + FEDERATED_CREDENTIAL_TTL
        with self.db.atomic():
            # Under the write lock: a setting deleted since it was read is seen here.
            if self.db.execute("SELECT 1 FROM robot_federations WHERE id = ?", [federation.id]).fetchone() is None:
                raise InvalidCredentials("the federation setting no longer exists")
            self.db.execute(
                "DELETE FROM federated_credentials WHERE robot_id = ? AND expires_at <= ?",
                [federation.robot_id, now],
            )
            self.db.execute(
                "INSERT INTO federated_credentials (robot_id, federation_id, hash, created, expires_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [federation.robot_id, federation.id, credential_hash(credential), now, expires_at],
            )
        return FederatedCredential(username, federation, now, expires_at, credential)

    def authenticate_federated(self, username: str, credential: str) -> Principal:
        """Check a federated credential presented as ``username``'s password.

        One indexed lookup by hash. Returns the robot's Principal (``secret_id`` None: it is
        not one of the robot's secrets, so no refresh token is bound to it). Raises
        InvalidCredentials for an unknown credential, one of another robot, one whose setting
        was removed, whose robot or namespace was deleted or whose robot is disabled; reason
        "expired" once its hour is over.
        """
        now = self.clock()
        try:
            name = parse_robot_name(username)
        except NameInvalid:
            raise InvalidCredentials() from None
        row = self.db.execute(
            "SELECT r.id, r.namespace_id, r.last_accessed, c.expires_at FROM federated_credentials c"
            " JOIN robot_federations f ON f.id = c.federation_id"
            " JOIN robots r ON r.id = c.robot_id AND r.id = f.robot_id"
            " JOIN namespaces n ON n.id = r.namespace_id"
            " WHERE c.hash = ? AND n.name = ? AND r.shortname = ?"
            " AND r.deleted_at IS NULL AND r.disabled_at IS NULL AND n.deleted_at IS NULL",
            [credential_hash(credential), name.namespace, name.shortname],
        ).fetchone()
        if row is None:
            raise InvalidCredentials()
        robot_id, namespace_id, last_accessed, expires_at = row
        if expires_at <= now:
            raise InvalidCredentials(
                f"the keyless credential of robot {username} has expired (it lasts one hour):"
                " exchange a new OIDC token for it",
                reason="expired",
            )
        self._record_use(robot_id, last_accessed, now)
        return Principal(kind="robot", username=username, robot_id=robot_id, namespace_id=namespace_id, secret_id=None)
