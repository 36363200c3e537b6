"""tokenstore: the model of regauth. Robots, secrets, repositories, permissions.

Synchronous, with no HTTP or JWT code. It answers two questions:
``Store.authenticate(username, secret) -> Principal`` and
``Store.authorize(principal, resource, actions) -> frozenset[str]``.
"""

from .errors import (
    AlreadyExists,
    GrantOutsideNamespace,
    InvalidCredentials,
    NameInvalid,
    NamespaceNotFound,
    NotFound,
    PermissionNotFound,
    RepositoryNotFound,
    RobotNotFound,
    TokenStoreError,
)
from .models import ANONYMOUS, AccessReads, IssuedSecret, Namespace, Permission, Principal, Repository, Robot, SecretInfo
from .permissions import ROLE_ACTIONS, Resource, Role, parse_role
from .errors import StoreBusy, StoreUnavailable
from .opening import open_store
from .sqlite.store import SqliteStore

# The SQLite store, under the name it had before there were two.
Store = SqliteStore
from .accounts import ApiToken, IssuedApiToken, Membership, NamespaceAccess, User
from .audit import AuditEvent
from .errors import ApiTokenNotFound, LastAdmin, MemberNotFound, PasswordInvalid, UserNotFound

__all__ = [
    "ANONYMOUS", "AccessReads", "AlreadyExists", "GrantOutsideNamespace", "InvalidCredentials", "IssuedSecret", "NameInvalid",
    "Namespace", "NamespaceNotFound", "NotFound", "Permission", "PermissionNotFound", "Principal", "ROLE_ACTIONS",
    "Repository", "RepositoryNotFound", "Resource", "Robot", "RobotNotFound", "Role", "SecretInfo", "Store",
    "TokenStoreError", "parse_role", "SqliteStore", "StoreBusy", "StoreUnavailable", "open_store",
]
# Users, organizations, API tokens and the audit log.
__all__ += [
    "ApiToken", "ApiTokenNotFound", "AuditEvent", "IssuedApiToken", "LastAdmin", "MemberNotFound", "Membership",
    "NamespaceAccess", "PasswordInvalid", "User", "UserNotFound",
]
from .app_tokens import AppToken, AppTokenNotFound, IssuedAppToken

# App-specific tokens: people's registry logins.
__all__ += ["AppToken", "AppTokenNotFound", "IssuedAppToken"]
