"""The write that proves the store takes writes (``/readyz``)."""

from .base import QueryBase


class ReadinessQueries(QueryBase):
    """``record_readiness``."""

    def record_readiness(self) -> float:
        """Rewrite the one row of ``readiness_probe`` with the time now; returns that time.

        Run it through the writer (``run_batch``), as the token writes are: on PostgreSQL it
        then holds the write lock shared and never waits behind or blocks a replica's logins.
        Raises StoreUnavailable when the write cannot commit (a full disk, a read-only file).
        """
        now = self.clock()
        self.db.execute(
            "INSERT INTO readiness_probe (id, written) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET written = excluded.written",
            [now],
        )
        return now
