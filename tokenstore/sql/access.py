"""The two core questions: who is asking (``authenticate``, and ``confirm`` to re-check an
earlier answer without bcrypt) and what they may do (``authorize``)."""

from collections.abc import Iterable

from .. import hashing
from ..errors import AlreadyExists, InvalidCredentials, NameInvalid
from ..models import Principal
from ..names import RepositoryName, parse_repository_name, parse_robot_name
from ..permissions import PUBLIC_ACTIONS, ROLE_ACTIONS, Resource, Role, strongest
from ..teams import NO_TEAM_GRANT, TeamGrant
from . import prototypes, repositories, teams
from .base import QueryBase
from .secret_lifecycle import live_secret, unreplaced_secret
from .user_access import user_repository_and_role


def confirmation_sql(secret_id: str, robot_id: str) -> str:
    """The statement ``confirm`` reads with: the robot's last_accessed and the secret's
    last_used while robot, namespace and secret are all live (no row otherwise).
    ``secret_id`` and ``robot_id`` are SQL expressions: ``?`` for one robot, a column of
    the list a backend reads a batch's ahead for (tokenstore/postgres/read_ahead.py). Its
    other two parameters are the time now, twice."""
    return (
        "SELECT r.last_accessed, s.last_used FROM robot_secrets s JOIN robots r ON r.id = s.robot_id"
        " JOIN namespaces n ON n.id = r.namespace_id"
        f" WHERE s.id = {secret_id} AND r.id = {robot_id} AND r.deleted_at IS NULL AND r.disabled_at IS NULL"
        f" AND n.deleted_at IS NULL AND {live_secret()}"
    )


def role_rows_sql(*, repository: str, namespace_id: str, robot_id: str, namespace: str) -> str:
    """The statement ``_repository_and_role`` reads with (see ``_role_rows``). The arguments
    are SQL expressions, each standing once in the text but ``namespace_id`` and
    ``robot_id``, twice, in this order: repository, namespace_id, robot_id, namespace_id,
    robot_id, namespace: ``?`` for one robot, columns of a batch's list when read ahead."""
    return (
        "SELECT p.id, p.visibility, g.role, n.id, t.role, tp.role FROM namespaces n"
        f" LEFT JOIN repositories p ON p.namespace_id = n.id AND p.name = {repository} AND p.deleted_at IS NULL"
        f" LEFT JOIN permissions g ON n.id = {namespace_id} AND g.robot_id = {robot_id}"
        " AND (g.repository_id IS NULL OR g.repository_id = p.id)"
        f" LEFT JOIN team_members m ON n.id = {namespace_id} AND m.robot_id = {robot_id}"
        " LEFT JOIN teams t ON t.id = m.team_id AND t.namespace_id = n.id"
        " LEFT JOIN team_permissions tp ON tp.team_id = t.id AND tp.repository_id = p.id"
        f" WHERE n.name = {namespace} AND n.deleted_at IS NULL"
    )


def confirm_key(principal: Principal) -> tuple:
    """The key under which a read ahead of ``confirm(principal)`` is remembered."""
    return ("confirm", principal.secret_id, principal.robot_id)


def role_key(principal: Principal, name: RepositoryName) -> tuple:
    """The key under which a read ahead of the robot's role on repository ``name`` is remembered."""
    return robot_role_key(principal.namespace_id, principal.robot_id, name)


def robot_role_key(namespace_id: int | None, robot_id: int | None, name: RepositoryName) -> tuple:
    """``role_key`` of the robot ``robot_id`` of namespace ``namespace_id``."""
    return ("role", namespace_id, robot_id, name.namespace, name.name)


