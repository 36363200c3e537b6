"""``backup``: SQLite's online backup of the database into one checked file, taken while the
server writes; and the checks a backup must pass (``check_copy``), which restore runs too."""

import contextlib
import os
import secrets
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from sqlite_utils import Database

from ..backup import (
    BackupError,
    BackupInvalid,
    BackupResult,
    DatabaseMissing,
    DestinationExists,
    timestamp,
)
from .database import BUSY_TIMEOUT_MS, database_unavailable
from .schema import migrations

# Pages copied per step of the online backup (4 MiB of 4 KiB pages).
STEP_PAGES = 1024
# What SQLite may leave beside a database file.
SIDE_FILES = ("-wal", "-shm", "-journal")


def backup(database: Path, destination: Path, *, force: bool = False, now: float | None = None) -> BackupResult:
    """Copy the database at ``database`` into ``destination`` while other processes read
    and write it: a file, or an existing folder to hold ``regauth-<UTC time>.db``.

    The copy is made in a temporary file beside the destination, checked (``check_copy``),
    switched out of WAL mode (one self-contained file), fsynced and only then renamed into
    place, readable by its owner alone; on any failure it is removed and nothing is left.

    Returns a BackupResult. Raises DatabaseMissing when there is no database,
    DestinationExists when the destination file exists and ``force`` is false,
    BackupInvalid when the copy fails its checks, BackupError when the database cannot be
    read or the copy not written, OSError for a file system error.
    """
    started = time.monotonic()
    now = time.time() if now is None else now
    if not database.is_file():
        raise DatabaseMissing(f"there is no database at {database}: nothing to back up")
    if destination.is_dir():
        destination = destination / f"regauth-{timestamp(now)}.db"
    destination = destination.absolute()
    if _is_database_file(destination, database):
        raise BackupError(f"the destination {destination} is the database or one of its files")
    if destination.exists() and not force:
        raise DestinationExists(f"{destination} exists: give --force to replace it")
    if not destination.parent.is_dir():
        raise BackupError(f"the destination's folder {destination.parent} does not exist")
    with temporary_file(destination.parent, f".{destination.name}.partial") as partial:
        robots, schema = _copy(database, partial)
        fsync_file(partial)
        place(partial, destination, replace=force)
    return BackupResult(destination, destination.stat().st_size, robots, schema, round(time.monotonic() - started, 3))


def _copy(database: Path, partial: Path) -> tuple[int, str]:
    """Copy ``database`` into the empty file ``partial`` and check the copy; returns its live
    robots and its schema. Raises BackupError, BackupInvalid."""
    try:
        source = sqlite3.connect(_uri(database), uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    except sqlite3.Error as exc:
        raise BackupError(f"the database {database} cannot be opened: {_cause(exc)}") from None
    try:
        copy = sqlite3.connect(partial, isolation_level=None)
        try:
            # One read transaction around every step: each step then copies the same snapshot
            # (WAL mode: the server's writers go on meanwhile, never blocked by a reader),
            # and no write by another process restarts the copy from its first page.
            source.execute("BEGIN")
            source.execute("SELECT count(*) FROM sqlite_master").fetchone()
            source.backup(copy, pages=STEP_PAGES, sleep=0)
            source.execute("COMMIT")
            copy.execute("PRAGMA journal_mode = DELETE")  # the backup is one file, no -wal beside it
            return check_copy(copy, "the copy")
        finally:
            copy.close()
    except sqlite3.Error as exc:
        # SQLite's words: "database or disk is full" here is mostly the destination's disk.
        raise BackupError(f"the backup of {database} into {partial.parent} failed: {exc}") from None
    finally:
        source.close()


def check_copy(conn: sqlite3.Connection, what: str) -> tuple[int, str]:
    """Check the database on ``conn`` (named ``what`` in messages): SQLite's full
    ``integrity_check``, its ``foreign_key_check``, and that it is a regauth database whose
    migrations this version knows. Returns (live robots, last migration applied).

    Raises BackupInvalid; sqlite3.Error when the file cannot be read at all (not a database).
    """
    first = conn.execute("PRAGMA integrity_check").fetchone()[0]
    if first != "ok":
        raise BackupInvalid(f"{what} failed its integrity check (integrity_check: {first})")
    orphans = conn.execute("PRAGMA foreign_key_check").fetchall()
    if orphans:
        raise BackupInvalid(
            f"{what} failed its foreign key check: {len(orphans)} rows refer to missing rows (first in {orphans[0][0]})"
        )
    schema = _schema(conn, what)
    robots = conn.execute("SELECT count(*) FROM robots WHERE deleted_at IS NULL").fetchone()[0]
    return robots, schema


def _schema(conn: sqlite3.Connection, what: str) -> str:
    """Return the last tokenstore migration applied to the database on ``conn``. Raises
    BackupInvalid when it has none (not a regauth database) or one this version lacks
    (made by a newer regauth)."""
    db = Database(conn, execute_plugins=False)
    applied = [migration.name for migration in migrations.applied(db)]
    if not applied:
        raise BackupInvalid(f"{what} is not a regauth database (it has no tokenstore migrations)")
    known = set(_known_migrations())
    unknown = [name for name in applied if name not in known]
    if unknown:
        raise BackupInvalid(f"{what} was made by a newer regauth (schema {unknown[-1]}): upgrade regauth first")
    return applied[-1]


def _known_migrations() -> list[str]:
    """The names of this version's migrations, in order."""
    return [migration.name for migration in migrations.pending(Database(memory=True, execute_plugins=False))]


def newest_schema() -> str:
    """Return the name of this version's last migration."""
    return _known_migrations()[-1]


@contextlib.contextmanager
def temporary_file(folder: Path, prefix: str) -> Iterator[Path]:
    """Make an empty file ``<prefix>-<random>`` in ``folder``, readable by its owner alone
    (a copy of the database holds secret hashes), and yield its path; removes it, with any
    file SQLite left beside it, when the block raises or leaves it in place."""
    path = folder / f"{prefix}-{secrets.token_hex(4)}"
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    try:
        yield path
    finally:
        for leftover in (path, *(Path(f"{path}{suffix}") for suffix in SIDE_FILES)):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def place(partial: Path, destination: Path, *, replace: bool) -> None:
    """Give the finished file ``partial`` the name ``destination`` in one step and make the
    rename durable. Without ``replace`` an existing destination is never overwritten:
    raises DestinationExists (a hard link fails when the name is taken)."""
    if replace:
        os.replace(partial, destination)
    else:
        try:
            os.link(partial, destination)
        except FileExistsError:
            raise DestinationExists(f"{destination} exists: give --force to replace it") from None
        partial.unlink()
    fsync_folder(destination.parent)


def fsync_file(path: Path) -> None:
    """Flush the file at ``path`` to its disk."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_folder(path: Path) -> None:
    """Flush the folder at ``path`` (the names in it) to its disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _is_database_file(path: Path, database: Path) -> bool:
    """True when ``path`` names ``database`` (by any link) or a file SQLite keeps beside it."""
    if path.exists() and path.samefile(database):
        return True
    return path.resolve() in {Path(f"{database.resolve()}{suffix}") for suffix in SIDE_FILES}


def _uri(path: Path) -> str:
    """An SQLite URI opening ``path`` read-write, never creating it."""
    return path.absolute().as_uri() + "?mode=rw"


def _cause(exc: sqlite3.Error) -> str:
    """SQLite's failure in words for a person."""
    return database_unavailable(exc) or str(exc)
