"""Keyless robots: federation settings and the one-hour credentials exchanged through them.

A federation setting says "a JWT from this OIDC issuer, about this subject (and, if set, for
this audience) may act as this robot". The gateway verifies the external JWT; this module
stores the settings and issues, checks and revokes the credentials handed out in exchange.

A federated credential is a 256-bit random string with its own prefix, valid for
FEDERATED_CREDENTIAL_TTL seconds. It is kept apart from the robot's secrets on purpose: it is
not listed among them, regenerating the robot's secret leaves it alone (rotate a static
secret without cutting off running CI jobs), and it ends when its federation setting is
removed or changed, when the robot or its namespace is deleted, or when the hour is over.
Only its SHA-256 is stored: with 256 bits of randomness nothing can be guessed, so a slow hash
would add cost without adding safety, and a lookup by hash needs no bcrypt run per row.
"""

import hashlib
import ipaddress
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .errors import InvalidCredentials, NameInvalid
from .models import Principal
from .names import parse_robot_name

FEDERATED_CREDENTIAL_TTL = 3600
# Lower-case letters and '_' never occur in a robot secret ([A-Z0-9]{64}), so the gateway can
# tell the two apart without a database lookup.
FEDERATED_CREDENTIAL_PREFIX = "rgfed_"
MAX_FEDERATIONS = 20
MAX_ISSUER_LENGTH = 2048
MAX_CLAIM_LENGTH = 1024
_FIELDS = ("issuer", "subject", "audience")


class FederationInvalid(NameInvalid):
    """Raised when a federation setting is malformed: not a list of objects, a missing or
    non-string issuer or subject, an issuer that is not an https URL (http only for a
    loopback host), an unknown key, a duplicate, or too many entries."""


@dataclass(frozen=True)
class Federation:
    """One federation setting of a robot."""

    id: int
    robot_id: int
    issuer: str
    subject: str
    audience: str | None
    created: float

    def as_dict(self) -> dict:
        """Return the setting as the API spells it."""
        return {"issuer": self.issuer, "subject": self.subject, "audience": self.audience}


@dataclass(frozen=True)
class FederatedCredential:
    """A credential just issued by an exchange; the clear value exists only here."""

    robot: str
    federation: Federation
    created: float
    expires_at: float
    credential: str = field(repr=False)


@dataclass(frozen=True)
class FederationRule:
    """A validated setting before it is stored."""

    issuer: str
    subject: str
    audience: str | None = None


