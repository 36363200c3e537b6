"""Opening the SQLite database: one connection per thread, WAL mode, a busy timeout, write
transactions begun IMMEDIATE (docs/architecture.md, "Writing to SQLite", says why), and
SQLite's errors turned into tokenstore's.
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

from ..errors import DatabaseCorrupt, DuplicateRow, StoreBusy, StoreReplaced, StoreUnavailable
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


BUSY_CAUSE = "the database is busy with another writer"
REPLACED_CAUSE = "the database file was removed or replaced while the server ran"

# What SQLite says when a lock was not granted within the busy timeout.
_BUSY_MESSAGES = ("database is locked", "database table is locked", "database is busy")


def database_busy(exc: BaseException) -> bool:
    """Return True when ``exc`` is SQLite giving up on a lock held by another connection."""
    return isinstance(exc, sqlite3.OperationalError) and str(exc).lower().startswith(_BUSY_MESSAGES)


class DatabaseReplaced(StoreReplaced):
    """Raised when the database file was removed or replaced while it was open: SQLite would
    go on writing to the unlinked file, and every change would be lost at the next start."""

    def __init__(self, path: str | Path):
        super().__init__(REPLACED_CAUSE, str(path))


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


def database_unavailable(exc: BaseException) -> str | None:
    """Return what made the database unable to answer, in words for a person ("the
    database's disk is full"), when ``exc`` is such a failure: busy or locked, disk full,
    read-only, an I/O error, corrupt, or its file removed or replaced. Returns None for
    anything else (a bug, a constraint violation)."""
    if isinstance(exc, StoreUnavailable):
        return exc.cause
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


def translate(exc: sqlite3.Error) -> Exception:
    """Return the tokenstore error that ``exc`` stands for: DuplicateRow for a unique rule
    broken, StoreBusy for a lock not granted in time, StoreUnavailable for a database that
    cannot answer; ``exc`` itself for anything else (a bug)."""
    if isinstance(exc, sqlite3.IntegrityError) and "UNIQUE constraint failed" in str(exc):
        return DuplicateRow(str(exc))
    cause = database_unavailable(exc)
    if cause is None:
        return exc
    if cause == BUSY_CAUSE:
        return StoreBusy(cause, str(exc))
    return StoreUnavailable(cause, str(exc))


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


class SqliteDatabase:
    """One thread's connection, as the shared queries use it (``tokenstore.sql.connection``):
    SQLite's errors come out as tokenstore errors (``translate``)."""

    def __init__(self, db: WritingDatabase):
        self.sqlite = db

    @property
    def conn(self) -> sqlite3.Connection:
        """The sqlite3 connection, for this backend's own use."""
        return self.sqlite.conn

    @property
    def in_transaction(self) -> bool:
        return self.sqlite.conn.in_transaction

    def row_lock(self, alias: str) -> str:
        """Nothing: SQLite runs one write transaction at a time."""
        return ""

    def remember(self, key, rows: list[tuple]) -> None:
        """Keep nothing: SQLite reads in the process, there is no trip to save."""

    def recall(self, key) -> None:
        """Return None: nothing is read ahead on SQLite."""

    def execute_at_commit(self, sql: str, params=()) -> None:
        """Run it now: SQLite runs a statement in the process, there is no trip to save."""
        self.execute(sql, params)

    def execute(self, sql: str, params=()) -> "sqlite3.Cursor | ReturnedRows":
        """Run one statement; returns its cursor. Raises as ``translate`` says."""
        try:
            if " RETURNING " not in sql:
                return self.sqlite.execute(sql, params)
            # A write with RETURNING holds its lock until every row was read, and (having
            # rows) is not committed by sqlite-utils: read them now and commit it here.
            was_in_transaction = self.sqlite.conn.in_transaction
            cursor = self.sqlite.execute(sql, params)
            rows = ReturnedRows(cursor.fetchall(), cursor.rowcount)
            if not was_in_transaction and self.sqlite.conn.in_transaction:
                self.sqlite.conn.execute("COMMIT")
            return rows
        except sqlite3.Error as exc:
            raise _translated(exc) from None

    @contextlib.contextmanager
    def atomic(self, *, lock_wait: float | None = None) -> Iterator["SqliteDatabase"]:
        """A write transaction begun IMMEDIATE (nested: a savepoint). With ``lock_wait``
        (seconds) the write lock is waited for that long instead of the busy timeout."""
        conn = self.sqlite.conn
        if lock_wait is not None:
            conn.execute(f"PRAGMA busy_timeout = {int(lock_wait * 1000)}")
        try:
            with self.sqlite.atomic():
                yield self
        except sqlite3.Error as exc:
            raise _translated(exc) from None
        finally:
            if lock_wait is not None:
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    def close(self) -> None:
        self.sqlite.close()


class ReturnedRows:
    """The rows a write's RETURNING clause gave, read in full."""

    def __init__(self, rows: list[tuple], rowcount: int):
        self._rows = rows
        self.rowcount = rowcount

    def fetchone(self) -> tuple | None:
        return self._rows.pop(0) if self._rows else None

    def fetchall(self) -> list[tuple]:
        rows, self._rows = self._rows, []
        return rows

    def __iter__(self):
        return iter(self.fetchall())


def _translated(exc: sqlite3.Error) -> Exception:
    translated = translate(exc)
    if translated is not exc:
        translated.__cause__ = exc
    return translated


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
        self._all: list[SqliteDatabase] = []
        self._lock = threading.Lock()
        self._identity = file_identity(self.path)
        self._replaced = False

    def get(self) -> SqliteDatabase:
        """Return this thread's connection, opening it on first use. Raises
        DatabaseReplaced once the file was found removed or replaced, StoreUnavailable when
        the file cannot be opened."""
        if self._replaced:
            raise DatabaseReplaced(self.path)
        db = getattr(self._local, "db", None)
        if db is None:
            self.verify()
            try:
                opened = connect(self.path, create=False)
            except sqlite3.Error as exc:
                raise _translated(exc) from None
            opened.before_write = self.verify
            db = SqliteDatabase(opened)
            self._local.db = db
            with self._lock:
                self._all.append(db)
        return db

    def verify(self) -> None:
        """Check that the file at the path is still the one opened (one stat). Raises
        DatabaseReplaced, and logs an ERROR the first time, when it is not."""
        if self._replaced:
            raise DatabaseReplaced(self.path)
        if file_identity(self.path) == self._identity:
            return
        with self._lock:
            first, self._replaced = not self._replaced, True
        if first:
            log.error("the database file %s was removed or replaced while open: refusing every database access "
                      "until a restart (changes written since then are in the removed file only)", self.path)
        raise DatabaseReplaced(self.path)

    def close_all(self) -> None:
        """Close every connection opened so far."""
        with self._lock:
            for db in self._all:
                db.close()
            self._all.clear()
        self._local = threading.local()
