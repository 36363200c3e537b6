"""The database schema, as named migrations applied in order.

Rows are soft-deleted (``deleted_at`` set) so that a deletion takes effect at once for every
reader; the collector (``Store.collect_garbage``) removes them later. Names are unique only
among live rows, so a namespace re-created with a deleted one's name is a new namespace that
inherits nothing. Times are UNIX seconds (REAL).
"""

import time

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("tokenstore")


@migrations(name="0001_core")
def _core(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE namespaces (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('organization', 'user')),
            created REAL NOT NULL,
            deleted_at REAL
        );
        CREATE UNIQUE INDEX namespaces_live_name ON namespaces(name) WHERE deleted_at IS NULL;

        CREATE TABLE robots (
            id INTEGER PRIMARY KEY,
            namespace_id INTEGER NOT NULL REFERENCES namespaces(id),
            shortname TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            unstructured_metadata TEXT NOT NULL DEFAULT '{}',
            created REAL NOT NULL,
            last_accessed REAL,
            deleted_at REAL
        );
        CREATE UNIQUE INDEX robots_live_name ON robots(namespace_id, shortname) WHERE deleted_at IS NULL;

        CREATE TABLE robot_secrets (
            id INTEGER PRIMARY KEY,
            robot_id INTEGER NOT NULL REFERENCES robots(id),
            hash TEXT NOT NULL,
            created REAL NOT NULL,
            expires_at REAL,
            revoked_at REAL
        );
        CREATE INDEX robot_secrets_robot ON robot_secrets(robot_id, revoked_at);

        CREATE TABLE repositories (
            id INTEGER PRIMARY KEY,
            namespace_id INTEGER NOT NULL REFERENCES namespaces(id),
            name TEXT NOT NULL,
            visibility TEXT NOT NULL CHECK (visibility IN ('public', 'private')),
            description TEXT NOT NULL DEFAULT '',
            created REAL NOT NULL,
            deleted_at REAL
        );
        CREATE UNIQUE INDEX repositories_live_name ON repositories(namespace_id, name) WHERE deleted_at IS NULL;

        -- repository_id NULL: the grant covers the whole namespace, including repositories
        -- created later by a push.
        CREATE TABLE permissions (
            id INTEGER PRIMARY KEY,
            robot_id INTEGER NOT NULL REFERENCES robots(id),
            namespace_id INTEGER NOT NULL REFERENCES namespaces(id),
            repository_id INTEGER REFERENCES repositories(id),
            role TEXT NOT NULL CHECK (role IN ('read', 'write', 'admin')),
            created REAL NOT NULL
        );
        CREATE UNIQUE INDEX permissions_repository ON permissions(robot_id, repository_id)
            WHERE repository_id IS NOT NULL;
        CREATE UNIQUE INDEX permissions_namespace ON permissions(robot_id)
            WHERE repository_id IS NULL;
        CREATE INDEX permissions_by_repository ON permissions(repository_id);
        """
    )


@migrations(name="0002_accounts")
def _accounts(db: Database) -> None:
    """People and their API access: users, organization membership, API bearer tokens.

    A user owns the namespace of kind ``user`` with the user's name (``namespace_id``), so
    a user and an organization can never share a name. Passwords are bcrypt hashes. API
    tokens are stored as the SHA-256 of the token (see ``tokenstore.accounts``), found by
    their first characters (``prefix``).
    """
    for statement in (
        """CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            username TEXT NOT NULL,
            namespace_id INTEGER NOT NULL REFERENCES namespaces(id),
            password_hash TEXT NOT NULL,
            superuser INTEGER NOT NULL DEFAULT 0,
            created REAL NOT NULL,
            deleted_at REAL
        )""",
        "CREATE UNIQUE INDEX users_live_name ON users(username) WHERE deleted_at IS NULL",
        "CREATE INDEX users_namespace ON users(namespace_id)",
        """CREATE TABLE org_members (
            id INTEGER PRIMARY KEY,
            namespace_id INTEGER NOT NULL REFERENCES namespaces(id),
            user_id INTEGER NOT NULL REFERENCES users(id),
            role TEXT NOT NULL CHECK (role IN ('admin', 'member')),
            created REAL NOT NULL
        )""",
        "CREATE UNIQUE INDEX org_members_unique ON org_members(namespace_id, user_id)",
        "CREATE INDEX org_members_user ON org_members(user_id)",
        """CREATE TABLE api_tokens (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id),
            prefix TEXT NOT NULL,
            hash TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            created REAL NOT NULL,
            expires_at REAL,
            revoked_at REAL,
            last_used REAL
        )""",
        "CREATE UNIQUE INDEX api_tokens_prefix ON api_tokens(prefix)",
        "CREATE INDEX api_tokens_user ON api_tokens(user_id)",
    ):
        db.execute(statement)


@migrations(name="0003_audit")
def _audit(db: Database) -> None:
    """The audit log: one row per management action, robot login and token issued.

    Rows belong to a namespace (the one the action was about) and are read newest first
    within a time range, hence the index on (namespace_id, created). They never hold a
    secret. The collector removes them with their namespace.
    """
    for statement in (
        """CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            namespace_id INTEGER NOT NULL REFERENCES namespaces(id),
            kind TEXT NOT NULL,
            performer TEXT,
            performer_kind TEXT,
            ip TEXT,
            repository TEXT,
            metadata TEXT NOT NULL DEFAULT '{}',
            created REAL NOT NULL
        )""",
        "CREATE INDEX audit_log_namespace_created ON audit_log(namespace_id, created)",
    ):
        db.execute(statement)


@migrations(name="0004_lifecycle")
def _lifecycle(db: Database) -> None:
    """Keyless robots (federation settings and the one-hour credentials exchanged through
    them) and docker's refresh tokens.

    Both credentials are 256-bit random strings, so a SHA-256 of each is stored instead of a
    bcrypt hash: nobody can guess or brute-force such a value, and a lookup by hash costs one
    index probe instead of a bcrypt run per row. Removing a federation setting deletes its
    credentials (cascade); a refresh token lives only while the robot secret it was issued
    for is live (checked by a join, so regenerating or expiring the secret ends it). The
    cascades also let the collector remove a deleted robot's rows in any order.
    """
    # One statement at a time: executescript would commit the migration's transaction.
    for statement in (
        """CREATE TABLE robot_federations (
            id INTEGER PRIMARY KEY,
            robot_id INTEGER NOT NULL REFERENCES robots(id) ON DELETE CASCADE,
            issuer TEXT NOT NULL,
            subject TEXT NOT NULL,
            audience TEXT,
            created REAL NOT NULL
        )""",
        "CREATE UNIQUE INDEX robot_federations_unique ON robot_federations(robot_id, issuer, subject)",
        """CREATE TABLE federated_credentials (
            id INTEGER PRIMARY KEY,
            robot_id INTEGER NOT NULL REFERENCES robots(id) ON DELETE CASCADE,
            federation_id INTEGER NOT NULL REFERENCES robot_federations(id) ON DELETE CASCADE,
            hash TEXT NOT NULL UNIQUE,
            created REAL NOT NULL,
            expires_at REAL NOT NULL
        )""",
        "CREATE INDEX federated_credentials_robot ON federated_credentials(robot_id, expires_at)",
        "CREATE INDEX federated_credentials_federation ON federated_credentials(federation_id)",
        """CREATE TABLE refresh_tokens (
            id INTEGER PRIMARY KEY,
            robot_id INTEGER NOT NULL REFERENCES robots(id) ON DELETE CASCADE,
            secret_id INTEGER NOT NULL REFERENCES robot_secrets(id) ON DELETE CASCADE,
            hash TEXT NOT NULL UNIQUE,
            client_id TEXT NOT NULL DEFAULT '',
            created REAL NOT NULL,
            last_used REAL
        )""",
        "CREATE INDEX refresh_tokens_secret ON refresh_tokens(secret_id)",
        "CREATE INDEX refresh_tokens_robot ON refresh_tokens(robot_id)",
    ):
        db.execute(statement)


@migrations(name="0005_ui_sessions")
def _ui_sessions(db: Database) -> None:
    """Web UI sign-in sessions (see ``tokenstore.ui_sessions``): only the SHA-256 of each
    session id is stored; a session goes with its user."""
    for statement in (
        """CREATE TABLE ui_sessions (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            hash TEXT NOT NULL UNIQUE,
            created REAL NOT NULL,
            expires_at REAL NOT NULL,
            last_seen REAL NOT NULL
        )""",
        "CREATE INDEX ui_sessions_user ON ui_sessions(user_id)",
        "CREATE INDEX ui_sessions_expires ON ui_sessions(expires_at)",
    ):
        db.execute(statement)


@migrations(name="0006_secret_last_used")
def _secret_last_used(db: Database) -> None:
    """When each secret last authenticated (throttled like ``robots.last_accessed``): during
    a rotation's grace period it shows whether anything still uses the old secret."""
    db.execute("ALTER TABLE robot_secrets ADD COLUMN last_used REAL")


