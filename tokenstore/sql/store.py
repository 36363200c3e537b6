"""The store's queries: namespaces, robots, secrets, repositories, permissions; authenticate and authorize.

Synchronous by design; the gateway calls it from worker threads so that SQLite and bcrypt
never run on the event loop. Every method that changes several rows does so in one
transaction, so a failure leaves nothing half-written.
"""

import json
import logging
from collections.abc import Callable, Iterable

from .. import hashing
from ..errors import (
    AlreadyExists,
    DuplicateRow,
    GrantOutsideNamespace,
    InvalidCredentials,
    NameInvalid,
    NamespaceNotFound,
    PermissionNotFound,
    RepositoryNotFound,
    RobotNotFound,
    StoreUnavailable,
)
from ..models import IssuedSecret, Namespace, Permission, Principal, Repository, Robot, SecretInfo
from ..names import (
    NAMESPACE_KINDS, VISIBILITIES, RepositoryName, check_description, check_namespace, parse_repository_name,
    parse_robot_name,
)
from .connection import SqlDatabase
from ..permissions import PUBLIC_ACTIONS, ROLE_ACTIONS, Resource, Role, parse_role, strongest
from ..federation import FederationMixin
from ..refresh_tokens import RefreshTokenMixin
from ..secret_lifecycle import SecretLifecycleMixin, live_secret, unreplaced_secret
from ..accounts import AccountsMixin
from ..audit import AuditMixin
from ..collector import CollectorMixin
from ..listings import ListingsMixin
from ..registry_activity import RegistryActivityMixin
from ..signin_throttle import SigninThrottleMixin
from ..ui_sessions import UiSessionMixin
from ..audited_changes import AuditedChangesMixin

log = logging.getLogger(__name__)

# last_accessed is written at most once per robot per this many seconds: a CI fleet's
# token requests must not turn into a stream of writes.
LAST_ACCESSED_INTERVAL = 60.0
# How long (seconds) that bookkeeping write waits for another process's write lock before it is skipped.
BRIEF_WRITE_WAIT = 0.25

_ROBOT_COLUMNS = """r.id, r.namespace_id, n.name AS namespace, r.shortname, r.description,
    r.unstructured_metadata, r.created, r.last_accessed"""
_REPO_COLUMNS = "p.id, p.namespace_id, n.name AS namespace, p.name, p.visibility, p.description, p.created"


