"""What every group of queries uses of the store: its connection, clock and bcrypt cost, and
recording a robot's use on the way through a login without ever holding the login up.

Each group (``namespaces.py``, ``robots.py``, ``accounts.py`` ...) is a class on this base,
and ``SqlStore`` inherits them all. A group calls another group's queries only as plain
functions of that group's module, with the connection and time passed in, never through
``self``.
"""

import logging
from collections.abc import Callable

from ..errors import StoreUnavailable
from .connection import SqlDatabase

log = logging.getLogger(__name__)

# last_accessed is written at most once per robot per this many seconds: a CI fleet's
# token requests must not turn into a stream of writes.
LAST_ACCESSED_INTERVAL = 60.0
# How long (seconds) that bookkeeping write waits for another process's write lock before it is skipped.
BRIEF_WRITE_WAIT = 0.25


class QueryBase:
    """The store's state that queries share. A backend provides ``db`` (and sets
    ``bcrypt_cost`` and ``clock``)."""

    bcrypt_cost: int
    clock: Callable[[], float]

    @property
    def db(self) -> SqlDatabase:
        """This thread's connection."""
        raise NotImplementedError

    def transaction(self):
        """Return a context manager running its block in one write transaction (nested: a
        savepoint) that holds the store's write lock from its start; committed at the end,
        rolled back when the block raises. Raises StoreBusy when the lock is not granted in
        time, StoreUnavailable when the database cannot answer."""
        return self.db.atomic()

    def _record_use(
        self, robot_id: int, last_accessed: float | None, now: float, secret_id: int | None = None,
        secret_last_used: float | None = None, selector: int | None = None,
    ) -> None:
        """Record the robot's use (``robots.last_accessed``) and, given ``secret_id``, the
        secret's (``robot_secrets.last_used``), each at most once per LAST_ACCESSED_INTERVAL,
        and, given ``selector``, the selector of a secret stored without one; a busy
        database never fails or stalls the login (see ``_brief_write``).
        """
        robot_due = last_accessed is None or now - last_accessed >= LAST_ACCESSED_INTERVAL
        secret_due = secret_id is not None and (
            secret_last_used is None or now - secret_last_used >= LAST_ACCESSED_INTERVAL
        )
        if not (robot_due or secret_due or selector is not None):
            return
        cutoff = now - LAST_ACCESSED_INTERVAL

        def record() -> None:  # one write transaction for both
            if robot_due:
                self.db.execute(
                    "UPDATE robots SET last_accessed = ? WHERE id = ? AND (last_accessed IS NULL OR last_accessed <= ?)",
                    [now, robot_id, cutoff],
                )
            if secret_due:
                self.db.execute(
                    "UPDATE robot_secrets SET last_used = ? WHERE id = ? AND (last_used IS NULL OR last_used <= ?)",
                    [now, secret_id, cutoff],
                )
            if selector is not None:
                self.db.execute(
                    "UPDATE robot_secrets SET selector = ? WHERE id = ? AND selector IS NULL", [selector, secret_id],
                )

        self._brief_write(f"the use of robot id {robot_id}", record)

    def _brief_write(self, what: str, write: Callable[[], object]) -> None:
        """Run ``write()`` in a write transaction that waits for another process's write lock
        only briefly (BRIEF_WRITE_WAIT, not the full lock timeout); when the lock is not
        granted, or the write fails, it is rolled back and logged (naming ``what``), not raised.

        For bookkeeping a login does on the way (when a robot, secret or refresh token was
        last used): a skipped record is retried on the next request, a login held up for
        seconds behind a long write, or refused because of one, is not.
        """
        try:
            with self.db.atomic(lock_wait=BRIEF_WRITE_WAIT):
                write()
        except StoreUnavailable as exc:
            log.warning("could not record %s: %s", what, exc)
