"""The benchmark's PostgreSQL server, with production's durability, and what it is asked
while the load runs: CPU time, commits, connections, and who holds regauth's write lock.

The server is ``tests.postgres_server.PostgresServer`` (initdb in a temporary directory,
127.0.0.1 only, stopped and removed at the end) with the tests' speed-for-durability trades
undone: every commit is flushed to disk (fsync, synchronous_commit, full_page_writes on) and
max_connections is PostgreSQL's default, 100. pg_stat_statements is loaded (as on most
production servers; with track_planning, whose cost is a clock read per statement planned)
to count the statements each token costs and their planning and execution time.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.postgres_server import PostgresServer
from tokenstore.postgres.schema import WRITE_LOCK_KEY

from .procs import cpu_seconds

DURABLE = {
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "wal_level": "replica",
    "max_wal_senders": "10",
    "max_connections": "100",
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track_planning": "on",
}
# The write lock as pg_locks shows a bigint advisory lock: high and low 32 bits, subid 1.
_LOCK_HIGH, _LOCK_LOW = WRITE_LOCK_KEY >> 32, WRITE_LOCK_KEY & 0xFFFF_FFFF


class BenchPostgres:
    """A PostgreSQL server for the benchmark; ``close`` stops it and removes its files."""

    def __init__(self) -> None:
        self.server = PostgresServer(settings=DURABLE)

    def start(self) -> None:
        """Start it (initdb the first time); raises PostgresServerError when it does not."""
        self.server.start()

    def close(self) -> None:
        """Stop the server and remove its files."""
        self.server.close()

    def version(self) -> str:
        """Return the server's version string."""
        return self.server.admin_execute("SHOW server_version")[0][0]

    def setting(self, name: str) -> str:
        """Return the value of setting ``name`` as the server shows it."""
        return self.server.admin_execute("SELECT current_setting(%s)", [name])[0][0]

    def create_database(self, name: str) -> str:
        """Create database ``name`` (dropping one left from before); returns the URL."""
        self.server.drop_database(name)
        return self.server.create_database(name)

    def url(self, dbname: str) -> str:
        """The URL of database ``dbname``."""
        return self.server.url(dbname)

    def cpu_seconds(self) -> float:
        """CPU time of the server so far: the postmaster, its live backends and the ones it
        has reaped."""
        try:
            pid = int((self.server.data_dir / "postmaster.pid").read_text().split()[0])
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except (OSError, ValueError, IndexError):
            return 0.0
        own = sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime
        return own + sum(cpu_seconds(int(child)) for child in children)

    def track_statements(self, dbname: str) -> None:
        """Create pg_stat_statements in ``dbname`` (its view is read there)."""
        with psycopg.connect(self.url(dbname), autocommit=True, connect_timeout=5) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")

    def reset_statements(self, dbname: str) -> None:
        """Forget the statements counted so far (every database's)."""
        with psycopg.connect(self.url(dbname), autocommit=True, connect_timeout=5) as conn:
            conn.execute("SELECT pg_stat_statements_reset()")

    def statements(self, dbname: str) -> list[Statement]:
        """The statements run in ``dbname`` since ``reset_statements``, most called first."""
        with psycopg.connect(self.url(dbname), autocommit=True, connect_timeout=5) as conn:
            rows = conn.execute(
                "SELECT query, calls, total_exec_time, total_plan_time FROM pg_stat_statements"
                " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND query NOT LIKE '%%pg_stat_statements%%' ORDER BY calls DESC"
            ).fetchall()
        return [Statement(" ".join(query.split()), calls, total, plan) for query, calls, total, plan in rows]


@dataclass(frozen=True)
class Statement:
    """One normalized statement as pg_stat_statements counts it."""

    query: str
    calls: int
    total_ms: float  # executing
    plan_ms: float


@dataclass(frozen=True)
class TokenTransactions:
    """What the statements of a warm token load add up to, per token (each token writes one
    audit INSERT) and per write transaction (each takes the write lock once)."""

    tokens: int
    commits: int
    statements_per_token: float  # inside the transaction: not BEGIN, the lock or COMMIT
    planning_us: float  # per token
    executing_us: float  # per token
    lock_wait_ms: float  # per transaction

    @classmethod
    def of(cls, statements: list[Statement]) -> TokenTransactions:
        """Add up ``statements`` (``BenchPostgres.statements`` after a warm run)."""
        def starting(*words: str) -> list[Statement]:
            return [st for st in statements if st.query.upper().startswith(words)]

        tokens = max(1, sum(st.calls for st in starting("INSERT INTO AUDIT_LOG")))
        locks = starting("SELECT PG_ADVISORY_XACT_LOCK")
        framing = {id(st) for st in starting("BEGIN", "COMMIT", "SELECT PG_ADVISORY_XACT_LOCK")}
        inside = [st for st in statements if id(st) not in framing]
        return cls(
            tokens=tokens,
            # Transactions by their lock, which each takes once: pg_stat_statements was seen to
            # miss COMMITs (5 of 10 in one check), and misses a BEGIN sent in a pipeline.
            commits=max(1, sum(st.calls for st in locks)),
            statements_per_token=sum(st.calls for st in inside) / tokens,
            planning_us=sum(st.plan_ms for st in inside) / tokens * 1000,
            executing_us=sum(st.total_ms for st in inside) / tokens * 1000,
            lock_wait_ms=sum(st.total_ms for st in locks) / max(1, sum(st.calls for st in locks)),
        )