@migrations(name="0007_signin_failures")
def _signin_failures(db: Database) -> None:
    """Failed web UI sign-ins by user name (as typed) and client address, for the throttle
    (``tokenstore.signin_throttle``); kept for its window, then collected."""
    for statement in (
        """CREATE TABLE signin_failures (
            id INTEGER PRIMARY KEY,
            username TEXT NOT NULL,
            address TEXT NOT NULL,
            failed_at REAL NOT NULL
        )""",
        "CREATE INDEX signin_failures_key ON signin_failures(username, address, failed_at)",
        "CREATE INDEX signin_failures_failed_at ON signin_failures(failed_at)",
    ):
        db.execute(statement)


@migrations(name="0008_registry_events")
def _registry_events(db: Database) -> None:
    """The ids of registry notification events already written to the audit log, so that a
    retried delivery writes nothing twice (``tokenstore.registry_activity``)."""
    db.execute("CREATE TABLE registry_events_seen (event_id TEXT PRIMARY KEY, received REAL NOT NULL)")
    db.execute("CREATE INDEX registry_events_seen_received ON registry_events_seen(received)")


@migrations(name="0009_secret_state")
def _secret_state(db: Database) -> None:
    """A secret's end that no clock can undo, and its selector.

    ``ended`` is set when a secret is replaced without a grace period or pushed out by a newer
    rotation: such a secret stays dead whatever the clock does (``revoked_at`` still says
    when, for people; grace and expiry remain times). ``selector`` is 16 bits of the secret's
    SHA-256 (``hashing.selector``), so a login bcrypt-checks only the secret it names; rows
    from before have none until their next successful login.

    Existing rows get the same rules: a secret whose grace is over by the wall clock ends, and
    of the secrets still in grace only each robot's newest stays (the cap: the current secret
    and one in grace).
    """
    now = time.time()
    for statement, params in (
        ("ALTER TABLE robot_secrets ADD COLUMN ended INTEGER NOT NULL DEFAULT 0", []),
        ("ALTER TABLE robot_secrets ADD COLUMN selector INTEGER", []),
        ("UPDATE robot_secrets SET ended = 1 WHERE revoked_at IS NOT NULL AND revoked_at <= ?", [now]),
        (
            "UPDATE robot_secrets SET ended = 1 WHERE ended = 0 AND revoked_at IS NOT NULL AND id NOT IN"
            " (SELECT max(id) FROM robot_secrets WHERE ended = 0 AND revoked_at IS NOT NULL GROUP BY robot_id)",
            [],
        ),
    ):
        db.execute(statement, params)


