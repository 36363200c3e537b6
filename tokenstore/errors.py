"""The exceptions tokenstore raises.

One tree, narrow leaves: callers catch ``TokenStoreError`` to handle every model error, or a
leaf to handle one case. Messages never contain a secret.
"""


class TokenStoreError(Exception):
    """Base of every error raised by tokenstore."""


class InvalidCredentials(TokenStoreError):
    """Raised when a username and secret do not authenticate.

    An unknown robot, a wrong secret, an over-long secret, an expired secret and a deleted
    robot all raise this same error, so a caller cannot tell them apart.
    """

    def __init__(self, message: str = "invalid username or secret", *, reason: str = "invalid"):
        super().__init__(message)
        #: Why it failed, for the audit log only ("invalid", "expired" or "disabled"); never
        #: sent as a hint that the name exists unless the secret itself was right.
        self.reason = reason


class NameInvalid(TokenStoreError, ValueError):
    """Raised when a namespace, robot, repository or role name breaks the naming rules."""


class NotFound(TokenStoreError, LookupError):
    """Raised when a named thing does not exist (or was deleted)."""


class NamespaceNotFound(NotFound):
    """Raised when a namespace does not exist or was deleted."""


class RobotNotFound(NotFound):
    """Raised when a robot does not exist or was deleted."""


class RepositoryNotFound(NotFound):
    """Raised when a repository does not exist or was deleted."""


class PermissionNotFound(NotFound):
    """Raised when a robot holds no permission on the target being revoked or read."""


class AlreadyExists(TokenStoreError):
    """Raised when creating something whose name is already taken."""


class GrantOutsideNamespace(TokenStoreError, ValueError):
    """Raised when a robot would be granted rights outside its own namespace."""


class UserNotFound(NotFound):
    """Raised when a user does not exist (or was deleted)."""


class MemberNotFound(NotFound):
    """Raised when a user is not a member of the organization named."""


class ApiTokenNotFound(NotFound):
    """Raised when no API token has the id or prefix given."""


class PasswordInvalid(TokenStoreError, ValueError):
    """Raised when a new password is too short, too long for bcrypt, or not text."""


class LastAdmin(TokenStoreError, ValueError):
    """Raised when a change would leave an organization without any admin."""


class DatabaseCorrupt(TokenStoreError):
    """Raised at start when the database fails SQLite's integrity check (``quick_check``)."""


class StoreUnavailable(Exception):
    """Raised when the store cannot answer at all: its database cannot be reached, its disk
    is full or read-only, its file is corrupt, removed or replaced. Not a TokenStoreError:
    it says nothing about the request, which may succeed later unchanged.

    ``cause`` says why in words for a person ("the database's disk is full"); the message
    may add detail for the log. Never raised for a bug or a broken rule.
    """

    def __init__(self, cause: str, detail: str = ""):
        super().__init__(f"{cause}: {detail}" if detail else cause)
        self.cause = cause


class StoreBusy(StoreUnavailable):
    """Raised when a lock held by another writer was not granted within the store's lock
    timeout; trying again later may succeed."""


class DuplicateRow(TokenStoreError):
    """Raised by a backend when a write would break a unique rule (a live name taken); the
    store turns it into AlreadyExists, naming what was taken."""


class StoreReplaced(StoreUnavailable):
    """Raised when the store's data was removed or replaced under the running process (an
    SQLite file deleted or swapped): every later use fails too, until a restart."""


class CopyError(TokenStoreError):
    """Raised when a store cannot be copied into another; nothing was written to the
    destination."""


class SourceMissing(CopyError):
    """Raised when the source of a copy, an SQLite file, does not exist."""


class DestinationNotEmpty(CopyError):
    """Raised when the destination of a copy already holds rows: a copy keeps the source's
    ids, which would clash with the rows there, and merging two installations is not a copy."""


class SourceInvalid(CopyError):
    """Raised when the source's rows cannot be written as they are: a row referring to one
    the source does not hold, a value of the wrong type, a column the destination lacks."""


class CopyUnavailable(StoreUnavailable):
    """Raised when the source or the destination of a copy cannot answer; nothing was
    written. ``side`` says which ("source" or "destination"), ``location`` where it is
    (without any password), ``busy`` whether a lock was not granted in time (trying again
    later may succeed)."""

    def __init__(self, side: str, location: str, exc: StoreUnavailable):
        super().__init__(exc.cause)
        self.args = exc.args  # the message with its detail, for the log
        self.side = side
        self.location = location
        self.busy = isinstance(exc, StoreBusy)


class TeamNotFound(NotFound):
    """Raised when an organization has no team of that name."""


class TeamMemberNotFound(NotFound):
    """Raised when a user or robot is not a member of the team named."""


class TeamPermissionNotFound(NotFound):
    """Raised when a team holds no permission on the repository named."""


class NotInOrganization(TokenStoreError, ValueError):
    """Raised when a team would get a member or a repository from outside its organization."""
class SecretInvalid(TokenStoreError, ValueError):
    """Raised when a secret given for a robot (one brought from elsewhere) is not 64
    characters from [A-Z0-9]. The message never contains the secret."""


class SelfRegenerateNotAllowed(TokenStoreError):
    """Raised when a robot asks to regenerate its own secret and its namespace does not
    allow it (``robot_self_regenerate`` off, the default)."""


class PrototypeNotFound(NotFound):
    """Raised when an organization has no default permission (prototype) with the id given."""


class PrototypeInvalid(TokenStoreError, ValueError):
    """Raised when a default permission names a delegate that cannot hold repository roles
    (a person, an unknown robot or team, another organization's robot) or an activating
    user or robot that does not exist."""
