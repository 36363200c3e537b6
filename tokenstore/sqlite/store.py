"""The store on one SQLite file: the embedded default, for one host."""

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from ..errors import StoreUnavailable
from ..models import AccessReads
from ..sql.store import SqlStore
from .database import (
    SqliteDatabase,
    ThreadLocalDatabase,
    WriterLock,
    check_integrity,
    initialise,
    translate,
)
from .housekeeping import Checkpointer, Job, run_batch

log = logging.getLogger(__name__)

# Free space (bytes) on the database's file system below which the store is not ready for writes.
READY_FREE_BYTES = 1024 * 1024
DISK_FULL_CAUSE = "the database's disk is full"


class SqliteStore(SqlStore):
    """Robot accounts and their rights, kept in one SQLite file (WAL mode); several
    processes of one host may share it."""

    backend = "sqlite"

    def __init__(
        self, path: str | Path, *, bcrypt_cost: int = 12, clock: Callable[[], float] = time.time,
        create: bool = True, integrity_check: bool = False,
    ):
        """Open (and with ``create``, make) the database at ``path`` and apply its migrations.

        Raises FileNotFoundError when the file is missing and ``create`` is False, and
        DatabaseCorrupt when ``integrity_check`` is asked for and fails.
        """
        self.path = Path(path)
        self.bcrypt_cost = bcrypt_cost
        self.clock = clock
        if not create and not self.path.exists():
            raise FileNotFoundError(2, "the database is missing", str(self.path))
        if integrity_check and self.path.exists():
            check_integrity(self.path)  # before anything writes to a damaged file
        initialise(self.path)
        self._dbs = ThreadLocalDatabase(self.path)
        self._writer_lock: WriterLock | None = None

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    @property
    def location(self) -> str:
        """Where the data lives, for people (the file's path)."""
        return str(self.path)

    @property
    def db(self) -> SqliteDatabase:
        """This thread's connection."""
        return self._dbs.get()

    def close(self) -> None:
        """Close every connection this store opened."""
        self._dbs.close_all()

    def check(self) -> None:
        """Check that the database file is the one opened and answers a read; raises
        StoreUnavailable (DatabaseReplaced among them) otherwise."""
        self.watch()
        self.db.execute("SELECT count(*) FROM namespaces").fetchone()

    def watch(self) -> None:
        """The check run once a second while serving: raise DatabaseReplaced (a
        StoreUnavailable) when the database file was removed or replaced since it was opened
        (one stat); every later use of the store raises it too."""
        self._dbs.verify()

    # The former names of check and watch.
    ping = check
    verify_file = watch

    def run_batch(self, jobs: list[Job], reads: Sequence[AccessReads | None] = ()) -> list[tuple[bool, object]]:
        """Run the jobs (zero-argument callables doing short writes) in one transaction,
        each in a savepoint of its own, on the calling thread's connection (with SQLite's
        automatic checkpoints off: ``housekeeping`` does them); returns one (ok, result or
        exception) per job. When the transaction itself fails nothing is written and every
        job gets that error (a StoreUnavailable). ``reads`` are not read ahead: SQLite
        reads in the process, with no trip to save."""
        if self._writer_lock is None:
            self._writer_lock = WriterLock(self.path)
        try:
            self.watch()  # a commit into a removed file would be acknowledged and lost
            conn = self.db.conn
        except StoreUnavailable as exc:
            return [(False, exc)] * len(jobs)
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        with self._writer_lock:
            return run_batch(conn, jobs, translate)

    def record_readiness(self) -> float:
        """Rewrite the readiness row (``ReadinessQueries.record_readiness``); returns the time
        written. First raises StoreUnavailable ("the database's disk is full") when the
        database's file system has less than READY_FREE_BYTES free: rewriting one row reuses
        space the WAL already holds, so it would commit on a disk where the next new row
        cannot."""
        usage = os.statvfs(self.path.parent)
        if usage.f_bavail * usage.f_frsize < READY_FREE_BYTES:
            raise StoreUnavailable(DISK_FULL_CAUSE, f"less than {READY_FREE_BYTES} bytes free")
        return super().record_readiness()

    def housekeeping(self) -> "Checkpointer":
        """Start what a serving process runs beside its requests: the WAL checkpointer.
        Returns it; its ``close`` stops it."""
        return Checkpointer(self)

    def close_writer(self) -> None:
        """Release what ``run_batch`` holds (the writers' lock file)."""
        if self._writer_lock is not None:
            self._writer_lock.close()
            self._writer_lock = None

    # -- the collector's hooks ----------------------------------------------------------

    def _foreign_keys(self) -> Iterator[tuple[str, str, str, str | None]]:
        """Yield (table, column, parent table, parent column) for each foreign key."""
        tables = [row[0] for row in self.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )]
        for table in tables:
            quoted = '"' + table.replace('"', '""') + '"'
            for fk in self.db.execute(f"PRAGMA foreign_key_list({quoted})").fetchall():
                yield table, fk[3], fk[2], fk[4]

    @contextlib.contextmanager
    def _collector_run(self) -> Iterator[bool]:
        """One run: several at once only take turns batch by batch, which is harmless."""
        yield True

    @contextlib.contextmanager
    def _collector_turn(self) -> Iterator[None]:
        # Each batch takes the writers' turn like the server's audit writers do, so that
        # neither side waits in SQLite's polling busy handler for the other.
        lock = WriterLock(self.path)
        try:
            with lock:
                yield
        finally:
            lock.close()