@migrations(name="0010_audit_refusal_counts")
def _audit_refusal_counts(db: Database) -> None:
    """Refused attempts are counted in one row per (kind, performer, address, reason) and
    interval (``tokenstore.audit``): the key that finds that row, indexed only where set."""
    db.execute("ALTER TABLE audit_log ADD COLUMN aggregate_key TEXT")
    db.execute(
        "CREATE INDEX audit_log_aggregate ON audit_log(namespace_id, aggregate_key, created)"
        " WHERE aggregate_key IS NOT NULL"
    )


@migrations(name="0011_readiness_probe")
def _readiness_probe(db: Database) -> None:
    """One row that ``/readyz`` rewrites (``Store.record_readiness``): proof that a write
    commits. Not data: a copy of the store leaves it behind."""
    db.execute("CREATE TABLE readiness_probe (id INTEGER PRIMARY KEY, written REAL NOT NULL)")


@migrations(name="0012_teams")
def _teams(db: Database) -> None:
    """Organization teams (``tokenstore.teams``): a role in the organization, members (its
    users and robots, exactly one of the two per row) and roles on its repositories. A team
    is deleted with its rows at once; a deleted user, robot or repository takes its rows
    with it when the collector runs, and counts for nothing before."""
    for statement in (
        """CREATE TABLE teams (
            id INTEGER PRIMARY KEY,
            namespace_id INTEGER NOT NULL REFERENCES namespaces(id),
            name TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('member', 'creator', 'admin')),
            description TEXT NOT NULL DEFAULT '',
            created REAL NOT NULL
        )""",
        "CREATE UNIQUE INDEX teams_name ON teams(namespace_id, name)",
        """CREATE TABLE team_members (
            id INTEGER PRIMARY KEY,
            team_id INTEGER NOT NULL REFERENCES teams(id),
            user_id INTEGER REFERENCES users(id),
            robot_id INTEGER REFERENCES robots(id),
            created REAL NOT NULL,
            CHECK ((user_id IS NULL) <> (robot_id IS NULL))
        )""",
        "CREATE UNIQUE INDEX team_members_user ON team_members(user_id, team_id) WHERE user_id IS NOT NULL",
        "CREATE UNIQUE INDEX team_members_robot ON team_members(robot_id, team_id) WHERE robot_id IS NOT NULL",
        "CREATE INDEX team_members_team ON team_members(team_id)",
        """CREATE TABLE team_permissions (
            id INTEGER PRIMARY KEY,
            team_id INTEGER NOT NULL REFERENCES teams(id),
            repository_id INTEGER NOT NULL REFERENCES repositories(id),
            role TEXT NOT NULL CHECK (role IN ('read', 'write', 'admin')),
            created REAL NOT NULL
        )""",
        "CREATE UNIQUE INDEX team_permissions_unique ON team_permissions(team_id, repository_id)",
        "CREATE INDEX team_permissions_repository ON team_permissions(repository_id)",
    ):
        db.execute(statement)


