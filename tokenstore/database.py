"""Opening the SQLite database: one connection per thread, WAL mode, a busy timeout.

The gateway calls tokenstore from a pool of threads; SQLite connections must not be shared
between threads, so each thread opens its own on first use.

Write transactions take the write lock when they begin. A transaction begun the default
way (deferred) that reads before it writes holds a snapshot of the database, and if another
connection commits meanwhile, which under a CI fleet's audit writes is every millisecond or
so, its first write fails at once with "database is locked": SQLite cannot let it write on
a stale snapshot, and the busy timeout does not apply. Begun IMMEDIATE, it waits its turn
for the lock (up to the busy timeout) and then reads and writes current data.
"""

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlite_utils import Database

from .errors import DatabaseCorrupt
from .schema import apply_migrations

log = logging.getLogger(__name__)

# How long a writer waits for another process's write lock before giving up.
BUSY_TIMEOUT_MS = 10_000


def writer_lock_path(database_path: str | Path) -> Path:
    """Return the lock file next to the database through which its busiest writers (the
    server's audit writer threads, the collector) take turns.

    SQLite's own busy handler makes a waiting writer poll with sleeps of up to 100 ms; an
    exclusive flock on this file wakes the next one the moment the holder lets go.
    """
    path = Path(database_path)
    return path.with_name(path.name + "-writer.lock")


class WriterLock:
    """An exclusive flock on the database's writer lock file, held as a context manager
    (once per write transaction); ``close`` releases the file."""

    def __init__(self, database_path: str | Path):
        path = writer_lock_path(database_path)
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            # A read-only file system: an existing lock file still takes a flock, and the
            # database's own writes then say what is wrong.
            self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)

    def __enter__(self) -> "WriterLock":
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc_info) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._fd)


# What SQLite says when a lock was not granted within the busy timeout.
_BUSY_MESSAGES = ("database is locked", "database table is locked", "database is busy")


def database_busy(exc: BaseException) -> bool:
    """Return True when ``exc`` is SQLite giving up on a lock held by another connection."""
    return isinstance(exc, sqlite3.OperationalError) and str(exc).lower().startswith(_BUSY_MESSAGES)


class DatabaseReplaced(sqlite3.OperationalError):
    """Raised when the database file was removed or replaced while it was open: SQLite would
    go on writing to the unlinked file, and every change would be lost at the next start."""


# The causes a store failure is named by, keyed by SQLite's primary result code
# (https://sqlite.org/rescode.html), and the message each has when the code is missing.
_UNAVAILABLE_CAUSES = {
    13: ("the database's disk is full", "database or disk is full"),  # SQLITE_FULL
    8: ("the database is read-only", "attempt to write a readonly database"),  # SQLITE_READONLY
    10: ("the database's disk reported an I/O error", "disk i/o error"),  # SQLITE_IOERR
    11: ("the database file is corrupt", "database disk image is malformed"),  # SQLITE_CORRUPT
    26: ("the database file is not a database", "file is not a database"),  # SQLITE_NOTADB
    14: ("the database file cannot be opened", "unable to open database file"),  # SQLITE_CANTOPEN
}
# A connection opened on a full disk cannot make its WAL index (the -shm file).
_SQLITE_IOERR_SHMSIZE = 10 | (19 << 8)
BUSY_CAUSE = "the database is busy with another writer"
REPLACED_CAUSE = "the database file was removed or replaced while the server ran"


def database_unavailable(exc: BaseException) -> str | None:
    """Return what made the database unable to answer, in words for a person ("the
    database's disk is full"), when ``exc`` is such a failure: busy or locked, disk full,
    read-only, an I/O error, corrupt, or its file removed or replaced. Returns None for
    anything else (a bug, a constraint violation)."""
    if isinstance(exc, DatabaseReplaced):
        return REPLACED_CAUSE
    if not isinstance(exc, sqlite3.Error):
        return None
    if database_busy(exc):
        return BUSY_CAUSE
    code = getattr(exc, "sqlite_errorcode", None)
    if code == _SQLITE_IOERR_SHMSIZE:
        return _UNAVAILABLE_CAUSES[13][0]
    if code is not None and code & 0xFF in _UNAVAILABLE_CAUSES:
        return _UNAVAILABLE_CAUSES[code & 0xFF][0]
    text = str(exc).lower()
    for cause, message in _UNAVAILABLE_CAUSES.values():
        if text.startswith(message):
            return cause
    return None


