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
from .errors import (
    AlreadyExists,
    ApiTokenNotFound,
    DuplicateRow,
    InvalidCredentials,
    LastAdmin,
    MemberNotFound,
    NameInvalid,
    NamespaceNotFound,
    PasswordInvalid,
    StoreUnavailable,
    UserNotFound,
)
from .models import Namespace
from .names import check_namespace

PASSWORD_MIN_LENGTH = 8
ORG_ROLES = ("admin", "member")
TOKEN_DESCRIPTION_MAX = 255

# API tokens: a fixed prefix (so a leaked token is recognisable in logs and by secret
# scanners), then 256 random bits. The first API_TOKEN_LOOKUP_LENGTH characters are stored in
# clear to find the row and to name the token in listings; they reveal 48 of the 256 bits.
API_TOKEN_PREFIX = "rgapi_"
API_TOKEN_LOOKUP_LENGTH = len(API_TOKEN_PREFIX) + 8
API_TOKEN_MAX_LENGTH = 256
# last_used is written at most once per token per this many seconds.
API_TOKEN_USE_INTERVAL = 60.0

_USER_COLUMNS = "u.id, u.username, u.namespace_id, u.superuser, u.created"
_TOKEN_COLUMNS = "t.id, u.username, t.prefix, t.description, t.created, t.expires_at, t.revoked_at, t.last_used"


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


def api_token_digest(token: str) -> str:
    """Return the stored form of an API token: the hex SHA-256 of its text.

    A fast hash is right here, unlike for passwords: the token carries 256 random bits, so
    nothing can be guessed or brute-forced from a leaked digest, and a slow hash would only
    add a bcrypt run to every API call.
    """
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


_DUMMY_DIGEST = api_token_digest(API_TOKEN_PREFIX + "0" * 43)


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


