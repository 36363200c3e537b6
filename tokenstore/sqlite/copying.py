"""The SQLite end of a store copy (``tokenstore.sql.copy``), and an SQLite file opened as a
copy's source or destination."""

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from ..errors import CopyError, SourceMissing, StoreUnavailable
from ..sql.copy import End, quoted
from . import database
from .store import SqliteStore


@contextlib.contextmanager
def opened_for_copy(path: str | Path, side: str, *, bcrypt_cost: int = 12) -> Iterator[SqliteStore]:
    """Open the store in the file at ``path`` as the copy's ``side``, "source" or
    "destination", with its migrations applied, and close it on leaving. A source must
    exist; a destination is made when missing, readable by its owner alone (it will hold
    secret hashes), and then removed again (with its WAL files) when the block raises.

    Yields the store. Raises SourceMissing, CopyError when a destination's folder is
    missing, StoreUnavailable when the file cannot be opened as a database.
    """
    path = Path(path)
    made = False
    if not path.exists():
        if side == "source":
            raise SourceMissing(f"the source {path} does not exist")
        if not path.parent.is_dir():
            raise CopyError(f"the destination's folder {path.parent} does not exist")
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
        made = True
    try:
        try:
            store = SqliteStore(path, bcrypt_cost=bcrypt_cost, create=side == "destination")
        except sqlite3.Error as exc:
            translated = database.translate(exc)
            if isinstance(translated, StoreUnavailable):
                raise translated from None
            raise
        try:
            yield store
        finally:
            store.close()
    except BaseException:
        if made:
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(OSError):
                    os.unlink(f"{path}{suffix}")
        raise


class SqliteEnd(End):
    """A copy's end on an SQLite file, on a connection of its own."""

    driver_error = sqlite3.Error

    def __init__(self, store: SqliteStore, side: str):
        super().__init__(store, side)
        try:
            self._db = database.connect(store.path, create=False)
        except sqlite3.Error as exc:
            raise self.translated(exc, None) from None
        self.conn = self._db.conn

    def translated(self, exc: sqlite3.Error, table: str | None) -> Exception:
        translated = database.translate(exc)
        if isinstance(translated, StoreUnavailable):
            return self.unavailable(translated)
        if isinstance(exc, (sqlite3.IntegrityError, sqlite3.OperationalError)):
            # A foreign key, check or unique rule broken, a missing column: SQLite's words
            # name no value.
            return self.invalid(str(exc), table)
        return exc

    def begin_snapshot(self) -> None:
        with self.errors():
            # The snapshot is taken at the transaction's first read, not at BEGIN (WAL mode:
            # writers go on meanwhile, and this connection keeps seeing this moment).
            self.conn.execute("BEGIN")
            self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()

    def begin_writing(self) -> None:
        with self.errors():
            self.conn.execute("BEGIN IMMEDIATE")

    def write(self, table: str, columns: list[str], rows: list[tuple]) -> None:
        placeholders = ", ".join("?" for _ in columns)
        with self.errors(table):
            self.conn.executemany(
                f"INSERT INTO {quoted(table)} ({', '.join(map(quoted, columns))}) VALUES ({placeholders})", rows,
            )
