"""``restore``: a backup file put in place of the database, the database it replaces (with its
WAL files) kept aside under a timestamped name."""

import contextlib
import os
import shutil
import sqlite3
from pathlib import Path

from ..backup import (
    BackupError,
    BackupInvalid,
    DatabaseMissing,
    RestoreResult,
    timestamp,
)
from .backup import check_copy, fsync_file, fsync_folder, newest_schema, temporary_file
from .database import initialise
from .in_use import held_unused, refuse_if_used

# The files of a live database, in the order they are moved aside: its write-ahead log
# first, so that the log of the old database never sits beside the new one.
_MOVED = ("-wal", "-shm", "")


def restore(database: Path, source: Path, *, now: float) -> RestoreResult:
    """Put a copy of the backup file ``source`` in place of ``database``.

    The copy is made beside the database, checked (``check_copy``), brought to this
    version's schema and fsynced first; then, holding SQLite's locks of the database so that
    nothing opens it meanwhile, the database and its -wal and -shm files are renamed to
    ``<name>.replaced-<UTC time>`` (their -wal, -shm), never deleted, and the copy renamed
    into place. A missing data folder is made, readable by its owner alone.

    Returns a RestoreResult. Raises DatabaseMissing when ``source`` is no file;
    DatabaseInUse when a process has the database open; BackupInvalid when the backup fails
    a check or is not a regauth database; BackupError for a backup that is not one file;
    OSError for a file system error. Nothing is changed when it raises.
    """
    if not source.is_file():
        raise DatabaseMissing(f"the backup {source} does not exist or is not a file")
    if database.exists() and source.samefile(database):
        raise BackupError(f"the backup {source} is the database itself")
    log = Path(f"{source}-wal")
    if log.exists() and log.stat().st_size:
        raise BackupError(f"the backup {source} has a write-ahead log beside it ({log.name}): it is not one file;"
                          " restore a file `regauth backup` wrote")
    refuse_if_used(database)  # before the copy: a refusal should be quick
    folder = database.parent
    if not folder.is_dir():
        folder.mkdir(mode=0o700, parents=True)
    with temporary_file(folder, f".{database.name}.restoring") as copy:
        with open(source, "rb") as reading, open(copy, "wb") as writing:
            shutil.copyfileobj(reading, writing)
        robots = _checked(copy, source)
        try:
            initialise(copy)  # this version's migrations, and WAL mode, as serving expects
        except sqlite3.Error as exc:
            raise BackupInvalid(f"the backup {source} could not be brought to this version's schema: {exc}") from None
        schema = newest_schema()
        fsync_file(copy)
        with held_unused(database):
            replaced = _move_aside(database, now)
            os.rename(copy, database)
            fsync_folder(folder)
    return RestoreResult(database, source, robots, schema, replaced)


def _checked(path: Path, source: Path) -> int:
    """Run ``check_copy`` on the file at ``path``, a copy of ``source``; returns its live
    robots. Raises BackupInvalid (naming ``source``) when it fails or the file is not a
    database."""
    what = f"the backup {source}"
    try:
        conn = sqlite3.connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        raise BackupInvalid(f"{what} cannot be opened: {exc}") from None
    try:
        return check_copy(conn, what)[0]
    except sqlite3.DatabaseError as exc:
        raise BackupInvalid(f"{what} is not a readable SQLite database ({exc})") from None
    finally:
        conn.close()


def _move_aside(database: Path, now: float) -> tuple[Path, ...]:
    """Rename ``database`` and its -wal and -shm files, those that exist, to one free
    ``<name>.replaced-<time>[-n]`` base (SQLite finds a log by its database's name plus
    "-wal", so the old database opens with its log); returns the new paths."""
    base = database.with_name(f"{database.name}.replaced-{timestamp(now)}")
    for attempt in range(1, 1000):
        if not any(Path(f"{base}{suffix}").exists() for suffix in _MOVED):
            break
        base = database.with_name(f"{database.name}.replaced-{timestamp(now)}-{attempt}")
    else:
        raise BackupError(f"no free name to keep {database} aside")
    moved = []
    for suffix in _MOVED:
        with contextlib.suppress(FileNotFoundError):
            os.rename(f"{database}{suffix}", f"{base}{suffix}")
            moved.append(Path(f"{base}{suffix}"))
    return tuple(reversed(moved))
