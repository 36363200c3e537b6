"""Opening the SQLite database: one connection per thread, WAL mode, a busy timeout.

The gateway calls tokenstore from a pool of threads; SQLite connections must not be shared
between threads, so each thread opens its own on first use.
"""

import sqlite3
import threading
from pathlib import Path

from sqlite_utils import Database

from .schema import apply_migrations

# How long a writer waits for another process's write lock before giving up.
BUSY_TIMEOUT_MS = 10_000


def connect(path: str | Path) -> Database:
    """Return a sqlite-utils Database on ``path`` with WAL mode and the busy timeout set."""
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    db = Database(conn, execute_plugins=False)
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
