"""Backing up the store's database into one file while it serves, and putting such a file back
in its place: ``backup_location`` and ``restore_location``. SQLite only; a PostgreSQL store is
backed up with ``pg_dump`` (docs/backups.md)."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import TokenStoreError
from .opening import is_database_url

PG_DUMP_HINT = ("the database is PostgreSQL: back it up with `pg_dump --format=custom` and restore it with"
                " `pg_restore` into an empty database (docs/backups.md)")


class BackupError(TokenStoreError):
    """Base of the errors of a backup or a restore; whenever one is raised nothing was
    written at the destination and the live database was left as it was. The message is one
    line for a person."""


class BackupUnsupported(BackupError):
    """Raised when the store is not an SQLite file (PostgreSQL has pg_dump)."""


class DatabaseMissing(BackupError):
    """Raised when there is no database to back up, or no backup file to restore."""


class DestinationExists(BackupError):
    """Raised when the backup's destination file exists and replacing it was not asked for."""


class BackupInvalid(BackupError):
    """Raised when a backup, or the copy being made, fails SQLite's integrity or foreign key
    check, is not an SQLite database, or is not a regauth database this version can open."""


class DatabaseInUse(BackupError):
    """Raised when a restore finds the database open in another process (a running server)."""


@dataclass(frozen=True)
class BackupResult:
    """What a backup wrote: the file, its size in bytes, the live robots it holds, the last
    schema migration it has, and the seconds it took."""

    path: Path
    size: int
    robots: int
    schema: str
    seconds: float


@dataclass(frozen=True)
class RestoreResult:
    """What a restore did: the database now in place, the backup it came from, the live
    robots it holds, its schema (after migrations), and where the files it replaced were
    put aside (empty when there was no database)."""

    database: Path
    source: Path
    robots: int
    schema: str
    replaced: tuple[Path, ...]


def backup_location(
    location: str | Path, destination: str | Path, *, force: bool = False, clock: Callable[[], float] = time.time,
) -> BackupResult:
    """Copy the SQLite database at ``location`` into ``destination`` (a file, or a folder to
    hold a timestamped one) as ``tokenstore.sqlite.backup.backup`` does.

    Returns a BackupResult. Raises BackupUnsupported for a PostgreSQL URL, and what
    ``backup`` raises.
    """
    if is_database_url(location):
        raise BackupUnsupported(PG_DUMP_HINT)
    from .sqlite.backup import backup

    return backup(Path(location), Path(destination), force=force, now=clock())


def restore_location(
    location: str | Path, source: str | Path, *, clock: Callable[[], float] = time.time,
) -> RestoreResult:
    """Put the backup file ``source`` in place of the SQLite database at ``location``, as
    ``tokenstore.sqlite.restore.restore`` does.

    Returns a RestoreResult. Raises BackupUnsupported for a PostgreSQL URL, and what
    ``restore`` raises.
    """
    if is_database_url(location):
        raise BackupUnsupported(PG_DUMP_HINT)
    from .sqlite.restore import restore

    return restore(Path(location), Path(source).absolute(), now=clock())


def timestamp(now: float) -> str:
    """Return ``now`` (UNIX seconds) as it appears in file names: 20240510T093000Z (UTC)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