class AccessQueries(QueryBase):
    """Store methods answering who is asking and what they may do."""

    def authenticate(self, username: str, secret: str, *, record_use: bool = True) -> Principal:
        """Check a robot's secret against its bcrypt hashes.

        Returns the robot's Principal. Raises InvalidCredentials for an unknown or deleted
        robot, a wrong, replaced, expired or over-long secret, and for a disabled robot
        (reason "disabled", once the secret matched). Only the live secret whose
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
                "SELECT r.id, r.namespace_id, r.last_accessed, r.disabled_at FROM robots r"
                " JOIN namespaces n ON n.id = r.namespace_id"
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
        robot_id, namespace_id, last_accessed, disabled_at = robot_row
        if disabled_at is not None:
            # Said only to whoever holds the right secret, like an expiry.
            raise InvalidCredentials(
                f"robot {username} is disabled: an admin of its namespace can enable it again", reason="disabled",
            )
        if record_use:
            self._record_use(robot_id, last_accessed, now, matched, secret_last_used, presented if unrecorded else None)
        return Principal(kind="robot", username=username, robot_id=robot_id, namespace_id=namespace_id, secret_id=matched)

    def confirm(self, principal: Principal, *, selector: int | None = None) -> bool:
        """Return True while the principal's robot, namespace and secret are all still live
        (and the robot is not disabled).

        One indexed query, used to re-check an earlier verification without bcrypt (and, in
        the transaction that issues a token, to check it once more); records the robot's use
        like ``authenticate`` does, and ``selector`` (``hashing.selector`` of the secret just
        verified) for a secret stored without one.
        """
        now = self.clock()
        rows = self.db.recall(confirm_key(principal))
        if rows is None:
            rows = self._confirmation_rows(principal, now)
        if not rows:
            return False
        row = rows[0]
        self._record_use(principal.robot_id, row[0], now, principal.secret_id, row[1], selector)
        return True

    def _confirmation_rows(self, principal: Principal, now: float) -> list[tuple]:
        """The row ``confirm`` reads, (robot's last_accessed, secret's last_used), or none when
        the verification no longer holds (``confirmation_sql``)."""
        return self.db.execute(
            confirmation_sql("?", "?"), [principal.secret_id, principal.robot_id, now, now],
        ).fetchall()

    def authorize(self, principal: Principal, resource: Resource, actions: Iterable[str]) -> frozenset[str]:
        """Return the subset of ``actions`` the principal may perform on ``resource``.

        Deny by default: unknown types, names outside the rules, other namespaces and
        missing grants yield an empty set. Anonymous callers (and everyone else) may pull
        public repositories. A push to a repository that does not exist yet creates it,
        private, when the robot holds write or admin on the namespace. A robot's rights are
        the union of its own grants and its teams' (``teams.team_grant``); a push by a member
        of a creator team creates the repository and makes the robot its admin. A person's
        rights are in ``user_access``.
        """
        requested = frozenset(actions)
        if resource.type != "repository" or not requested:
            return frozenset()
        try:
            name = parse_repository_name(resource.name)
        except NameInvalid:
            return frozenset()
        if principal.is_user:  # a person logged in with an app token
            repository_id, is_public, role = user_repository_and_role(self.db, principal, name)
        else:
            repository_id, is_public, role, namespace_id, team = self._repository_and_role(principal, name)
        may_create = role is not None and "push" in ROLE_ACTIONS[role]
        if principal.is_robot and namespace_id == principal.namespace_id and role is not Role.ADMIN:
            # The robot's teams add to its own grants (teams count in its own namespace only).
            role = strongest(r for r in (role, team.role) if r is not None)
            creates = repository_id is None and team.may_create and "push" in requested and not may_create
            # Quay's rule: who creates a repository by a push gets admin on it.
            if creates and self._create_pushed_repository(resource.name, principal, admin=True):
                return requested & ROLE_ACTIONS[Role.ADMIN]
        allowed = set(PUBLIC_ACTIONS) if is_public else set()
        if role is not None:
            allowed |= ROLE_ACTIONS[role]
            if repository_id is None and "push" in requested and "push" in ROLE_ACTIONS[role]:
                self._create_pushed_repository(resource.name, principal)
        return requested & frozenset(allowed)

    def _repository_and_role(
        self, principal: Principal, name: RepositoryName,
    ) -> tuple[int | None, bool, Role | None, int | None, TeamGrant]:
        """Return the live repository's id (None when it does not exist), whether it is
        public, the principal's strongest own role on it (None for none, and always for
        anonymous callers), the live namespace's id (None when there is none), and what the
        robot's teams give on it (``teams.team_grant``).

        One statement, where lookups of the repository, the grants and the teams were three
        (every token request runs it): the live namespace by name, its live repository, the
        robot's namespace-wide grant and grant on the repository, and its teams with their
        roles on the repository, each an index probe. Grants and teams count only in the
        robot's own namespace.
        """
        rows = self.db.recall(role_key(principal, name))  # read ahead for the batch, if it was
        if rows is None:
            rows = self._role_rows(principal, name)
        if not rows:
            return None, False, None, None, NO_TEAM_GRANT
        repository_id, visibility, _, namespace_id, _, _ = rows[0]
        own = strongest(Role(row[2]) for row in rows if row[2] is not None)
        team = teams.grant_of_team_rows((row[4], row[5]) for row in rows)
        return repository_id, visibility == "public", own, namespace_id, team

    def _role_rows(self, principal: Principal, name: RepositoryName) -> list[tuple]:
        """The rows ``_repository_and_role`` reads: (repository id, visibility, own role,
        namespace id, team role, team's role on the repository), none when the namespace is
        not live (``role_rows_sql``)."""
        return self.db.execute(
            role_rows_sql(repository="?", namespace_id="?", robot_id="?", namespace="?"),
            [name.name, principal.namespace_id, principal.robot_id, principal.namespace_id, principal.robot_id,
             name.namespace],
        ).fetchall()

    def _create_pushed_repository(self, full_name: str, creator: Principal, *, admin: bool = False) -> bool:
        """Create the repository a push names, private, with its organization's default
        permissions for ``creator`` (the robot or person whose token pushes; see
        ``prototypes.apply_prototypes``); with ``admin`` the robot ``creator`` gets admin on
        it. All in one transaction. Returns False when a concurrent push created it first."""
        try:
            with self.db.atomic():
                repository = repositories.create_repository(self.db, full_name, "private", "", self.clock())
                if admin:
                    self.db.execute(
                        "INSERT INTO permissions (robot_id, namespace_id, repository_id, role, created)"
                        " VALUES (?, ?, ?, 'admin', ?)",
                        [creator.robot_id, repository.namespace_id, repository.id, self.clock()],
                    )
                prototypes.apply_prototypes(
                    self.db, repository, self.clock(), user_id=creator.user_id, robot_id=creator.robot_id,
                )
        except AlreadyExists:
            return False
        return True
