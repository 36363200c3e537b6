"""How a serving process writes to SQLite: batched write transactions and a WAL checkpointer
of its own (docs/architecture.md, "Writing to SQLite", says why)."""

import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from .database import WriterLock

if TYPE_CHECKING:
    from .store import SqliteStore

log = logging.getLogger(__name__)

Job = Callable[[], object]

# Seconds between checkpoints, and the WAL size (pages) below which one is skipped (SQLite's
# own automatic checkpoint threshold).
CHECKPOINT_INTERVAL = 0.5
CHECKPOINT_PAGES = 1000


def run_batch(
    conn: sqlite3.Connection, jobs: list[Job], translate: Callable[[sqlite3.Error], Exception],
) -> list[tuple[bool, object]]:
    """Run ``jobs`` in one IMMEDIATE transaction on ``conn``, each in a savepoint; returns
    one (ok, result or exception) per job. When the transaction fails, every job gets the
    failure, translated."""
    outcomes: list[tuple[bool, object]] = []
    try:
        # IMMEDIATE: wait for the write lock once, up front, not once per job.
        conn.execute("BEGIN IMMEDIATE")
        for job in jobs:
            conn.execute("SAVEPOINT job")
            outcome = _outcome(job)
            if not conn.in_transaction:
                raise sqlite3.OperationalError("the transaction was rolled back")
            if not outcome[0]:
                conn.execute("ROLLBACK TO job")
            conn.execute("RELEASE job")
            outcomes.append(outcome)
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        # Nothing of the batch was written; every caller hears why.
        if conn.in_transaction:
            conn.rollback()
        return [(False, translate(exc))] * len(jobs)
    return outcomes


def _outcome(job: Job) -> tuple[bool, object]:
    try:
        return True, job()
    except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
        return False, exc


class Checkpointer:
    """Checkpoints the store's WAL every ``interval`` seconds on a thread and connection of
    its own, once it holds ``CHECKPOINT_PAGES`` pages.

    A PASSIVE checkpoint never waits for readers or writers, nor blocks them; but while the
    writers keep appending it never catches up, and the WAL only starts over when a write
    begins with everything copied. So after the long pass, a second one runs holding the
    writers' lock (``WriterLock``): it copies only what was written during the first, and
    the next writer then starts the WAL from its beginning.
    """

    def __init__(self, store: "SqliteStore", interval: float | None = None):
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(store, interval or CHECKPOINT_INTERVAL), name="sqlite_checkpoint", daemon=True,
        )
        self._thread.start()

    def _run(self, store: "SqliteStore", interval: float) -> None:
        lock = WriterLock(store.path)
        try:
            while not self._stop.wait(interval):
                try:
                    conn = store.db.conn
                    _, pages, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if pages < CHECKPOINT_PAGES:  # read each time: tests lower it
                        continue
                    with lock:
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except Exception as exc:  # noqa: BLE001 - tried again next round
                    log.debug("checkpoint skipped: %s", exc)
        finally:
            lock.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
