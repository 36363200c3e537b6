"""People and their access to the management API: users, organization roles, API tokens.

- A user has a bcrypt-hashed password, an optional superuser flag, and owns the namespace
  of kind ``user`` with the same name (its robots are ``username+short``).
- An organization is a namespace of kind ``organization``; users belong to it as ``admin``
  or ``member``. An organization always keeps at least one admin.
- An API token authenticates ``Authorization: Bearer`` calls as its user. It is shown once,
  stored as a SHA-256 digest, found by its first characters, and may expire or be revoked.

Who may do what with these roles is decided in the gateway (``gateway/api/auth.py``); this
module only answers "what is this user's role in that namespace".
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from . import hashing
from .errors import NameInvalid, PasswordInvalid
from .models import Namespace

PASSWORD_MIN_LENGTH = 8
ORG_ROLES = ("admin", "member")
TOKEN_DESCRIPTION_MAX = 255
# Longer user names are refused before any lookup (the name rule allows far fewer).
USERNAME_MAX_LENGTH = 255

# API tokens: a fixed prefix (so a leaked token is recognisable in logs and by secret
# scanners), then 256 random bits. The first API_TOKEN_LOOKUP_LENGTH characters are stored in
# clear to find the row and to name the token in listings; they reveal 48 of the 256 bits.
API_TOKEN_PREFIX = "rgapi_"
API_TOKEN_LOOKUP_LENGTH = len(API_TOKEN_PREFIX) + 8
API_TOKEN_MAX_LENGTH = 256
# last_used is written at most once per token per this many seconds.
API_TOKEN_USE_INTERVAL = 60.0


@dataclass(frozen=True)
class User:
    """A person who uses the management API. Never holds the password or its hash."""

    id: int
    username: str
    namespace_id: int
    superuser: bool
    created: float


@dataclass(frozen=True)
class Membership:
    """A user's role in an organization: ``admin`` or ``member``."""

    organization: str
    username: str
    role: str
    created: float

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class NamespaceAccess:
    """A user's standing in one namespace.

    ``namespace`` is None when no live namespace has the name. ``role`` is ``admin`` (an
    organization admin, the user in their own namespace, or any superuser), ``member`` (a
    plain organization member) or None.
    """

    namespace: Namespace | None
    role: str | None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_member(self) -> bool:
        """True for admins and plain members alike."""
        return self.role is not None


@dataclass(frozen=True)
class ApiToken:
    """An API token's metadata (never the token or its digest)."""

    id: int
    username: str
    prefix: str
    description: str
    created: float
    expires_at: float | None
    revoked_at: float | None
    last_used: float | None

    def is_live(self, now: float) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


@dataclass(frozen=True)
class IssuedApiToken:
    """A new API token with its clear text; returned only by ``create_api_token``."""

    info: ApiToken
    token: str = field(repr=False)


def check_password(password: object) -> str:
    """Return ``password`` if it may be stored; raises PasswordInvalid.

    At least PASSWORD_MIN_LENGTH characters and at most bcrypt's 72 bytes, which would
    otherwise silently ignore the rest.
    """
    if not isinstance(password, str):
        raise PasswordInvalid("the password must be text")
    if len(password) < PASSWORD_MIN_LENGTH:
        raise PasswordInvalid(f"the password must be at least {PASSWORD_MIN_LENGTH} characters long")
    if len(password.encode("utf-8", "surrogateescape")) > hashing.BCRYPT_MAX_BYTES:
        raise PasswordInvalid(f"the password must be at most {hashing.BCRYPT_MAX_BYTES} bytes long")
    return password


def check_org_role(role: str) -> str:
    """Return ``role`` if it is an organization role (admin or member); raises NameInvalid."""
    if role not in ORG_ROLES:
        raise NameInvalid(f"invalid organization role {role!r}: use admin or member")
    return role


def namespace_role(user: User, namespace: Namespace | None, member_role: str | None) -> str | None:
    """Return ``user``'s role in ``namespace`` (None: no live namespace of that name), given
    their role in its member list (``member_role``, None when not a member).

    A superuser is admin of every namespace, even one that does not exist (so a caller can
    answer 404 to them and 403 to everybody else without revealing which names exist); a
    user is admin of their own namespace and of no other user's.
    """
    if user.superuser:
        return "admin"
    if namespace is None:
        return None
    if namespace.kind == "user":
        return "admin" if namespace.id == user.namespace_id else None
    return member_role


def api_token_digest(token: str) -> str:
    """Return the stored form of an API token: the hex SHA-256 of its text.

    A fast hash is right here, unlike for passwords: the token carries 256 random bits, so
    nothing can be guessed or brute-forced from a leaked digest, and a slow hash would only
    add a bcrypt run to every API call.
    """
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


_DUMMY_DIGEST = api_token_digest(API_TOKEN_PREFIX + "0" * 43)


def new_api_token() -> str:
    """Return a new API token: API_TOKEN_PREFIX and 256 random bits."""
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def api_token_lookup(token: str) -> str:
    """Return the first characters of a token, stored in clear to find its row."""
    return token[:API_TOKEN_LOOKUP_LENGTH]


def has_api_token_shape(token: object) -> bool:
    """Return True when ``token`` is text with the API token prefix, no longer than API_TOKEN_MAX_LENGTH."""
    return isinstance(token, str) and token.startswith(API_TOKEN_PREFIX) and len(token) <= API_TOKEN_MAX_LENGTH


def api_token_matches(token: object, digest: str | None) -> bool:
    """Return True when ``token`` is text whose digest is ``digest`` (None: no row was found).

    Always one constant-time comparison, against a dummy digest when there is none, so an
    unknown prefix takes the time of a wrong token.
    """
    presented = api_token_digest(token) if isinstance(token, str) else _DUMMY_DIGEST
    return hmac.compare_digest(presented, digest if digest is not None else _DUMMY_DIGEST) and digest is not None


def check_api_token_request(expires_at: float | None, description: object, now: float) -> None:
    """Check what a new API token is asked for: an expiry after ``now`` (or None) and a
    description of at most TOKEN_DESCRIPTION_MAX characters. Raises NameInvalid."""
    if expires_at is not None and expires_at <= now:
        raise NameInvalid("the token's expiry must be in the future")
    if not isinstance(description, str) or len(description) > TOKEN_DESCRIPTION_MAX:
        raise NameInvalid(f"the token's description must be text of at most {TOKEN_DESCRIPTION_MAX} characters")