@dataclass
class LockShare:
    """What the samples of the write lock saw: how often someone held it, and what the
    holder was doing then; how many waited for it on average."""

    samples: int
    held: int
    holder: Counter
    waiting: int

    @property
    def held_share(self) -> float:
        return self.held / self.samples if self.samples else 0.0

    @property
    def mean_waiting(self) -> float:
        return self.waiting / self.samples if self.samples else 0.0

    def holder_shares(self) -> dict[str, float]:
        return {what: count / self.held for what, count in self.holder.most_common()} if self.held else {}


def _holder_activity(state: str | None, wait_type: str | None, wait_event: str | None) -> str:
    """Name what a backend holding the write lock is doing."""
    if wait_type == "Client" or (state or "").startswith("idle in transaction"):
        return "waiting for regauth's next statement"
    if wait_type in ("IO", "LWLock") and "WAL" in (wait_event or ""):
        return "writing and flushing the WAL"
    if wait_type is None:
        return "running a statement"
    # The two views are read a moment apart: the holder may already be elsewhere.
    return "other"


class LockSampler:
    """Samples, every ``interval`` seconds from a thread of its own until ``stop``, which
    backend holds regauth's write lock on ``dbname`` and what it is doing, and how many
    wait for it."""

    def __init__(self, pg: BenchPostgres, dbname: str, interval: float = 0.01, limit: float = 120.0):
        self._pg, self._dbname, self._interval, self._limit = pg, dbname, interval, limit
        self._stop = threading.Event()
        self.share = LockShare(0, 0, Counter(), 0)
        self._thread = threading.Thread(target=self._run, name="lock-sampler", daemon=True)

    def __enter__(self) -> LockSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        query = (
            "SELECT l.granted, a.state, a.wait_event_type, a.wait_event FROM pg_locks l"
            " JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.classid = %s::oid AND l.objid = %s::oid"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = %s)"
        )
        deadline = time.monotonic() + self._limit
        with contextlib.closing(psycopg.connect(self._pg.url("postgres"), autocommit=True, connect_timeout=5)) as conn:
            while not self._stop.is_set() and time.monotonic() < deadline:
                rows = conn.execute(query, [_LOCK_HIGH, _LOCK_LOW, self._dbname]).fetchall()
                share = self.share
                share.samples += 1
                for granted, state, wait_type, wait_event in rows:
                    if granted:
                        share.held += 1
                        share.holder[_holder_activity(state, wait_type, wait_event)] += 1
                    else:
                        share.waiting += 1
                self._stop.wait(self._interval)


def lock_ceiling(pg: BenchPostgres, seconds: float, writers: int) -> tuple[float, float]:
    """The serialized write path alone, without regauth: ``writers`` connections to a
    scratch database, each committing, as fast as it can for ``seconds``, a transaction that
    takes the write lock as regauth's do and inserts one row. Returns (commits per second,
    mean milliseconds the lock was held per commit, as seen by the committing client)."""
    url = pg.create_database("regauth_lock_ceiling")
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute("CREATE TABLE rows (id BIGINT GENERATED ALWAYS AS IDENTITY, at DOUBLE PRECISION)")
    done: list[tuple[int, float]] = []
    stop_at = time.monotonic() + seconds

    def write() -> None:
        commits, held = 0, 0.0
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            while time.monotonic() < stop_at:
                conn.execute(f"BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")
                began = time.perf_counter()  # the lock is ours from here to the COMMIT's return
                conn.execute("INSERT INTO rows (at) VALUES (%s)", [time.time()])
                conn.execute("COMMIT")
                held += time.perf_counter() - began
                commits += 1
        done.append((commits, held))

    threads = [threading.Thread(target=write) for _ in range(writers)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 30)
    took = time.monotonic() - began
    pg.server.drop_database("regauth_lock_ceiling")
    commits = sum(c for c, _ in done)
    return commits / took, (sum(h for _, h in done) / commits * 1000) if commits else 0.0