def check_integrity(path: str | Path) -> None:
    """Run SQLite's ``quick_check`` on the database at ``path`` (which must exist).

    Raises DatabaseCorrupt naming the file and the check's first message when it fails, or
    when the file cannot be read as a database at all.
    """
    try:
        conn = sqlite3.connect(_uri(path, "rw"), uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as exc:
        raise DatabaseCorrupt(f"the database {path} cannot be opened: {exc}") from None
    try:
        first = conn.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.Error as exc:
        if database_busy(exc):
            raise
        first = str(exc)
    finally:
        conn.close()
    if first != "ok":
        raise DatabaseCorrupt(f"the database {path} failed its integrity check (quick_check: {first})")


def _uri(path: str | Path, mode: str) -> str:
    """An SQLite URI for ``path`` opened in ``mode`` ("rw": never create the file)."""
    return Path(path).absolute().as_uri() + f"?mode={mode}"


def file_identity(path: str | Path) -> tuple[int, int] | None:
    """Return the (device, inode) of the file at ``path``, or None when there is none."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return info.st_dev, info.st_ino


class WritingDatabase(Database):
    """sqlite-utils' Database whose ``atomic()`` begins the outermost transaction IMMEDIATE,
    after ``before_write()`` (which raises to refuse the write)."""

    before_write: Callable[[], None] = staticmethod(lambda: None)

    @contextlib.contextmanager
    def atomic(self) -> Iterator["WritingDatabase"]:
        """Run the block in a transaction that holds the write lock from its start (nested
        blocks: a savepoint, as in sqlite-utils); commits, or rolls back and re-raises."""
        if self.conn.in_transaction:
            with super().atomic():
                yield self
            return
        self.before_write()
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        try:
            self.conn.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise


def connect(path: str | Path, *, create: bool = True) -> WritingDatabase:
    """Return a sqlite-utils Database on ``path`` with WAL mode and the busy timeout set;
    its ``atomic()`` transactions begin IMMEDIATE. Without ``create``, a missing file is an
    error (sqlite3.OperationalError) instead of a new empty database."""
    conn = sqlite3.connect(
        _uri(path, "rwc" if create else "rw"), uri=True, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False,
    )
    db = WritingDatabase(conn, execute_plugins=False)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA synchronous = NORMAL")
    return db


def initialise(path: str | Path) -> None:
    """Create the database file if needed, switch it to WAL and apply all migrations."""
    db = connect(path)
    try:
        db.enable_wal()
        apply_migrations(db)
    finally:
        db.close()


class ThreadLocalDatabase:
    """Hands each thread its own connection to one database file, as long as that file is
    the one first opened.

    SQLite keeps writing to a database file removed (or replaced by another) while it is
    open, and in WAL mode does not notice; ``verify`` compares the file at the path with the
    one opened, and once they differ every ``get`` raises DatabaseReplaced.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._local = threading.local()
        self._all: list[Database] = []
        self._lock = threading.Lock()
        self._identity = file_identity(self.path)
        self._replaced = False

    def get(self) -> Database:
        """Return this thread's connection, opening it on first use. Raises
        DatabaseReplaced once the file was found removed or replaced."""
        if self._replaced:
            raise DatabaseReplaced(f"{REPLACED_CAUSE}: {self.path}")
        db = getattr(self._local, "db", None)
        if db is None:
            self.verify()
            db = connect(self.path, create=False)
            db.before_write = self.verify
            self._local.db = db
            with self._lock:
                self._all.append(db)
        return db

    def verify(self) -> None:
        """Check that the file at the path is still the one opened (one stat). Raises
        DatabaseReplaced, and logs an ERROR the first time, when it is not."""
        if self._replaced:
            raise DatabaseReplaced(f"{REPLACED_CAUSE}: {self.path}")
        if file_identity(self.path) == self._identity:
            return
        with self._lock:
            first, self._replaced = not self._replaced, True
        if first:
            log.error("the database file %s was removed or replaced while open: refusing every database access "
                      "until a restart (changes written since then are in the removed file only)", self.path)
        raise DatabaseReplaced(f"{REPLACED_CAUSE}: {self.path}")

    def close_all(self) -> None:
        """Close every connection opened so far."""
        with self._lock:
            for db in self._all:
                db.close()
            self._all.clear()
        self._local = threading.local()
