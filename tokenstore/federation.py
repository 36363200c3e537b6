"""Keyless robots: federation settings and the one-hour credentials exchanged through them.

A federation setting says "a JWT from this OIDC issuer, about this subject (and, if set, for
this audience) may act as this robot". The gateway verifies the external JWT; this module
holds the rules a setting must follow and the credentials' form, and the store keeps the
settings and issues, checks and revokes the credentials handed out in exchange.

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

from .errors import NameInvalid

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


def new_federated_credential() -> str:
    """Return a new federated credential: FEDERATED_CREDENTIAL_PREFIX and 256 random bits."""
    return FEDERATED_CREDENTIAL_PREFIX + secrets.token_urlsafe(32)