def is_loopback_host(host: str | None) -> bool:
    """Return True for ``localhost`` and addresses in 127.0.0.0/8 or ::1."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_issuer_url(issuer: str, what: str = "issuer") -> str:
    """Return ``issuer`` unchanged when it is an https URL, or http on a loopback host.

    No query, fragment or credentials are allowed (an OIDC issuer identifier has none, per
    OpenID Connect Discovery 1.0, section 2). Raises FederationInvalid.
    """
    if not isinstance(issuer, str) or not issuer:
        raise FederationInvalid(f"{what} must be a non-empty string (an https URL)")
    if len(issuer) > MAX_ISSUER_LENGTH:
        raise FederationInvalid(f"{what} is longer than {MAX_ISSUER_LENGTH} characters")
    try:
        parts = urlsplit(issuer)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise FederationInvalid(f"{what} {issuer!r} is not a valid URL") from None
    if parts.scheme not in ("https", "http") or not host:
        raise FederationInvalid(f"{what} {issuer!r} must be an https URL, e.g. https://token.actions.githubusercontent.com")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise FederationInvalid(f"{what} {issuer!r} must use https (plain http is allowed only for a loopback host)")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise FederationInvalid(f"{what} {issuer!r} must not contain a query, fragment or user info")
    if any(ch.isspace() or ord(ch) < 32 for ch in issuer):
        raise FederationInvalid(f"{what} {issuer!r} must not contain spaces or control characters")
    return issuer


def parse_federation_rules(body: object) -> list[FederationRule]:
    """Validate a federation body: ``[{"issuer": ..., "subject": ..., "audience": ...}]``.

    ``audience`` is optional (None or absent: not checked). Returns the rules in the given
    order; raises FederationInvalid with a message naming the entry and the problem.
    """
    if not isinstance(body, list):
        raise FederationInvalid('the body must be a JSON list: [{"issuer": "https://...", "subject": "..."}]')
    if len(body) > MAX_FEDERATIONS:
        raise FederationInvalid(f"at most {MAX_FEDERATIONS} federation settings per robot")
    rules: list[FederationRule] = []
    seen: set[tuple[str, str]] = set()
    for index, entry in enumerate(body):
        where = f"entry {index}"
        if not isinstance(entry, dict):
            raise FederationInvalid(f"{where}: must be an object with issuer and subject")
        unknown = sorted(set(entry) - set(_FIELDS))
        if unknown:
            raise FederationInvalid(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: issuer, subject, audience")
        if "issuer" not in entry or "subject" not in entry:
            raise FederationInvalid(f"{where}: issuer and subject are both required")
        issuer = check_issuer_url(entry["issuer"], f"{where}: issuer")
        subject = _claim_value(entry["subject"], f"{where}: subject")
        audience = entry.get("audience")
        if audience is not None:
            audience = _claim_value(audience, f"{where}: audience")
        if (issuer, subject) in seen:
            raise FederationInvalid(f"{where}: duplicate of an earlier entry (same issuer and subject)")
        seen.add((issuer, subject))
        rules.append(FederationRule(issuer, subject, audience))
    return rules


def _claim_value(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FederationInvalid(f"{what} must be a non-empty string")
    if len(value) > MAX_CLAIM_LENGTH:
        raise FederationInvalid(f"{what} is longer than {MAX_CLAIM_LENGTH} characters")
    return value


def is_federated_credential(password: str) -> bool:
    """Return True when ``password`` has the shape of a federated credential (not a secret)."""
    return password.startswith(FEDERATED_CREDENTIAL_PREFIX)


def credential_hash(credential: str) -> str:
    """Return the stored form of a high-entropy credential: hex SHA-256."""
    return hashlib.sha256(credential.encode("utf-8", "surrogateescape")).hexdigest()


class FederationMixin:
    """Store methods for federation settings and federated credentials.

    Mixed into ``tokenstore.Store``; uses its ``db``, ``clock``, ``get_robot`` and ``_touch``.
    """

    def list_federations(self, username: str) -> list[Federation]:
        """Return the robot's federation settings in the order they were set.

        Raises NameInvalid or RobotNotFound.
        """
        robot = self.get_robot(username)
        return self._federations(robot.id)

    def set_federations(self, username: str, body: object) -> list[Federation]:
        """Replace the robot's federation settings with those in ``body`` (Quay's POST).

        Entries equal to an existing one (issuer, subject and audience) are kept, with the
        credentials exchanged through them; every other existing entry is removed and its
        credentials stop working at once. Returns the new settings; raises FederationInvalid,
        NameInvalid or RobotNotFound.
        """
        rules = parse_federation_rules(body)
        robot = self.get_robot(username)
        now = self.clock()
        with self.db.atomic():
            existing = {(f.issuer, f.subject, f.audience): f for f in self._federations(robot.id)}
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
        return self._federations(robot.id)

    def delete_federations(self, username: str) -> list[Federation]:
        """Remove every federation setting of the robot; their credentials stop at once.

        Returns the settings that were removed; raises NameInvalid or RobotNotFound.
        """
        robot = self.get_robot(username)
        with self.db.atomic():
            removed = self._federations(robot.id)
            self.db.execute("DELETE FROM robot_federations WHERE robot_id = ?", [robot.id])
        return removed

    def federations_for_exchange(self, username: str, issuer: str) -> list[Federation]:
        """Return the live robot's settings for ``issuer`` (exact match), [] for any unknown
        or malformed robot name, so an exchange cannot tell a missing robot from a robot
        without a matching setting."""
        try:
            name = parse_robot_name(username)
        except NameInvalid:
            return []
        rows = self.db.execute(
            "SELECT f.id, f.robot_id, f.issuer, f.subject, f.audience, f.created FROM robot_federations f"
            " JOIN robots r ON r.id = f.robot_id JOIN namespaces n ON n.id = r.namespace_id"
            " WHERE n.name = ? AND r.shortname = ? AND f.issuer = ?"
            " AND r.deleted_at IS NULL AND n.deleted_at IS NULL ORDER BY f.id",
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
        federation = next((f for f in self.list_federations(username) if f.id == federation_id), None)
        if federation is None:
            raise InvalidCredentials("the federation setting no longer exists")
        credential = FEDERATED_CREDENTIAL_PREFIX + secrets.token_urlsafe(32)
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
        was removed or whose robot or namespace was deleted; reason "expired" once its hour
        is over.
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
            " AND r.deleted_at IS NULL AND n.deleted_at IS NULL",
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
        self._touch(robot_id, last_accessed, now)
        return Principal(kind="robot", username=username, robot_id=robot_id, namespace_id=namespace_id, secret_id=None)

    def _federations(self, robot_id: int) -> list[Federation]:
        rows = self.db.execute(
            "SELECT id, robot_id, issuer, subject, audience, created FROM robot_federations WHERE robot_id = ? ORDER BY id",
            [robot_id],
        )
        return [Federation(*row) for row in rows]
