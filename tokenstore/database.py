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
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from sqlite_utils import Database

from .schema import apply_migrations

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
        self._fd = os.open(writer_lock_path(database_path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

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


class WritingDatabase(Database):
    """sqlite-utils' Database whose ``atomic()`` begins the outermost transaction IMMEDIATE."""

    @contextlib.contextmanager
    def atomic(self) -> Iterator["WritingDatabase"]:
        """Run the block in a transaction that holds the write lock from its start (nested
        blocks: a savepoint, as in sqlite-utils); commits, or rolls back and re-raises."""
        if self.conn.in_transaction:
            with super().atomic():
                yield self
            return
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


def connect(path: str | Path) -> Database:
    """Return a sqlite-utils Database on ``path`` with WAL mode and the busy timeout set;
    its ``atomic()`` transactions begin IMMEDIATE."""
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
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
    """Hands each thread its own connection to one database file."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._local = threading.local()
        self._all: list[Database] = []
        self._lock = threading.Lock()

    def get(self) -> Database:
        """Return this thread's connection, opening it on first use."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = connect(self.path)
            self._local.db = db
            with self._lock:
                self._all.append(db)
        return db

    def close_all(self) -> None:
        """Close every connection opened so far."""
        with self._lock:
            for db in self._all:
                db.close()
            self._all.clear()
        self._local = threading.local()