@migrations(name="0013_app_tokens")
def _app_tokens(db: Database) -> None:
    """App-specific tokens (``tokenstore.app_tokens``): a person's registry login. Only the
    SHA-256 of each token is stored, found by it; ``uuid`` names the token in the API. A
    revoked token keeps its row (``revoked_at``) until the collector removes it."""
    for statement in (
        """CREATE TABLE app_tokens (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            uuid TEXT NOT NULL UNIQUE,
            title TEXT NOT NULL,
            hash TEXT NOT NULL UNIQUE,
            created REAL NOT NULL,
            expires_at REAL,
            revoked_at REAL,
            last_accessed REAL
        )""",
        "CREATE INDEX app_tokens_user ON app_tokens(user_id)",
    ):
        db.execute(statement)


@migrations(name="0014_robot_controls")
def _robot_controls(db: Database) -> None:
    """A robot may be disabled without being deleted (``disabled_at``, NULL while enabled),
    and a namespace may let its robots regenerate their own secrets (off by default)."""
    db.execute("ALTER TABLE robots ADD COLUMN disabled_at REAL")
    db.execute("ALTER TABLE namespaces ADD COLUMN robot_self_regenerate INTEGER NOT NULL DEFAULT 0")


@migrations(name="0015_prototypes")
def _prototypes(db: Database) -> None:
    """Default permissions (Quay's prototypes, ``tokenstore.prototypes``): a role an
    organization gives a robot or a team (exactly one) on each repository created from then
    on, optionally only when a given user or robot creates it. A prototype goes with its
    team at once; a deleted robot or user makes it count for nothing until the collector
    removes its row."""
    for statement in (
        """CREATE TABLE prototypes (
            id INTEGER PRIMARY KEY,
            uuid TEXT NOT NULL UNIQUE,
            namespace_id INTEGER NOT NULL REFERENCES namespaces(id),
            delegate_robot_id INTEGER REFERENCES robots(id),
            delegate_team_id INTEGER REFERENCES teams(id) ON DELETE CASCADE,
            activating_user_id INTEGER REFERENCES users(id),
            activating_robot_id INTEGER REFERENCES robots(id),
            role TEXT NOT NULL CHECK (role IN ('read', 'write', 'admin')),
            created REAL NOT NULL,
            CHECK ((delegate_robot_id IS NULL) <> (delegate_team_id IS NULL)),
            CHECK (activating_user_id IS NULL OR activating_robot_id IS NULL)
        )""",
        "CREATE INDEX prototypes_namespace ON prototypes(namespace_id)",
    ):
        db.execute(statement)


def apply_migrations(db: Database) -> None:
    """Bring ``db`` up to the newest schema; applied migrations are skipped."""
    migrations.apply(db)
