"""The store on PostgreSQL: one database that every replica of regauth shares."""

import contextlib
import functools
import time
from collections.abc import Callable, Iterator, Sequence

from ..models import AccessReads
from ..opening import location_shown
from ..sql.store import SqlStore
from .connection import PostgresDatabase, ThreadLocalConnections, initialise
from .read_ahead import read_ahead

# The session-level advisory lock held by the collector for a whole run, so that one replica
# collects at a time (the write lock, schema.WRITE_LOCK_KEY, is held per batch).
COLLECTOR_LOCK_KEY = 0x72_67_61_75_74_68_67_63  # "rgauthgc"


class PostgresStore(SqlStore):
    """Robot accounts and their rights in a PostgreSQL database, shared by every replica.

    Writes are serialized across replicas by an advisory lock (``connection.py``), as SQLite
    serializes them on one host; reads run concurrently.
    """

    backend = "postgresql"

    def __init__(self, url: str, *, bcrypt_cost: int = 12, clock: Callable[[], float] = time.time):
        """Connect to ``url`` and apply the migrations due. Raises StoreUnavailable when
        PostgreSQL cannot be reached (StoreBusy when another process holds the migration
        lock too long)."""
        self.url = url
        self.bcrypt_cost = bcrypt_cost
        self.clock = clock
        initialise(url)
        self._connections = ThreadLocalConnections(url)

    def __repr__(self) -> str:
        return f"PostgresStore({self.location!r})"

    @property
    def location(self) -> str:
        """The URL, without its password."""
        return location_shown(self.url)

    @property
    def db(self) -> PostgresDatabase:
        """This thread's connection (opened on first use, and again after it broke)."""
        return self._connections.get()

    def close(self) -> None:
        """Close every connection this store opened."""
        self._connections.close_all()

    def check(self) -> None:
        """Raise StoreUnavailable unless PostgreSQL answers a read."""
        self.db.execute("SELECT count(*) FROM namespaces").fetchone()

    def watch(self) -> None:
        """Nothing to watch: a database server cannot be swapped under its clients the way
        a file can, and a lost connection is reconnected by the next statement."""

    def run_batch(
        self, jobs: list[Callable[[], object]], reads: Sequence[AccessReads | None] = (),
    ) -> list[tuple[bool, object]]:
        """Run the jobs in one write transaction, each in a savepoint; returns one (ok,
        result or exception) per job (``PostgresDatabase.run_batch``). What ``reads`` name
        is read first, for every job at once (``read_ahead``)."""
        db = self.db
        if not any(reads):
            return db.run_batch(jobs)
        return db.run_batch(jobs, read_ahead=functools.partial(read_ahead, db, reads, self.clock))

    def housekeeping(self) -> None:
        """PostgreSQL needs nothing run beside the requests (autovacuum is the server's)."""
        return None

    def close_writer(self) -> None:
        """Nothing is held between batches."""

    # -- the collector's hooks ----------------------------------------------------------

    def _foreign_keys(self) -> Iterator[tuple[str, str, str, str | None]]:
        """Yield (table, column, parent table, parent column) for each foreign key of the
        schema regauth's tables are in."""
        yield from self.db.execute(
            "SELECT child.relname, child_column.attname, parent.relname, parent_column.attname"
            " FROM pg_constraint c"
            " JOIN pg_class child ON child.oid = c.conrelid"
            " JOIN pg_class parent ON parent.oid = c.confrelid"
            " JOIN pg_attribute child_column ON child_column.attrelid = c.conrelid"
            "  AND child_column.attnum = c.conkey[1]"
            " JOIN pg_attribute parent_column ON parent_column.attrelid = c.confrelid"
            "  AND parent_column.attnum = c.confkey[1]"
            " WHERE c.contype = 'f' AND child.relnamespace = current_schema()::regnamespace"
        ).fetchall()

    @contextlib.contextmanager
    def _collector_run(self) -> Iterator[bool]:
        """Hold the collector's lock for the run; yields False (no run) when another
        replica's run holds it."""
        db = self.db
        (acquired,) = db.execute("SELECT pg_try_advisory_lock(?)", [COLLECTOR_LOCK_KEY]).fetchone()
        try:
            yield bool(acquired)
        finally:
            if acquired:
                with contextlib.suppress(Exception):  # a lost connection lets go of it anyway
                    db.execute("SELECT pg_advisory_unlock(?)", [COLLECTOR_LOCK_KEY])

    @contextlib.contextmanager
    def _collector_turn(self) -> Iterator[None]:
        # Each batch's transaction takes the write lock like every other writer.
        yield
