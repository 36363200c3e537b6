"""Users, organization membership and API tokens (the rules: ``tokenstore.accounts``)."""

from .. import hashing
from ..accounts import (
    API_TOKEN_LOOKUP_LENGTH,
    API_TOKEN_USE_INTERVAL,
    USERNAME_MAX_LENGTH,
    ApiToken,
    IssuedApiToken,
    Membership,
    NamespaceAccess,
    User,
    api_token_digest,
    api_token_lookup,
    api_token_matches,
    check_api_token_request,
    check_org_role,
    check_password,
    has_api_token_shape,
    namespace_role,
    new_api_token,
)
from ..errors import (
    AlreadyExists,
    ApiTokenNotFound,
    DuplicateRow,
    InvalidCredentials,
    LastAdmin,
    MemberNotFound,
    NamespaceNotFound,
    StoreUnavailable,
    UserNotFound,
)
from ..models import Namespace
from ..names import check_namespace
from . import namespaces
from .base import QueryBase
from .connection import SqlDatabase

_USER_COLUMNS = "u.id, u.username, u.namespace_id, u.superuser, u.created"
_TOKEN_COLUMNS = "t.id, u.username, t.prefix, t.description, t.created, t.expires_at, t.revoked_at, t.last_used"


def get_user(db: SqlDatabase, username: str) -> User:
    """Return the live user ``username``; raises UserNotFound."""
    row = db.execute(
        f"SELECT {_USER_COLUMNS} FROM users u JOIN namespaces n ON n.id = u.namespace_id"
        " WHERE u.username = ? AND u.deleted_at IS NULL AND n.deleted_at IS NULL",
        [username],
    ).fetchone()
    if row is None:
        raise UserNotFound(f"user {username!r} does not exist")
    return _user(row)


def get_organization(db: SqlDatabase, name: str) -> Namespace:
    """Return the live organization ``name``; raises NamespaceNotFound (also for a user's namespace)."""
    namespace = namespaces.get_namespace(db, name)
    if namespace.kind != "organization":
        raise NamespaceNotFound(f"organization {name!r} does not exist")
    return namespace


class AccountQueries(QueryBase):
    """Store methods for users, organization membership and API tokens."""

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
        return get_user(self.db, username)

    def get_user(self, username: str) -> User:
        """Return the live user ``username``; raises UserNotFound."""
        return get_user(self.db, username)

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
        user = get_user(self.db, username)
        now = self.clock()
        with self.db.atomic():
            self.db.execute("UPDATE users SET deleted_at = ? WHERE id = ?", [now, user.id])
            namespaces.delete_namespace(self.db, username, now)

    def check_password(self, username: str, password: str) -> User:
        """Return the user when ``password`` is theirs.

        Raises InvalidCredentials for an unknown user and a wrong or over-long password
        alike, after exactly one bcrypt check in every case, so they cannot be told apart by
        timing.
        """
        row = None
        if isinstance(username, str) and len(username) <= USERNAME_MAX_LENGTH:
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
            user = get_user(self.db, admin) if admin is not None else None
            namespace = namespaces.create_namespace(self.db, name, "organization", self.clock())
            if user is not None:
                self.db.execute(
                    "INSERT INTO org_members (namespace_id, user_id, role, created) VALUES (?, ?, 'admin', ?)",
                    [namespace.id, user.id, namespace.created],
                )
        return namespace

    def get_organization(self, name: str) -> Namespace:
        """Return the live organization ``name``; raises NamespaceNotFound (also for a user's namespace)."""
        return get_organization(self.db, name)

    def set_member(self, organization: str, username: str, role: str = "member") -> Membership:
        """Make ``username`` a member of ``organization`` with ``role`` (admin or member).

        Adds the user or changes their role. Returns the Membership. Raises NameInvalid for
        another role, NamespaceNotFound, UserNotFound, or LastAdmin when the only admin
        would become a plain member.
        """
        check_org_role(role)
        org = get_organization(self.db, organization)
        user = get_user(self.db, username)
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
        org = get_organization(self.db, organization)
        user = get_user(self.db, username)
        with self.db.atomic():
            current = self._member_role(org.id, user.id)
            if current is None:
                raise MemberNotFound(f"{username!r} is not a member of {organization!r}")
            if current == "admin" and self._admin_count(org.id) <= 1:
                raise LastAdmin(f"{username!r} is the only admin of {organization!r}: make someone else admin first")
            self.db.execute("DELETE FROM org_members WHERE namespace_id = ? AND user_id = ?", [org.id, user.id])

    def get_member(self, organization: str, username: str) -> Membership:
        """Return the user's membership; raises NamespaceNotFound or MemberNotFound."""
        org = get_organization(self.db, organization)
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
        org = get_organization(self.db, organization)
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
        return NamespaceAccess(found, namespace_role(user, found, row[4] if row else None))

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
        user = get_user(self.db, username)
        now = self.clock()
        check_api_token_request(expires_at, description, now)
        for _ in range(5):
            token = new_api_token()
            try:
                with self.db.atomic():  # a savepoint when nested: a taken prefix spoils nothing else
                    token_id = self.db.execute(
                        "INSERT INTO api_tokens (user_id, prefix, hash, description, created, expires_at)"
                        " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                        [user.id, api_token_lookup(token), api_token_digest(token), description, now, expires_at],
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
        if has_api_token_shape(token):
            row = self.db.execute(
                f"SELECT t.id, t.hash, t.expires_at, t.last_used, {_USER_COLUMNS} FROM api_tokens t"
                " JOIN users u ON u.id = t.user_id JOIN namespaces n ON n.id = u.namespace_id"
                " WHERE t.prefix = ? AND t.revoked_at IS NULL AND u.deleted_at IS NULL AND n.deleted_at IS NULL",
                [api_token_lookup(token)],
            ).fetchone()
        if not api_token_matches(token, row[1] if row else None):
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
            params.append(get_user(self.db, username).id)
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
                "SELECT id FROM api_tokens WHERE prefix = ?", [api_token_lookup(text)]
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
