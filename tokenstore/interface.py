"""What callers may ask of a store: ``TokenStore``, the interface every backend implements
(SQLite in ``tokenstore/sqlite/``, PostgreSQL in ``tokenstore/postgres/``).

The gateway types its store as ``TokenStore`` and never reaches past it. Every method is
synchronous and may block (bcrypt, the database): call it from a thread. Besides the errors
each method names, any method may raise ``StoreUnavailable`` (``StoreBusy`` when a lock was
not granted in time).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .accounts import ApiToken, IssuedApiToken, Membership, NamespaceAccess, User
    from .app_tokens import AppToken, IssuedAppToken
    from .audit import AuditEvent
    from .federation import FederatedCredential, Federation
    from .hashing import NewSecret
    from .models import (
        AccessReads,
        IssuedSecret,
        Namespace,
        Permission,
        Principal,
        Repository,
        Robot,
        SecretInfo,
    )
    from .permissions import Resource, Role
    from .prototypes import Prototype
    from .registry_activity import RepositoryEvent
    from .robot_controls import RobotSettings
    from .teams import Team, TeamGrant, TeamMember, TeamPermission
    from .ui_sessions import UiSession


class TokenStore(Protocol):
    """Robots, their secrets and rights, users, organizations and the audit log."""

    bcrypt_cost: int
    clock: Callable[[], float]
    #: "sqlite" or "postgresql".
    backend: str

    # -- the backend ------------------------------------------------------------------

    @property
    def location(self) -> str:
        """Where the data lives, for people (a file path, or a URL without its password)."""
        ...

    def transaction(self) -> AbstractContextManager[object]:
        """Return a context manager running its block in one write transaction (nested: a
        savepoint) that holds the store's write lock from its start: committed at the end,
        rolled back when the block raises."""
        ...

    def check(self) -> None:
        """Raise StoreUnavailable unless the store answers a read."""
        ...

    def record_readiness(self) -> float:
        """Commit a write of the time now to a row kept for that (``/readyz``); returns the
        time. Meant for the writer thread (``run_batch``). Raises StoreUnavailable when the
        write cannot commit."""
        ...

    def watch(self) -> None:
        """The cheap check a serving process runs once a second; raises StoreReplaced when
        the data was removed or replaced under it (every later use then fails too)."""
        ...

    def run_batch(
        self, jobs: list[Callable[[], object]], reads: Sequence[AccessReads | None] = (),
    ) -> list[tuple[bool, object]]:
        """Run short writes in one transaction, each in a savepoint; returns one (ok, result
        or exception) per job. The writer thread's way to commit many requests' writes at once.
        ``reads`` (one per job, or none) say what the token issuances among the jobs will
        read, which a store may read for all of them at once before they run."""
        ...

    def housekeeping(self) -> object | None:
        """Start what a serving process runs beside its requests (SQLite: the WAL
        checkpointer); returns it (its ``close`` stops it) or None."""
        ...

    def close_writer(self) -> None:
        """Release what ``run_batch`` holds."""
        ...

    def close(self) -> None:
        """Close every connection the store opened."""
        ...

    # -- SqlStore (store) ------------------------------------------

    def create_namespace(self, name: str, kind: str = "organization") -> Namespace:
        """Create a namespace (an organization or a user's own)."""
        ...

    def get_namespace(self, name: str) -> Namespace:
        """Return the live namespace ``name``; raises NamespaceNotFound."""
        ...

    def list_namespaces(self, kind: str | None = None) -> list[Namespace]:
        """Return the live namespaces, optionally of one kind, ordered by name."""
        ...

    def delete_namespace(self, name: str) -> None:
        """Delete a namespace with its robots, secrets and repositories, effective at once."""
        ...

    def create_robot(
        self,
        username: str,
        description: str = "",
        unstructured_metadata: dict | None = None,
        *,
        new_secret: NewSecret | None = None,
    ) -> IssuedSecret:
        """Create robot ``namespace+shortname`` with a fresh secret (``new_secret``, made
        before the caller's transaction began, or one made here)."""
        ...

    def get_robot(self, username: str) -> Robot:
        """Return the live robot ``namespace+shortname``; raises NameInvalid or RobotNotFound."""
        ...

    def list_robots(self, namespace: str, limit: int | None = None) -> list[Robot]:
        """Return the live robots of ``namespace`` ordered by shortname; raises NamespaceNotFound."""
        ...

    def update_robot(
        self, username: str, *, description: str | None = None, unstructured_metadata: dict | None = None
    ) -> Robot:
        """Change a robot's description and/or metadata; returns the updated Robot."""
        ...

    def regenerate_secret(
        self,
        username: str,
        *,
        grace_seconds: float = 0,
        expires_at: float | None = None,
        new_secret: NewSecret | None = None,
    ) -> IssuedSecret:
        """Replace the robot's secret with a new one (``new_secret``, made before the caller's
        transaction began, or one made here)."""
        ...

    def list_secrets(self, username: str) -> list[SecretInfo]:
        """Return the robot's secrets that still authenticate, newest first (no hashes)."""
        ...

    def delete_robot(self, username: str) -> None:
        """Delete a robot; its secrets and permissions stop working at once."""
        ...

    def create_repository(
        self, full_name: str, visibility: str = "private", description: str = "", *, creator: str | None = None,
    ) -> Repository:
        """Create repository ``namespace/name`` with its organization's default permissions
        for ``creator`` (a user or robot name; None: only those without an activating user)."""
        ...

    def get_repository(self, full_name: str) -> Repository:
        """Return the live repository ``namespace/name``; raises NameInvalid or RepositoryNotFound."""
        ...

    def list_repositories(self, namespace: str) -> list[Repository]:
        """Return the live repositories of ``namespace``; raises NamespaceNotFound."""
        ...

    def set_visibility(self, full_name: str, visibility: str) -> Repository:
        """Make a repository public or private; returns it. Raises NameInvalid or RepositoryNotFound."""
        ...

    def delete_repository(self, full_name: str) -> None:
        """Delete a repository; grants on it stop at once. Raises NameInvalid or RepositoryNotFound."""
        ...

    def grant(self, username: str, target: str, role: str | Role) -> Permission:
        """Give a robot ``role`` on ``target``: ``ns/repo`` (one repository) or ``ns`` (all of it)."""
        ...

    def revoke(self, username: str, target: str) -> None:
        """Remove a robot's role on ``target``."""
        ...

    def get_permission(self, username: str, target: str) -> Permission:
        """Return the robot's role on ``target``; raises PermissionNotFound when it has none."""
        ...

    def list_permissions(self, username: str) -> list[Permission]:
        """Return every live grant of the robot, namespace-wide first, then by repository."""
        ...

    def list_repository_permissions(self, full_name: str) -> list[Permission]:
        """Return every live robot's role on one repository (namespace-wide grants not included)."""
        ...

    def authenticate(self, username: str, secret: str, *, record_use: bool = True) -> Principal:
        """Check a robot's secret against its bcrypt hashes."""
        ...

    def confirm(self, principal: Principal, *, selector: int | None = None) -> bool:
        """Return True while the principal's robot, namespace and secret are all still live."""
        ...

    def authorize(self, principal: Principal, resource: Resource, actions: Iterable[str]) -> frozenset[str]:
        """Return the subset of ``actions`` the principal may perform on ``resource``."""
        ...

    # -- Federation (federation) ----------------------------------

    def list_federations(self, username: str) -> list[Federation]:
        """Return the robot's federation settings in the order they were set."""
        ...

    def set_federations(self, username: str, body: object) -> list[Federation]:
        """Replace the robot's federation settings with those in ``body`` (Quay's POST)."""
        ...

    def delete_federations(self, username: str) -> list[Federation]:
        """Remove every federation setting of the robot; their credentials stop at once."""
        ...

    def federations_for_exchange(self, username: str, issuer: str) -> list[Federation]:
        """Return the live robot's settings for ``issuer`` (exact match), [] for any unknown
        or malformed robot name, so an exchange cannot tell a missing robot from a robot
        without a matching setting."""
        ...

    def issue_federated_credential(self, username: str, federation_id: int) -> FederatedCredential:
        """Issue a credential valid FEDERATED_CREDENTIAL_TTL seconds through one setting."""
        ...

    def authenticate_federated(self, username: str, credential: str) -> Principal:
        """Check a federated credential presented as ``username``'s password."""
        ...

    # -- RefreshToken (refresh_tokens) ----------------------------

    def issue_refresh_token(self, principal: Principal, client_id: str = "") -> str:
        """Return a new refresh token bound to the principal's robot and secret."""
        ...

    def redeem_refresh_token(self, token: str) -> Principal:
        """Return the Principal a refresh token stands for."""
        ...

    def count_refresh_tokens(self, username: str) -> int:
        """Return how many refresh tokens of the robot still work."""
        ...

    # -- SecretLifecycle (secret_lifecycle) -----------------------

    def oldest_live_secrets(self) -> dict[str, float]:
        """Return, for each namespace with a live robot secret (current, or in grace, and
        not expired), when its oldest was created (UNIX seconds), keyed by namespace name."""
        ...

    def check_expires_at(self, expires_at: float | None) -> float | None:
        """Return ``expires_at`` (UNIX seconds, or None for never) if it lies in the future."""
        ...

    def create_robot_expiring(
        self,
        username: str,
        description: str = "",
        unstructured_metadata: dict | None = None,
        *,
        expires_at: float | None = None,
        new_secret: NewSecret | None = None,
    ) -> IssuedSecret:
        """Create a robot like ``create_robot``, its secret expiring at ``expires_at`` (None: never)."""
        ...

    def rotate_secret(
        self,
        username: str,
        *,
        grace_seconds: object = 0,
        expires_at: float | None = None,
        new_secret: NewSecret | None = None,
    ) -> IssuedSecret:
        """Regenerate the robot's secret after checking the lifetimes."""
        ...

    # -- Accounts (accounts) --------------------------------------

    def create_user(self, username: str, password: str, *, superuser: bool = False) -> User:
        """Create a user and their own namespace."""
        ...

    def get_user(self, username: str) -> User:
        """Return the live user ``username``; raises UserNotFound."""
        ...

    def list_users(self) -> list[User]:
        """Return the live users ordered by name."""
        ...

    def delete_user(self, username: str) -> None:
        """Delete a user with their namespace, robots and repositories, effective at once."""
        ...

    def check_password(self, username: str, password: str) -> User:
        """Return the user when ``password`` is theirs."""
        ...

    def create_organization(self, name: str, admin: str | None = None) -> Namespace:
        """Create an organization, with user ``admin`` as its first admin when given."""
        ...

    def get_organization(self, name: str) -> Namespace:
        """Return the live organization ``name``; raises NamespaceNotFound (also for a user's namespace)."""
        ...

    def set_member(self, organization: str, username: str, role: str = "member") -> Membership:
        """Make ``username`` a member of ``organization`` with ``role`` (admin or member)."""
        ...

    def remove_member(self, organization: str, username: str) -> None:
        """Take ``username`` out of ``organization``."""
        ...

    def get_member(self, organization: str, username: str) -> Membership:
        """Return the user's membership; raises NamespaceNotFound or MemberNotFound."""
        ...

    def list_members(self, organization: str) -> list[Membership]:
        """Return the organization's members ordered by name; raises NamespaceNotFound."""
        ...

    def list_user_organizations(self, user: User) -> list[Membership]:
        """Return the live organizations ``user`` belongs to, ordered by name."""
        ...

    def namespace_access(self, user: User, namespace: str) -> NamespaceAccess:
        """Return ``user``'s standing in ``namespace`` in one query (see NamespaceAccess)."""
        ...

    def create_api_token(
        self, username: str, *, expires_at: float | None = None, description: str = ""
    ) -> IssuedApiToken:
        """Create an API token for ``username``; the clear token is in the result only."""
        ...

    def authenticate_api_token(self, token: str) -> User:
        """Return the user an API token belongs to."""
        ...

    def list_api_tokens(self, username: str | None = None) -> list[ApiToken]:
        """Return the API tokens (live, expired and revoked) of one user or of all, oldest first."""
        ...

    def revoke_api_token(self, ident: str | int) -> ApiToken:
        """Revoke an API token named by its id, its prefix, or the token itself."""
        ...

    # -- Audit (audit) --------------------------------------------

    def record_event(
        self,
        kind: str,
        namespace: str,
        *,
        performer: str | None = None,
        performer_kind: str | None = None,
        ip: str | None = None,
        repository: str | None = None,
        metadata: dict | None = None,
    ) -> bool:
        """Append a row to the log of the live namespace ``namespace``."""
        ...

    def record_refusal(
        self,
        kind: str,
        namespace: str,
        *,
        performer: str,
        ip: str | None,
        reason: str,
        metadata: dict,
        interval: float = ...,
        performer_kind: str = ...,
    ) -> bool:
        """Count a refused attempt by ``performer`` (a robot name as the client sent it, or a
        user's with ``performer_kind`` "user") in the log of the live namespace ``namespace``."""
        ...

    def record_robot_login(
        self,
        username: str,
        *,
        success: bool,
        reason: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
        scopes: list[str] | None = None,
        access: list[dict] | None = None,
    ) -> None:
        """Log a robot's token request in the robot's namespace."""
        ...

    def list_events(
        self,
        namespace: str,
        *,
        start: float,
        end: float,
        kinds: list[str] | None = None,
        performer: str | None = None,
        before: tuple[float, int] | None = None,
        limit: int = ...,
    ) -> tuple[list[AuditEvent], tuple[float, int] | None]:
        """Return one page of ``namespace``'s log, newest first, and the cursor of the next page."""
        ...

    # -- Listings (listings) --------------------------------------

    def list_namespace_grants(self, namespace: str) -> list[Permission]:
        """Return the namespace-wide grants of ``namespace``'s live robots, by robot name."""
        ...

    def robot_repositories(self, namespace: str) -> dict[str, list[str]]:
        """Map each live robot of ``namespace`` with repository grants to those repositories' names."""
        ...

    # -- Collector (collector) ------------------------------------

    def collect_garbage(
        self, *, batch_size: int = ..., retention: float = ..., audit_retention: float | None = None
    ) -> dict[str, int]:
        """Hard-delete deleted namespaces, users, robots and repositories, with every row that
        refers to them; secrets and API tokens revoked or expired ``retention`` seconds ago;
        expired keyless credentials; expired or idle web UI sessions; failed sign-ins older
        than the sign-in throttle's window; audit log rows older than ``audit_retention``
        seconds (None keeps them all)."""
        ...

    # -- UiSession (ui_sessions) ----------------------------------

    def create_ui_session(self, user_id: int, *, lifetime: float = ...) -> UiSession:
        """Start a session for user ``user_id``; returns it with its clear ``session_id``."""
        ...

    def get_ui_session(self, session_id: str) -> UiSession | None:
        """Return the live session with this clear id, or None."""
        ...

    def end_ui_session(self, session_id: str) -> None:
        """Delete the session with this clear id (signing out); unknown ids are ignored."""
        ...

    def end_user_ui_sessions(self, user_id: int) -> int:
        """Delete every session of a user (after a password change, say); returns how many."""
        ...

    def purge_ui_sessions(self) -> int:
        """Delete expired and idle sessions; returns how many rows went."""
        ...

    # -- AuditedChanges (audited_changes) -------------------------

    def create_robot_audited(
        self,
        username: str,
        description: str = "",
        unstructured_metadata: dict | None = None,
        *,
        expires_at: float | None = None,
        actor: dict | None = None,
        via: str | None = None,
        new_secret: NewSecret | None = None,
    ) -> IssuedSecret:
        """Create a robot (see ``create_robot_expiring``) and log ``create_robot``; its secret
        is ``new_secret`` (made before, e.g. on a bcrypt thread) or one made here."""
        ...

    def regenerate_robot_audited(
        self,
        username: str,
        *,
        grace_seconds: object = 0,
        expires_at: float | None = None,
        actor: dict | None = None,
        via: str | None = None,
        new_secret: NewSecret | None = None,
    ) -> IssuedSecret:
        """Replace the robot's secret (see ``rotate_secret``) with ``new_secret`` (or one made
        here) and log ``regenerate_robot_token``."""
        ...

    def delete_robot_audited(self, username: str, *, actor: dict | None = None, via: str | None = None) -> None:
        """Delete a robot (see ``delete_robot``) and log ``delete_robot``."""
        ...

    def grant_audited(
        self, username: str, target: str, role: str, *, actor: dict | None = None, via: str | None = None
    ) -> Permission:
        """Give a robot a role (see ``grant``) and log ``change_repo_permission`` or, for a
        whole namespace, ``change_namespace_permission``. Returns the Permission."""
        ...

    def revoke_audited(self, username: str, target: str, *, actor: dict | None = None, via: str | None = None) -> None:
        """Remove a robot's role (see ``revoke``) and log ``delete_repo_permission`` or
        ``delete_namespace_permission``."""
        ...

    # -- SigninThrottle (signin_throttle) -------------------------

    def signin_wait(self, username: str, address: str | None) -> float:
        """Return how many seconds must pass before ``username`` may try to sign in again from
        ``address``; 0 when an attempt may go ahead now."""
        ...

    def record_signin_failure(self, username: str, address: str | None) -> None:
        """Count a failed sign-in of ``username`` from ``address``."""
        ...

    def clear_signin_failures(self, username: str, address: str | None) -> None:
        """Forget the failed sign-ins of ``username`` from ``address`` (after a successful one)."""
        ...

    # -- RegistryActivity (registry_activity) ---------------------

    def record_repository_events(self, events: list[RepositoryEvent]) -> int:
        """Write one audit row per event not written before; returns how many were written."""
        ...

    # -- Teams (teams) --------------------------------------------

    def create_team(self, organization: str, name: str, role: str = "member", description: str = "") -> Team:
        """Create a team with an organization role; raises NameInvalid, NamespaceNotFound or AlreadyExists."""
        ...

    def get_team(self, organization: str, name: str) -> Team:
        """Return the team; raises NameInvalid, NamespaceNotFound or TeamNotFound."""
        ...

    def list_teams(self, organization: str) -> list[Team]:
        """Return the organization's teams, oldest first; raises NamespaceNotFound."""
        ...

    def update_team(
        self, organization: str, name: str, *, role: str | None = None, description: str | None = None,
    ) -> Team:
        """Change a team's role and/or description; raises NameInvalid, NamespaceNotFound or TeamNotFound."""
        ...

    def delete_team(self, organization: str, name: str) -> None:
        """Delete a team with its members and roles; raises NameInvalid, NamespaceNotFound or TeamNotFound."""
        ...

    def add_team_member(self, organization: str, team: str, member: str) -> TeamMember:
        """Add a user of the organization or one of its robots to the team; raises
        TeamNotFound, UserNotFound, RobotNotFound or NotInOrganization."""
        ...

    def remove_team_member(self, organization: str, team: str, member: str) -> None:
        """Take a user or robot out of the team; raises TeamNotFound, UserNotFound,
        RobotNotFound or TeamMemberNotFound."""
        ...

    def list_team_members(self, organization: str, team: str) -> list[TeamMember]:
        """Return the team's live members, people first; raises TeamNotFound."""
        ...

    def member_teams(self, organization: str, member: str) -> list[str]:
        """Return the names of the organization's teams a user or robot is in."""
        ...

    def set_team_permission(self, organization: str, team: str, full_name: str, role: str | Role) -> TeamPermission:
        """Give the team a role on a repository of its organization; raises TeamNotFound,
        RepositoryNotFound or NotInOrganization."""
        ...

    def get_team_permission(self, organization: str, team: str, full_name: str) -> TeamPermission:
        """Return the team's role on a repository; raises TeamNotFound, RepositoryNotFound,
        NotInOrganization or TeamPermissionNotFound."""
        ...

    def remove_team_permission(self, organization: str, team: str, full_name: str) -> None:
        """Take the team's role on a repository away; raises like ``get_team_permission``."""
        ...

    def list_team_permissions(self, organization: str, team: str) -> list[TeamPermission]:
        """Return the team's roles on live repositories; raises TeamNotFound."""
        ...

    def list_repository_team_permissions(self, full_name: str) -> list[TeamPermission]:
        """Return every team's role on one repository; raises RepositoryNotFound."""
        ...

    def team_grant(
        self, namespace_id: int, repository_id: int | None, *, robot_id: int | None = None,
        user_id: int | None = None,
    ) -> TeamGrant:
        """Return what a robot's or a user's teams give on one repository (role, may create)."""
        ...

    # -- AppToken (app_tokens) ------------------------------------

    def create_app_token(
        self, username: str, title: str, *, expires_at: float | None = None, actor: dict | None = None,
        via: str | None = None,
    ) -> IssuedAppToken:
        """Create a user's app token and log ``create_app_specific_token``, in one
        transaction; raises UserNotFound or NameInvalid."""
        ...

    def list_app_tokens(self, username: str, *, expiring_within: float | None = None) -> list[AppToken]:
        """Return the user's tokens not revoked, oldest first; raises UserNotFound."""
        ...

    def get_app_token(self, username: str, token_uuid: str) -> AppToken:
        """Return the user's live token with this uuid; raises AppTokenNotFound."""
        ...

    def revoke_app_token(
        self, token_uuid: str, *, username: str | None = None, actor: dict | None = None, via: str | None = None,
    ) -> AppToken:
        """Revoke a token and log ``revoke_app_specific_token``, in one transaction; raises AppTokenNotFound."""
        ...

    def authenticate_app_token(self, username: str, token: str) -> Principal:
        """Return the Principal (kind ``user``) whose app token ``token`` is, for ``$app`` or
        its user's name; raises InvalidCredentials."""
        ...

    def record_user_login(
        self,
        username: str,
        *,
        success: bool,
        reason: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
        scopes: list[str] | None = None,
        access: list[dict] | None = None,
        token_title: str | None = None,
    ) -> None:
        """Log a person's token request in their own namespace."""
        ...

    # -- RobotControls (robot_controls) ---------------------------

    def set_robot_disabled(self, username: str, disabled: bool) -> tuple[Robot, bool]:
        """Disable or enable a robot; returns it and whether anything changed."""
        ...

    def robot_settings(self, namespace: str) -> RobotSettings:
        """Return a namespace's robot settings; raises NamespaceNotFound."""
        ...

    def set_robot_settings(self, namespace: str, *, self_regenerate: bool) -> RobotSettings:
        """Let a namespace's robots regenerate their own secrets, or not; returns the settings."""
        ...

    def set_robot_enabled_audited(
        self, username: str, enabled: bool, *, actor: dict | None = None, via: str | None = None,
    ) -> Robot:
        """Enable or disable a robot and log ``enable_robot`` / ``disable_robot`` when it changed."""
        ...

    def set_robot_settings_audited(
        self, namespace: str, *, self_regenerate: bool, actor: dict | None = None, via: str | None = None,
    ) -> RobotSettings:
        """Change a namespace's robot settings and log ``change_robot_settings``."""
        ...

    def self_regenerate_audited(
        self, principal: Principal, *, ip: str | None = None, grace_seconds: object = 0,
        new_secret: NewSecret | None = None,
    ) -> IssuedSecret:
        """Replace a confirmed robot's own secret when its namespace allows it (else raise
        SelfRegenerateNotAllowed) and log ``regenerate_robot_token``."""
        ...

    # -- Prototype (prototypes) -----------------------------------

    def create_prototype(
        self, organization: str, role: str | Role, delegate_kind: str, delegate: str, activating: str | None = None,
    ) -> Prototype:
        """Create a default permission for a robot or team of the organization; raises
        NameInvalid, NamespaceNotFound or PrototypeInvalid."""
        ...

    def list_prototypes(self, organization: str) -> list[Prototype]:
        """Return the organization's default permissions, oldest first; raises NamespaceNotFound."""
        ...

    def get_prototype(self, organization: str, uuid: str) -> Prototype:
        """Return one default permission; raises NamespaceNotFound or PrototypeNotFound."""
        ...

    def set_prototype_role(self, organization: str, uuid: str, role: str | Role) -> Prototype:
        """Change a default permission's role; raises NameInvalid, NamespaceNotFound or PrototypeNotFound."""
        ...

    def delete_prototype(self, organization: str, uuid: str) -> Prototype:
        """Delete a default permission, returning it; raises NamespaceNotFound or PrototypeNotFound."""
        ...