class SqlStore(
    FederationMixin, RefreshTokenMixin, SecretLifecycleMixin, AccountsMixin, AuditMixin, ListingsMixin, CollectorMixin,
    UiSessionMixin, AuditedChangesMixin, SigninThrottleMixin, RegistryActivityMixin,
):
    """The store's queries, run on the connection ``db`` a backend gives each thread.

    A backend subclasses it and provides ``db``, ``close``, ``check``, ``watch``,
    ``run_batch``, ``housekeeping`` and the collector's hooks (``tokenstore.interface``
    says what each must do).
    """

    bcrypt_cost: int
    clock: Callable[[], float]

    @property
    def db(self) -> SqlDatabase:
        """This thread's connection."""
        raise NotImplementedError

    def transaction(self):
        """Return a context manager running its block in one write transaction (nested: a
        savepoint) that holds the store's write lock from its start; committed at the end,
        rolled back when the block raises. Raises StoreBusy when the lock is not granted in
        time, StoreUnavailable when the database cannot answer."""
        return self.db.atomic()

    # -- namespaces -------------------------------------------------------------------

    def create_namespace(self, name: str, kind: str = "organization") -> Namespace:
        """Create a namespace (an organization or a user's own).

        Returns the Namespace; raises NameInvalid for a bad name or kind, AlreadyExists when
        a live namespace has that name.
        """
        check_namespace(name)
        if kind not in NAMESPACE_KINDS:
            raise NameInvalid(f"invalid namespace kind {kind!r}: use organization or user")
        now = self.clock()
        try:
            (namespace_id,) = self.db.execute(
                "INSERT INTO namespaces (name, kind, created) VALUES (?, ?, ?) RETURNING id", [name, kind, now]
            ).fetchone()
        except DuplicateRow:
            raise AlreadyExists(f"namespace {name!r} already exists") from None
        return Namespace(namespace_id, name, kind, now)

    def get_namespace(self, name: str) -> Namespace:
        """Return the live namespace ``name``; raises NamespaceNotFound."""
        row = self.db.execute(
            "SELECT id, name, kind, created FROM namespaces WHERE name = ? AND deleted_at IS NULL", [name]
        ).fetchone()
        if row is None:
            raise NamespaceNotFound(f"namespace {name!r} does not exist")
        return Namespace(*row)

    def list_namespaces(self, kind: str | None = None) -> list[Namespace]:
        """Return the live namespaces, optionally of one kind, ordered by name."""
        sql = "SELECT id, name, kind, created FROM namespaces WHERE deleted_at IS NULL"
        params: list = []
        if kind:
            sql += " AND kind = ?"
            params.append(kind)
        return [Namespace(*row) for row in self.db.execute(sql + " ORDER BY name", params)]

    def delete_namespace(self, name: str) -> None:
        """Delete a namespace with its robots, secrets and repositories, effective at once.

        The rows stay until the collector runs, but nothing of the namespace authenticates
        or authorizes from this call on. Raises NamespaceNotFound.
        """
        namespace = self.get_namespace(name)
        now = self.clock()
        with self.db.atomic():
            self.db.execute("UPDATE namespaces SET deleted_at = ? WHERE id = ?", [now, namespace.id])
            self.db.execute(
                "UPDATE robots SET deleted_at = ? WHERE namespace_id = ? AND deleted_at IS NULL", [now, namespace.id]
            )
            self.db.execute(
                "UPDATE repositories SET deleted_at = ? WHERE namespace_id = ? AND deleted_at IS NULL",
                [now, namespace.id],
            )

    # -- robots -----------------------------------------------------------------------

    def create_robot(
        self, username: str, description: str = "", unstructured_metadata: dict | None = None,
        *, new_secret: hashing.NewSecret | None = None,
    ) -> IssuedSecret:
        """Create robot ``namespace+shortname`` with a fresh secret (``new_secret``, made
        before the caller's transaction began, or one made here).

        Returns an IssuedSecret carrying the clear secret (the only time it is available).
        Raises NameInvalid, NamespaceNotFound, or AlreadyExists when the robot exists.
        """
        name = parse_robot_name(username)
        description = check_description(description)
        metadata = json.dumps(unstructured_metadata or {})
        namespace = self.get_namespace(name.namespace)
        new_secret = new_secret or hashing.new_secret(self.bcrypt_cost)
        now = self.clock()
        try:
            with self.db.atomic():
                robot_id = self.db.execute(
                    "INSERT INTO robots (namespace_id, shortname, description, unstructured_metadata, created)"
                    " VALUES (?, ?, ?, ?, ?) RETURNING id",
                    [namespace.id, name.shortname, description, metadata, now],
                ).fetchone()[0]
                secret_id = self._insert_secret(robot_id, new_secret, now)
        except DuplicateRow:
            raise AlreadyExists(f"robot {username!r} already exists") from None
        return IssuedSecret(self.get_robot(username), secret_id, now, new_secret.secret)

    def get_robot(self, username: str) -> Robot:
        """Return the live robot ``namespace+shortname``; raises NameInvalid or RobotNotFound."""
        name = parse_robot_name(username)
        row = self.db.execute(
            f"SELECT {_ROBOT_COLUMNS} FROM robots r JOIN namespaces n ON n.id = r.namespace_id"
            " WHERE n.name = ? AND r.shortname = ? AND r.deleted_at IS NULL AND n.deleted_at IS NULL",
            [name.namespace, name.shortname],
        ).fetchone()
        if row is None:
            raise RobotNotFound(f"robot {username!r} does not exist")
        return _robot(row)

    def list_robots(self, namespace: str, limit: int | None = None) -> list[Robot]:
        """Return the live robots of ``namespace`` ordered by shortname; raises NamespaceNotFound."""
        ns = self.get_namespace(namespace)
        sql = (
            f"SELECT {_ROBOT_COLUMNS} FROM robots r JOIN namespaces n ON n.id = r.namespace_id"
            " WHERE r.namespace_id = ? AND r.deleted_at IS NULL ORDER BY r.shortname"
        )
        params: list = [ns.id]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_robot(row) for row in self.db.execute(sql, params)]

    def update_robot(self, username: str, *, description: str | None = None, unstructured_metadata: dict | None = None) -> Robot:
        """Change a robot's description and/or metadata; returns the updated Robot.

        Raises NameInvalid or RobotNotFound.
        """
        robot = self.get_robot(username)
        if description is not None:
            self.db.execute("UPDATE robots SET description = ? WHERE id = ?", [check_description(description), robot.id])
        if unstructured_metadata is not None:
            self.db.execute(
                "UPDATE robots SET unstructured_metadata = ? WHERE id = ?", [json.dumps(unstructured_metadata), robot.id]
            )
        return self.get_robot(username)

    def regenerate_secret(
        self, username: str, *, grace_seconds: float = 0, expires_at: float | None = None,
        new_secret: hashing.NewSecret | None = None,
    ) -> IssuedSecret:
        """Replace the robot's secret with a new one (``new_secret``, made before the caller's
        transaction began, or one made here).

        A robot has at most two live secrets: the current one and one in grace. Without
        ``grace_seconds`` every previous secret ends at once; with it, the current one keeps
        working that long and any older one still in grace ends at once. An ended secret
        stays ended whatever the clock does. Returns the IssuedSecret with the new clear
        secret. Raises NameInvalid or RobotNotFound.
        """
        robot = self.get_robot(username)
        new_secret = new_secret or hashing.new_secret(self.bcrypt_cost)
        now = self.clock()
        with self.db.atomic():
            kept = None
            if grace_seconds > 0:
                kept = self.db.execute(
                    "SELECT s.id, s.selector FROM robot_secrets s WHERE s.robot_id = ? AND s.revoked_at IS NULL"
                    f" AND {live_secret()} ORDER BY s.id DESC LIMIT 1",
                    [robot.id, now, now],
                ).fetchone()
            # revoked_at only says when, for people; ``ended`` is what authentication reads.
            self.db.execute(
                "UPDATE robot_secrets SET ended = 1,"
                " revoked_at = CASE WHEN revoked_at IS NULL OR revoked_at > ? THEN ? ELSE revoked_at END"
                " WHERE robot_id = ? AND ended = 0 AND id IS DISTINCT FROM ?",
                [now, now, robot.id, kept[0] if kept else None],
            )
            if kept is not None:
                self.db.execute("UPDATE robot_secrets SET revoked_at = ? WHERE id = ?", [now + grace_seconds, kept[0]])
                while kept[1] is not None and hashing.selector(new_secret.secret) == kept[1]:
                    # One draw in 65,536: the two live secrets must not share a selector, or a
                    # wrong secret naming it would cost two bcrypt checks.
                    new_secret = hashing.new_secret(self.bcrypt_cost)
            secret_id = self._insert_secret(robot.id, new_secret, now, expires_at)
        return IssuedSecret(robot, secret_id, now, new_secret.secret)

    def list_secrets(self, username: str) -> list[SecretInfo]:
        """Return the robot's secrets that still authenticate, newest first (no hashes)."""
        robot = self.get_robot(username)
        now = self.clock()
        rows = self.db.execute(
            "SELECT id, created, CASE WHEN expires_at IS NULL THEN revoked_at WHEN revoked_at IS NULL THEN expires_at"
            " WHEN expires_at < revoked_at THEN expires_at ELSE revoked_at END, last_used"
            f" FROM robot_secrets s WHERE robot_id = ? AND {live_secret()} ORDER BY id DESC",
            [robot.id, now, now],
        )
        return [SecretInfo(*row) for row in rows]

    def delete_robot(self, username: str) -> None:
        """Delete a robot; its secrets and permissions stop working at once.

        Raises NameInvalid or RobotNotFound.
        """
        robot = self.get_robot(username)
        self.db.execute("UPDATE robots SET deleted_at = ? WHERE id = ?", [self.clock(), robot.id])

    def _insert_secret(
        self, robot_id: int, new_secret: hashing.NewSecret, now: float, expires_at: float | None = None,
    ) -> int:
        return self.db.execute(
            "INSERT INTO robot_secrets (robot_id, hash, selector, created, expires_at) VALUES (?, ?, ?, ?, ?)"
            " RETURNING id",
            [robot_id, new_secret.hashed, hashing.selector(new_secret.secret), now, expires_at],
        ).fetchone()[0]

    # -- repositories -----------------------------------------------------------------

    def create_repository(self, full_name: str, visibility: str = "private", description: str = "") -> Repository:
        """Create repository ``namespace/name``.

        Returns the Repository; raises NameInvalid, NamespaceNotFound or AlreadyExists.
        """
        name = parse_repository_name(full_name)
        if visibility not in VISIBILITIES:
            raise NameInvalid(f"invalid visibility {visibility!r}: use public or private")
        namespace = self.get_namespace(name.namespace)
        try:
            self.db.execute(
                "INSERT INTO repositories (namespace_id, name, visibility, description, created) VALUES (?, ?, ?, ?, ?)",
                [namespace.id, name.name, visibility, check_description(description, limit=4096), self.clock()],
            )
        except DuplicateRow:
            raise AlreadyExists(f"repository {full_name!r} already exists") from None
        return self.get_repository(full_name)

    def get_repository(self, full_name: str) -> Repository:
        """Return the live repository ``namespace/name``; raises NameInvalid or RepositoryNotFound."""
        repository = self._find_repository(full_name)
        if repository is None:
            raise RepositoryNotFound(f"repository {full_name!r} does not exist")
        return repository

    def list_repositories(self, namespace: str) -> list[Repository]:
        """Return the live repositories of ``namespace``; raises NamespaceNotFound."""
        ns = self.get_namespace(namespace)
        rows = self.db.execute(
            f"SELECT {_REPO_COLUMNS} FROM repositories p JOIN namespaces n ON n.id = p.namespace_id"
            " WHERE p.namespace_id = ? AND p.deleted_at IS NULL ORDER BY p.name",
            [ns.id],
        )
        return [Repository(*row) for row in rows]

    def set_visibility(self, full_name: str, visibility: str) -> Repository:
        """Make a repository public or private; returns it. Raises NameInvalid or RepositoryNotFound."""
        if visibility not in VISIBILITIES:
            raise NameInvalid(f"invalid visibility {visibility!r}: use public or private")
        repository = self.get_repository(full_name)
        self.db.execute("UPDATE repositories SET visibility = ? WHERE id = ?", [visibility, repository.id])
        return self.get_repository(full_name)

    def delete_repository(self, full_name: str) -> None:
        """Delete a repository; grants on it stop at once. Raises NameInvalid or RepositoryNotFound."""
        repository = self.get_repository(full_name)
        self.db.execute("UPDATE repositories SET deleted_at = ? WHERE id = ?", [self.clock(), repository.id])

    def _find_repository(self, full_name: str) -> Repository | None:
        """Return the live repository ``full_name`` or None. Raises NameInvalid."""
        name = parse_repository_name(full_name)
        row = self.db.execute(
            f"SELECT {_REPO_COLUMNS} FROM repositories p JOIN namespaces n ON n.id = p.namespace_id"
            " WHERE n.name = ? AND p.name = ? AND p.deleted_at IS NULL AND n.deleted_at IS NULL",
            [name.namespace, name.name],
        ).fetchone()
        return Repository(*row) if row else None

    # -- permissions ------------------------------------------------------------------

    def grant(self, username: str, target: str, role: str | Role) -> Permission:
        """Give a robot ``role`` on ``target``: ``ns/repo`` (one repository) or ``ns`` (all of it).

        Replaces any role the robot had on that target. Returns the Permission. Raises
        NameInvalid, RobotNotFound, RepositoryNotFound, or GrantOutsideNamespace when the
        target is not in the robot's own namespace.
        """
        role = parse_role(role)
        robot = self.get_robot(username)
        repository = self._grant_target(robot, target)
        now = self.clock()
        with self.db.atomic():
            self._delete_permission(robot.id, repository)
            self.db.execute(
                "INSERT INTO permissions (robot_id, namespace_id, repository_id, role, created) VALUES (?, ?, ?, ?, ?)",
                [robot.id, robot.namespace_id, repository.id if repository else None, role.value, now],
            )
        return Permission(
            robot.username, robot.namespace, repository.name if repository else None, role,
            bool(repository and repository.is_public),
        )

    def revoke(self, username: str, target: str) -> None:
        """Remove a robot's role on ``target``.

        Raises NameInvalid, RobotNotFound, RepositoryNotFound, GrantOutsideNamespace, or
        PermissionNotFound when the robot had no role there.
        """
        robot = self.get_robot(username)
        repository = self._grant_target(robot, target)
        if self._delete_permission(robot.id, repository) == 0:
            raise PermissionNotFound(f"robot {username!r} has no permission on {target!r}")

    def get_permission(self, username: str, target: str) -> Permission:
        """Return the robot's role on ``target``; raises PermissionNotFound when it has none."""
        robot = self.get_robot(username)
        repository = self._grant_target(robot, target)
        for permission in self.list_permissions(username):
            if permission.repository == (repository.name if repository else None):
                return permission
        raise PermissionNotFound(f"robot {username!r} has no permission on {target!r}")

    def list_permissions(self, username: str) -> list[Permission]:
        """Return every live grant of the robot, namespace-wide first, then by repository."""
        robot = self.get_robot(username)
        rows = self.db.execute(
            "SELECT p.name, p.visibility, g.role FROM permissions g"
            " LEFT JOIN repositories p ON p.id = g.repository_id"
            " WHERE g.robot_id = ? AND (g.repository_id IS NULL OR p.deleted_at IS NULL)"
            " ORDER BY g.repository_id IS NOT NULL, p.name",
            [robot.id],
        )
        return [
            Permission(robot.username, robot.namespace, repo_name, Role(role), visibility == "public")
            for repo_name, visibility, role in rows
        ]

    def list_repository_permissions(self, full_name: str) -> list[Permission]:
        """Return every live robot's role on one repository (namespace-wide grants not included)."""
        repository = self.get_repository(full_name)
        rows = self.db.execute(
            "SELECT r.shortname, g.role FROM permissions g JOIN robots r ON r.id = g.robot_id"
            " WHERE g.repository_id = ? AND r.deleted_at IS NULL ORDER BY r.shortname",
            [repository.id],
        )
        return [
            Permission(f"{repository.namespace}+{short}", repository.namespace, repository.name, Role(role), repository.is_public)
            for short, role in rows
        ]

    def _grant_target(self, robot: Robot, target: str) -> Repository | None:
        """Resolve a grant target to a repository (None for the whole namespace)."""
        if "/" in target:
            namespace = parse_repository_name(target).namespace
        else:
            namespace = check_namespace(target)
        if namespace != robot.namespace:
            raise GrantOutsideNamespace(
                f"robot {robot.username!r} can only be granted rights inside namespace {robot.namespace!r}"
            )
        return self.get_repository(target) if "/" in target else None

    def _delete_permission(self, robot_id: int, repository: Repository | None) -> int:
        if repository is None:
            sql, params = "DELETE FROM permissions WHERE robot_id = ? AND repository_id IS NULL", [robot_id]
        else:
            sql, params = "DELETE FROM permissions WHERE robot_id = ? AND repository_id = ?", [robot_id, repository.id]
        return self.db.execute(sql, params).rowcount

    # -- the two core questions -------------------------------------------------------

    def authenticate(self, username: str, secret: str, *, record_use: bool = True) -> Principal:
        """Check a robot's secret against its bcrypt hashes.

        Returns the robot's Principal. Raises InvalidCredentials for an unknown or deleted
        robot, a wrong, replaced, expired or over-long secret. Only the live secret whose
        selector (``hashing.selector``) matches the one presented is checked, or a dummy hash
        when none does: every case runs one bcrypt check, so they cannot be told apart by
        timing or message, and a wrong secret costs one check however many secrets the
        robot has. A secret stored before selectors existed has none and is checked as well
        until its first successful login records it.

        With ``record_use`` False nothing is written (no use, no selector): the caller
        records them with ``confirm(principal, selector=...)`` in a transaction of its own.
        The gateway runs this on low-priority bcrypt threads, which must never hold the
        write lock: descheduled on a busy machine, they would stall every writer.
        """
        now = self.clock()
        robot_row = None
        try:
            name = parse_robot_name(username)
        except NameInvalid:
            name = None
        if name is not None:
            robot_row = self.db.execute(
                "SELECT r.id, r.namespace_id, r.last_accessed FROM robots r JOIN namespaces n ON n.id = r.namespace_id"
                " WHERE n.name = ? AND r.shortname = ? AND r.deleted_at IS NULL AND n.deleted_at IS NULL",
                [name.namespace, name.shortname],
            ).fetchone()
        candidates = []
        presented = hashing.selector(secret)
        if robot_row is not None:
            # Expired secrets stay candidates, so that their owner hears that they expired.
            candidates = self.db.execute(
                "SELECT s.id, s.hash, s.expires_at, s.last_used, s.selector FROM robot_secrets s WHERE s.robot_id = ?"
                f" AND {unreplaced_secret()} AND (s.selector = ? OR s.selector IS NULL)"
                " ORDER BY s.selector IS NULL, s.id DESC",
                [robot_row[0], now, presented],
            ).fetchall()
        matched = secret_last_used = None
        expired_match = unrecorded = False
        for secret_id, hashed, expires_at, last_used, stored_selector in candidates or [(None, None, None, None, 0)]:
            if hashing.verify_secret(secret, hashed, self.bcrypt_cost):
                if expires_at is not None and expires_at <= now:
                    expired_match = True
                    continue
                matched, secret_last_used, unrecorded = secret_id, last_used, stored_selector is None
                break
        if matched is None:
            if expired_match:
                raise InvalidCredentials(f"the secret of robot {username} has expired: regenerate it", reason="expired")
            raise InvalidCredentials()
        robot_id, namespace_id, last_accessed = robot_row
        if record_use:
            self._touch(robot_id, last_accessed, now, matched, secret_last_used, presented if unrecorded else None)
        return Principal(kind="robot", username=username, robot_id=robot_id, namespace_id=namespace_id, secret_id=matched)

    def confirm(self, principal: Principal, *, selector: int | None = None) -> bool:
        """Return True while the principal's robot, namespace and secret are all still live.

        One indexed query, used to re-check an earlier verification without bcrypt (and, in
        the transaction that issues a token, to check it once more); records the robot's use
        like ``authenticate`` does, and ``selector`` (``hashing.selector`` of the secret just
        verified) for a secret stored without one.
        """
        now = self.clock()
        row = self.db.execute(
            "SELECT r.last_accessed, s.last_used FROM robot_secrets s JOIN robots r ON r.id = s.robot_id"
            " JOIN namespaces n ON n.id = r.namespace_id"
            " WHERE s.id = ? AND r.id = ? AND r.deleted_at IS NULL AND n.deleted_at IS NULL"
            f" AND {live_secret()}",
            [principal.secret_id, principal.robot_id, now, now],
        ).fetchone()
        if row is None:
            return False
        self._touch(principal.robot_id, row[0], now, principal.secret_id, row[1], selector)
        return True

    def authorize(self, principal: Principal, resource: Resource, actions: Iterable[str]) -> frozenset[str]:
        """Return the subset of ``actions`` the principal may perform on ``resource``.

        Deny by default: unknown types, names outside the rules, other namespaces and
        missing grants yield an empty set. Anonymous callers (and everyone else) may pull
        public repositories. A push to a repository that does not exist yet creates it,
        private, when the robot holds write or admin on the namespace.
        """
        requested = frozenset(actions)
        if resource.type != "repository" or not requested:
            return frozenset()
        try:
            name = parse_repository_name(resource.name)
        except NameInvalid:
            return frozenset()
        repository_id, is_public, role = self._repository_and_role(principal, name)
        allowed = set(PUBLIC_ACTIONS) if is_public else set()
        if role is not None:
            allowed |= ROLE_ACTIONS[role]
            if repository_id is None and "push" in requested and "push" in ROLE_ACTIONS[role]:
                self._create_pushed_repository(resource.name)
        return requested & frozenset(allowed)

    def _repository_and_role(self, principal: Principal, name: RepositoryName) -> tuple[int | None, bool, Role | None]:
        """Return the live repository's id (None when it does not exist), whether it is
        public, and the principal's strongest role on it (None for none, and always for
        anonymous callers).

        One statement, where a repository lookup and a grant lookup were two (every token
        request runs it): the live namespace by name, its live repository, and the robot's
        namespace-wide grant and grant on the repository, each an index probe. Grants count
        only in the robot's own namespace.
        """
        rows = self.db.execute(
            "SELECT p.id, p.visibility, g.role FROM namespaces n"
            " LEFT JOIN repositories p ON p.namespace_id = n.id AND p.name = ? AND p.deleted_at IS NULL"
            " LEFT JOIN permissions g ON n.id = ? AND g.robot_id = ?"
            " AND (g.repository_id IS NULL OR g.repository_id = p.id)"
            " WHERE n.name = ? AND n.deleted_at IS NULL",
            [name.name, principal.namespace_id, principal.robot_id, name.namespace],
        ).fetchall()
        if not rows:
            return None, False, None
        repository_id, visibility, _ = rows[0]
        return repository_id, visibility == "public", strongest(Role(row[2]) for row in rows if row[2] is not None)

    def _create_pushed_repository(self, full_name: str) -> None:
        try:
            self.create_repository(full_name, "private")
        except AlreadyExists:
            pass  # a concurrent push created it first

    def _touch(
        self, robot_id: int, last_accessed: float | None, now: float, secret_id: int | None = None,
        secret_last_used: float | None = None, selector: int | None = None,
    ) -> None:
        """Record the robot's use (``robots.last_accessed``) and, given ``secret_id``, the
        secret's (``robot_secrets.last_used``), each at most once per LAST_ACCESSED_INTERVAL,
        and, given ``selector``, the selector of a secret stored without one; a busy
        database never fails or stalls the login.

        The write waits for another process's write lock only briefly (not the connection's
        full busy timeout): a skipped record is retried on the robot's next request, a login
        held up for seconds behind a long write is not.
        """
        robot_due = last_accessed is None or now - last_accessed >= LAST_ACCESSED_INTERVAL
        secret_due = secret_id is not None and (
            secret_last_used is None or now - secret_last_used >= LAST_ACCESSED_INTERVAL
        )
        if not (robot_due or secret_due or selector is not None):
            return
        cutoff = now - LAST_ACCESSED_INTERVAL

        def record() -> None:  # one write transaction for both
            if robot_due:
                self.db.execute(
                    "UPDATE robots SET last_accessed = ? WHERE id = ? AND (last_accessed IS NULL OR last_accessed <= ?)",
                    [now, robot_id, cutoff],
                )
            if secret_due:
                self.db.execute(
                    "UPDATE robot_secrets SET last_used = ? WHERE id = ? AND (last_used IS NULL OR last_used <= ?)",
                    [now, secret_id, cutoff],
                )
            if selector is not None:
                self.db.execute(
                    "UPDATE robot_secrets SET selector = ? WHERE id = ? AND selector IS NULL", [selector, secret_id],
                )

        self._brief_write(f"the use of robot id {robot_id}", record)

    def _brief_write(self, what: str, write: Callable[[], object]) -> None:
        """Run ``write()`` in a write transaction that waits for another process's write lock
        only briefly (BRIEF_WRITE_WAIT_MS, not the full busy timeout); when the lock is not
        granted, or the write fails, it is rolled back and logged (naming ``what``), not raised.

        For bookkeeping a login does on the way (when a robot, secret or refresh token was
        last used): a skipped record is retried on the next request, a login held up for
        seconds behind a long write, or refused because of one, is not.
        """
        try:
            with self.db.atomic(lock_wait=BRIEF_WRITE_WAIT):
                write()
        except StoreUnavailable as exc:
            log.warning("could not record %s: %s", what, exc)


def _robot(row) -> Robot:
    id_, namespace_id, namespace, shortname, description, metadata, created, last_accessed = row
    return Robot(id_, namespace_id, namespace, shortname, description, json.loads(metadata or "{}"), created, last_accessed)