class AccountsMixin:
    """Store methods for users, organization membership and API tokens.

    Mixed into ``tokenstore.Store``; uses its ``db``, ``clock`` and ``bcrypt_cost``.
    """

    # -- users ------------------------------------------------------------------------

    def create_user(self, username: str, password: str, *, superuser: bool = False) -> User:
        """Create a user and their own namespace.

        Returns the User. Raises NameInvalid for a bad name, PasswordInvalid, or
        AlreadyExists when a user or organization has the name.
        """
        check_namespace(username, "user")
        hashed = hashing.hash_secret(check_password(password), self.bcrypt_cost)
        now = self.clock()
        try:
            with self.db.atomic():
                namespace_id = self.db.execute(
                    "INSERT INTO namespaces (name, kind, created) VALUES (?, 'user', ?) RETURNING id", [username, now]
                ).fetchone()[0]
                self.db.execute(
                    "INSERT INTO users (username, namespace_id, password_hash, superuser, created) VALUES (?, ?, ?, ?, ?)",
                    [username, namespace_id, hashed, int(bool(superuser)), now],
                )
        except DuplicateRow:
            raise AlreadyExists(f"a user or organization named {username!r} already exists") from None
        return self.get_user(username)

    def get_user(self, username: str) -> User:
        """Return the live user ``username``; raises UserNotFound."""
        row = self.db.execute(
            f"SELECT {_USER_COLUMNS} FROM users u JOIN namespaces n ON n.id = u.namespace_id"
            " WHERE u.username = ? AND u.deleted_at IS NULL AND n.deleted_at IS NULL",
            [username],
        ).fetchone()
        if row is None:
            raise UserNotFound(f"user {username!r} does not exist")
        return _user(row)

    def list_users(self) -> list[User]:
        """Return the live users ordered by name."""
        rows = self.db.execute(
            f"SELECT {_USER_COLUMNS} FROM users u JOIN namespaces n ON n.id = u.namespace_id"
            " WHERE u.deleted_at IS NULL AND n.deleted_at IS NULL ORDER BY u.username"
        )
        return [_user(row) for row in rows]

    def delete_user(self, username: str) -> None:
        """Delete a user with their namespace, robots and repositories, effective at once.

        Their API tokens and organization memberships stop counting from this call on; the
        collector removes the rows later. Raises UserNotFound.
        """
        user = self.get_user(username)
        with self.db.atomic():
            self.db.execute("UPDATE users SET deleted_at = ? WHERE id = ?", [self.clock(), user.id])
            self.delete_namespace(username)

    def check_password(self, username: str, password: str) -> User:
        """Return the user when ``password`` is theirs.

        Raises InvalidCredentials for an unknown user and a wrong or over-long password
        alike, after exactly one bcrypt check in every case, so they cannot be told apart by
        timing.
        """
        row = None
        if isinstance(username, str) and len(username) <= 255:
            row = self.db.execute(
                f"SELECT {_USER_COLUMNS}, u.password_hash FROM users u JOIN namespaces n ON n.id = u.namespace_id"
                " WHERE u.username = ? AND u.deleted_at IS NULL AND n.deleted_at IS NULL",
                [username],
            ).fetchone()
        hashed = row[-1] if row else None
        if not hashing.verify_secret(password if isinstance(password, str) else "", hashed, self.bcrypt_cost):
            raise InvalidCredentials("invalid username or password")
        return _user(row[:-1])

    # -- organizations and membership -------------------------------------------------

    def create_organization(self, name: str, admin: str | None = None) -> Namespace:
        """Create an organization, with user ``admin`` as its first admin when given.

        Returns the Namespace. Raises NameInvalid, UserNotFound, or AlreadyExists when a
        user or organization has the name. Nothing is created when any of them is raised.
        """
        check_namespace(name, "organization")
        with self.db.atomic():
            user = self.get_user(admin) if admin is not None else None
            namespace = self.create_namespace(name, "organization")
            if user is not None:
                self.db.execute(
                    "INSERT INTO org_members (namespace_id, user_id, role, created) VALUES (?, ?, 'admin', ?)",
                    [namespace.id, user.id, namespace.created],
                )
        return namespace

    def get_organization(self, name: str) -> Namespace:
        """Return the live organization ``name``; raises NamespaceNotFound (also for a user's namespace)."""
        namespace = self.get_namespace(name)
        if namespace.kind != "organization":
            raise NamespaceNotFound(f"organization {name!r} does not exist")
        return namespace

    def set_member(self, organization: str, username: str, role: str = "member") -> Membership:
        """Make ``username`` a member of ``organization`` with ``role`` (admin or member).

        Adds the user or changes their role. Returns the Membership. Raises NameInvalid for
        another role, NamespaceNotFound, UserNotFound, or LastAdmin when the only admin
        would become a plain member.
        """
        if role not in ORG_ROLES:
            raise NameInvalid(f"invalid organization role {role!r}: use admin or member")
        org = self.get_organization(organization)
        user = self.get_user(username)
        with self.db.atomic():
            current = self._member_role(org.id, user.id)
            if current == "admin" and role != "admin" and self._admin_count(org.id) <= 1:
                raise LastAdmin(f"{username!r} is the only admin of {organization!r}: make someone else admin first")
            self.db.execute(
                "INSERT INTO org_members (namespace_id, user_id, role, created) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (namespace_id, user_id) DO UPDATE SET role = excluded.role",
                [org.id, user.id, role, self.clock()],
            )
        return self.get_member(organization, username)

    def remove_member(self, organization: str, username: str) -> None:
        """Take ``username`` out of ``organization``.

        Raises NamespaceNotFound, UserNotFound, MemberNotFound, or LastAdmin when they are
        its only admin.
        """
        org = self.get_organization(organization)
        user = self.get_user(username)
        with self.db.atomic():
            current = self._member_role(org.id, user.id)
            if current is None:
                raise MemberNotFound(f"{username!r} is not a member of {organization!r}")
            if current == "admin" and self._admin_count(org.id) <= 1:
                raise LastAdmin(f"{username!r} is the only admin of {organization!r}: make someone else admin first")
            self.db.execute("DELETE FROM org_members WHERE namespace_id = ? AND user_id = ?", [org.id, user.id])

    def get_member(self, organization: str, username: str) -> Membership:
        """Return the user's membership; raises NamespaceNotFound or MemberNotFound."""
        org = self.get_organization(organization)
        row = self.db.execute(
            "SELECT u.username, m.role, m.created FROM org_members m JOIN users u ON u.id = m.user_id"
            " WHERE m.namespace_id = ? AND u.username = ? AND u.deleted_at IS NULL",
            [org.id, username],
        ).fetchone()
        if row is None:
            raise MemberNotFound(f"{username!r} is not a member of {organization!r}")
        return Membership(org.name, *row)

    def list_members(self, organization: str) -> list[Membership]:
        """Return the organization's members ordered by name; raises NamespaceNotFound."""
        org = self.get_organization(organization)
        rows = self.db.execute(
            "SELECT u.username, m.role, m.created FROM org_members m JOIN users u ON u.id = m.user_id"
            " WHERE m.namespace_id = ? AND u.deleted_at IS NULL ORDER BY u.username",
            [org.id],
        )
        return [Membership(org.name, *row) for row in rows]

    def list_user_organizations(self, user: User) -> list[Membership]:
        """Return the live organizations ``user`` belongs to, ordered by name."""
        rows = self.db.execute(
            "SELECT n.name, m.role, m.created FROM org_members m JOIN namespaces n ON n.id = m.namespace_id"
            " WHERE m.user_id = ? AND n.deleted_at IS NULL ORDER BY n.name",
            [user.id],
        )
        return [Membership(name, user.username, role, created) for name, role, created in rows]

    def namespace_access(self, user: User, namespace: str) -> NamespaceAccess:
        """Return ``user``'s standing in ``namespace`` in one query (see NamespaceAccess).

        A superuser is admin of every namespace, even one that does not exist (so the caller
        can answer 404 to them and 403 to everybody else without revealing which names exist).
        """
        row = self.db.execute(
            "SELECT n.id, n.name, n.kind, n.created, m.role FROM namespaces n"
            " LEFT JOIN org_members m ON m.namespace_id = n.id AND m.user_id = ?"
            " WHERE n.name = ? AND n.deleted_at IS NULL",
            [user.id, namespace],
        ).fetchone()
        found = Namespace(*row[:4]) if row else None
        if user.superuser:
            role = "admin"
        elif found is None:
            role = None
        elif found.kind == "user":
            role = "admin" if found.id == user.namespace_id else None
        else:
            role = row[4]
        return NamespaceAccess(found, role)

    def _member_role(self, namespace_id: int, user_id: int) -> str | None:
        row = self.db.execute(
            "SELECT role FROM org_members WHERE namespace_id = ? AND user_id = ?", [namespace_id, user_id]
        ).fetchone()
        return row[0] if row else None

    def _admin_count(self, namespace_id: int) -> int:
        return self.db.execute(
            "SELECT count(*) FROM org_members m JOIN users u ON u.id = m.user_id"
            " WHERE m.namespace_id = ? AND m.role = 'admin' AND u.deleted_at IS NULL",
            [namespace_id],
        ).fetchone()[0]

    # -- API tokens -------------------------------------------------------------------

    def create_api_token(self, username: str, *, expires_at: float | None = None, description: str = "") -> IssuedApiToken:
        """Create an API token for ``username``; the clear token is in the result only.

        Raises UserNotFound, or NameInvalid for an expiry not in the future or a description
        over 255 characters.
        """
        user = self.get_user(username)
        now = self.clock()
        if expires_at is not None and expires_at <= now:
            raise NameInvalid("the token's expiry must be in the future")
        if not isinstance(description, str) or len(description) > TOKEN_DESCRIPTION_MAX:
            raise NameInvalid(f"the token's description must be text of at most {TOKEN_DESCRIPTION_MAX} characters")
        for _ in range(5):
            token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
            try:
                with self.db.atomic():  # a savepoint when nested: a taken prefix spoils nothing else
                    token_id = self.db.execute(
                        "INSERT INTO api_tokens (user_id, prefix, hash, description, created, expires_at)"
                        " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                        [user.id, token[:API_TOKEN_LOOKUP_LENGTH], api_token_digest(token), description, now, expires_at],
                    ).fetchone()[0]
            except DuplicateRow:
                continue  # the 48-bit lookup prefix is taken; draw again
            return IssuedApiToken(self._api_token(token_id), token)
        raise RuntimeError("could not draw an unused API token prefix")  # pragma: no cover - 2**-240

    def authenticate_api_token(self, token: str) -> User:
        """Return the user an API token belongs to.

        Raises InvalidCredentials for a malformed, unknown, revoked or expired token, or one
        whose user was deleted (``reason`` "expired" for an expired one). The digest
        comparison is constant time.
        """
        row = None
        if isinstance(token, str) and token.startswith(API_TOKEN_PREFIX) and len(token) <= API_TOKEN_MAX_LENGTH:
            row = self.db.execute(
                f"SELECT t.id, t.hash, t.expires_at, t.last_used, {_USER_COLUMNS} FROM api_tokens t"
                " JOIN users u ON u.id = t.user_id JOIN namespaces n ON n.id = u.namespace_id"
                " WHERE t.prefix = ? AND t.revoked_at IS NULL AND u.deleted_at IS NULL AND n.deleted_at IS NULL",
                [token[:API_TOKEN_LOOKUP_LENGTH]],
            ).fetchone()
        digest = api_token_digest(token) if isinstance(token, str) else _DUMMY_DIGEST
        matched = hmac.compare_digest(digest, row[1] if row else _DUMMY_DIGEST) and row is not None
        if not matched:
            raise InvalidCredentials("invalid API token")
        token_id, _, expires_at, last_used = row[:4]
        now = self.clock()
        if expires_at is not None and expires_at <= now:
            raise InvalidCredentials("the API token has expired: create a new one", reason="expired")
        if last_used is None or now - last_used >= API_TOKEN_USE_INTERVAL:
            try:
                self.db.execute("UPDATE api_tokens SET last_used = ? WHERE id = ?", [now, token_id])
            except StoreUnavailable:
                pass  # a busy database must not fail the call; last_used is informational
        return _user(row[4:])

    def list_api_tokens(self, username: str | None = None) -> list[ApiToken]:
        """Return the API tokens (live, expired and revoked) of one user or of all, oldest first."""
        sql = f"SELECT {_TOKEN_COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE u.deleted_at IS NULL"
        params: list = []
        if username is not None:
            params.append(self.get_user(username).id)
            sql += " AND u.id = ?"
        return [ApiToken(*row) for row in self.db.execute(sql + " ORDER BY t.id", params)]

    def revoke_api_token(self, ident: str | int) -> ApiToken:
        """Revoke an API token named by its id, its prefix, or the token itself.

        Revoking a revoked token changes nothing. Returns the token's metadata; raises
        ApiTokenNotFound.
        """
        text = str(ident).strip()
        if text.isdigit():
            row = self.db.execute("SELECT id FROM api_tokens WHERE id = ?", [int(text)]).fetchone()
        else:
            row = self.db.execute(
                "SELECT id FROM api_tokens WHERE prefix = ?", [text[:API_TOKEN_LOOKUP_LENGTH]]
            ).fetchone() if len(text) >= API_TOKEN_LOOKUP_LENGTH else None
        if row is None:
            raise ApiTokenNotFound("no API token has that id or prefix")
        self.db.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", [self.clock(), row[0]])
        return self._api_token(row[0])

    def _api_token(self, token_id: int) -> ApiToken:
        row = self.db.execute(
            f"SELECT {_TOKEN_COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = ?", [token_id]
        ).fetchone()
        return ApiToken(*row)


def _user(row) -> User:
    id_, username, namespace_id, superuser, created = row
    return User(id_, username, namespace_id, bool(superuser), created)
