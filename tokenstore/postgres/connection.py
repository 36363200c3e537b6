"""A connection to PostgreSQL that behaves as the shared queries expect of a backend
(``tokenstore.sql.connection.SqlDatabase``), and one per thread.

Writes are serialized across every replica: a write transaction takes the advisory lock
``WRITE_LOCK_KEY`` right after BEGIN and holds it to its end, as SQLite's BEGIN IMMEDIATE
holds the database's write lock. A connection found broken is dropped and the next statement
outside a transaction connects anew, so the store recovers by itself once PostgreSQL is back.
"""

import contextlib
import functools
import logging
import re
import threading
from collections.abc import Callable, Hashable, Iterator, Sequence

import psycopg
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.numeric import Int8Dumper, NumericLoader

from ..errors import DuplicateRow, StoreBusy, StoreUnavailable
from .errors import (
    BUSY_CAUSE,
    UNREACHABLE_CAUSE,
    is_busy,
    is_connection_failure,
    is_unique_violation,
    unavailable_cause,
)
from .schema import WRITE_LOCK_KEY, apply_migrations

log = logging.getLogger(__name__)

# How long a writer waits for the write lock (or any other lock) before StoreBusy: SQLite's
# busy timeout.
LOCK_TIMEOUT = 10.0
# The lock wait of a write that had better be skipped than wait (bookkeeping on a login).
BRIEF_LOCK_WAIT = 0.25
CONNECT_TIMEOUT = 3

# Connection settings used unless the URL sets them: a short connect timeout, and TCP
# keepalives so that a peer gone without a word is noticed within about a minute.
_CONNECT_DEFAULTS = {
    "connect_timeout": str(CONNECT_TIMEOUT),
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
    "application_name": "regauth",
}

# A string literal, a quoted name or a comment (whose ? is no placeholder), a ?, or a %.
_SQL_TOKENS = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/|\?|%""", re.DOTALL)
_WRITE = re.compile(
    r"\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*(INSERT|UPDATE|DELETE|MERGE|WITH)\b", re.DOTALL | re.IGNORECASE
)
_DATA_CHANGE = re.compile(r"\b(INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)


def _token(match: re.Match) -> str:
    text = match.group(0)
    if text == "?":
        return "%s"
    return text.replace("%", "%%")


@functools.lru_cache(maxsize=2048)
def translate(sql: str) -> tuple[str, bool]:
    """Return ``sql`` with its ``?`` placeholders (SQLite's) as psycopg's ``%s`` and every
    ``%`` doubled (psycopg reads a lone ``%`` as a placeholder, even in a literal), and
    whether it changes data (begins INSERT, UPDATE, DELETE or MERGE, or WITH and holds one).
    A ``?`` inside a string literal, a quoted name or a comment stays as it is."""
    query = _SQL_TOKENS.sub(_token, sql)
    match = _WRITE.match(sql)
    if match is None:
        return query, False
    # A WITH changes data when a data-changing word stands outside its literals.
    writes = match.group(1).upper() != "WITH" or bool(_DATA_CHANGE.search(_SQL_TOKENS.sub(" ", sql)))
    return query, writes


class _NumberLoader(NumericLoader):
    """Loads NUMERIC (what PostgreSQL's sum() and avg() of BIGINT return) as an int when it
    is whole and a float otherwise, as SQLite returns them; the schema has no NUMERIC column."""

    def load(self, data) -> int | float:
        value = super().load(data)
        return int(value) if value.is_finite() and value == value.to_integral_value() else float(value)


def connect(url: str, *, lock_timeout: float | None = LOCK_TIMEOUT) -> psycopg.Connection:
    """Return a new autocommit connection to ``url`` binding parameters on the server,
    sending Python bools as 1 and 0 (SQLite keeps no booleans), with ``lock_timeout`` seconds
    as its lock wait (None: the server's).

    Server-side binding lets psycopg prepare a statement once it has run a few times
    (``prepare_threshold``): the token path's statements are then planned once per
    connection instead of once per request, which was half of PostgreSQL's time per token.
    A parameter whose type nothing in its statement tells (``? IS NULL``) needs a CAST.

    Raises StoreUnavailable when PostgreSQL cannot be reached or refuses the connection,
    ValueError when ``url`` cannot be parsed.
    """
    try:
        given = conninfo_to_dict(url)
    except psycopg.Error:
        # libpq's message quotes the URL, password and all.
        raise ValueError("the PostgreSQL URL cannot be parsed") from None
    settings = {key: value for key, value in _CONNECT_DEFAULTS.items() if key not in given}
    try:
        conn = psycopg.connect(url, autocommit=True, **settings)
    except psycopg.Error as exc:
        raise StoreUnavailable(unavailable_cause(exc) or UNREACHABLE_CAUSE, _detail(exc)) from None
    conn.adapters.register_dumper(bool, Int8Dumper)
    conn.adapters.register_loader("numeric", _NumberLoader)
    if lock_timeout is not None:
        try:
            conn.execute(f"SET lock_timeout = {_milliseconds(lock_timeout)}")
        except psycopg.Error as exc:
            conn.close()
            raise StoreUnavailable(unavailable_cause(exc) or UNREACHABLE_CAUSE, _detail(exc)) from None
    return conn


def initialise(url: str) -> list[str]:
    """Apply every migration due to the database at ``url``; safe when several processes
    start at once. Returns the names of the migrations applied.

    Raises StoreUnavailable (StoreBusy when the write lock was not granted in time).
    """
    conn = connect(url)
    try:
        return apply_migrations(conn)
    except psycopg.Error as exc:
        translated = _translated(exc)
        if translated is None:
            raise
        raise translated from None
    finally:
        conn.close()


def _milliseconds(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _detail(exc: psycopg.Error) -> str:
    """The server's primary message, or libpq's first line: never a DETAIL line, which may
    quote a row's values."""
    primary = exc.diag.message_primary if exc.sqlstate else None
    return primary or (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _translated(exc: psycopg.Error) -> Exception | None:
    """The tokenstore error ``exc`` stands for, or None when it is a bug to raise as it is."""
    if is_unique_violation(exc):
        return DuplicateRow(_detail(exc))
    if is_busy(exc):
        return StoreBusy(BUSY_CAUSE, _detail(exc))
    cause = unavailable_cause(exc)
    return StoreUnavailable(cause, _detail(exc)) if cause else None


class PostgresDatabase:
    """One psycopg connection, used by one thread at a time, opened on first use and opened
    again after it broke; implements ``tokenstore.sql.connection.SqlDatabase``.

    Outside a transaction each statement commits by itself, and one that changes data runs
    in a transaction holding the write lock. Inside ``atomic()`` a failed statement spoils
    the transaction (PostgreSQL's rule, unlike SQLite's): the block must end, or wrap the
    statement in a nested ``atomic()`` to go on.
    """

    def __init__(self, url: str, *, lock_timeout: float = LOCK_TIMEOUT):
        self._url = url
        self._lock_timeout = lock_timeout
        self._conn: psycopg.Connection | None = None
        self._depth = 0
        # In a batch job (``run_batch``): the job's depth, whether its savepoint is set, and
        # its writes held for the commit; then those of the batch's jobs that succeeded.
        self._job_depth: int | None = None
        self._job_savepoint = False
        self._job_writes: list[tuple[str, list]] = []
        self._batch_writes: list[tuple[str, list]] = []
        # Rows read ahead in the open transaction (``remember``), until it writes or ends.
        self._ahead: dict[Hashable, list[tuple]] = {}
        # A batch's BEGIN and lock, not sent yet: they go with its first statement.
        self._pending_begin: tuple[str, ...] | None = None

    @property
    def in_transaction(self) -> bool:
        """True inside ``atomic()``."""
        return self._depth > 0

    def execute(self, sql: str, params: Sequence = ()) -> psycopg.Cursor:
        """Run one statement with ``?`` placeholders; returns its cursor (fetchone,
        fetchall, iteration, rowcount; rows are tuples).

        Raises DuplicateRow for a unique rule broken, StoreBusy for a lock not granted in
        time, StoreUnavailable when PostgreSQL cannot answer; psycopg's own error for a bug
        (bad SQL, a check or foreign key broken).
        """
        query, writes = translate(sql)
        if writes and not self._depth:
            with self.atomic():
                return self._run(query, params)
        if writes:
            self._ahead.clear()  # what was read ahead may be what this changes
            self._before_job_write()
        return self._run(query, params)

    def remember(self, key: Hashable, rows: list[tuple]) -> None:
        """Keep ``rows``, read ahead in the open transaction, as the answer to the read ``key``
        names, until this connection writes or the transaction ends (``recall``). Outside a
        transaction nothing is kept: nothing would hold the answer still."""
        if self._depth:
            self._ahead[key] = rows

    def recall(self, key: Hashable) -> list[tuple] | None:
        """Return the rows ``remember`` kept under ``key``, or None when there are none."""
        return self._ahead.get(key)

    def read_together(self, statements: Sequence[tuple[str, Sequence]]) -> list[list[tuple]]:
        """Run reads (``?`` placeholders) in one round trip, a pipeline, with a batch's BEGIN
        and lock before them when they were not sent yet; returns each one's rows, in order.
        Raises as ``execute``."""
        for attempt in range(2):
            conn = self._connection()
            beginning = self._pending_begin
            try:
                with self._pipeline(conn):
                    cursors = [conn.cursor() for _ in statements]
                    for cursor, (sql, params) in zip(cursors, statements):
                        cursor.execute(translate(sql)[0], list(params))
                return [cursor.fetchall() for cursor in cursors]
            except psycopg.Error as exc:
                failure = self._failure(conn, exc)
                if not self._worth_a_new_connection(attempt, beginning is not None, exc):
                    raise failure from None
        raise AssertionError("unreachable")  # pragma: no cover

    def execute_at_commit(self, sql: str, params: Sequence = ()) -> None:
        """Run a data-changing statement whose result nobody reads: in a batch job (at its
        own level), held and sent with the batch's others just before its commit, dropped if
        the job fails; elsewhere now, as ``execute``. Raises as ``execute``."""
        if self._job_depth is not None and self._depth == self._job_depth:
            self._job_writes.append((translate(sql)[0], list(params)))
            return
        self.execute(sql, params)

    def row_lock(self, alias: str) -> str:
        """`` FOR UPDATE OF alias``: the writers' batches of several processes run side by side
        (``run_batch``), so a row read to be changed is locked."""
        return f" FOR UPDATE OF {alias}"

    @contextlib.contextmanager
    def atomic(self, *, lock_wait: float | None = None) -> Iterator["PostgresDatabase"]:
        """A write transaction holding the write lock from its start, committed at the end of
        the block or rolled back when it raises; nested: a savepoint.

        ``lock_wait`` (seconds) replaces the connection's lock timeout for the block:
        BRIEF_LOCK_WAIT for a write to skip rather than wait (nested, for the row locks it
        meets). Raises StoreBusy when a lock is not granted in time, StoreUnavailable when
        PostgreSQL cannot answer.
        """
        with self._transaction(lock_wait=lock_wait, lock="pg_advisory_xact_lock"):
            yield self

    @contextlib.contextmanager
    def _transaction(self, *, lock_wait: float | None, lock: str) -> Iterator[None]:
        """``atomic``'s body; ``lock`` names the advisory lock function the outermost block
        takes (exclusive, or shared for the writer's batches)."""
        self._ahead.clear()  # a nested block writes (a savepoint is for undoing writes)
        if self._depth:
            self._before_job_write()
            with self._savepoint():
                if lock_wait is None:
                    yield
                    return
                # SET LOCAL lasts until the transaction ends: put it back after the block (a
                # rollback to the savepoint undoes it by itself).
                self._run_plain(f"SET LOCAL lock_timeout = {_milliseconds(lock_wait)}")
                yield
                self._run_plain(f"SET LOCAL lock_timeout = {_milliseconds(self._lock_timeout)}")
            return
        begin = "BEGIN; "
        if lock_wait is not None:
            begin += f"SET LOCAL lock_timeout = {_milliseconds(lock_wait)}; "
        self._run_plain(begin + f"SELECT {lock}({WRITE_LOCK_KEY})")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self._ahead.clear()
            self._rollback()
            raise
        self._depth = 0
        self._ahead.clear()
        if self._conn is not None and self._conn.info.transaction_status == pq.TransactionStatus.INERROR:
            self._rollback()  # COMMIT would roll back without a word
            raise RuntimeError("a statement failed inside the transaction, which was rolled back")
        self._run_plain("COMMIT")

    def run_batch(
        self, jobs: Sequence[Callable[[], object]], *, read_ahead: Callable[[], None] | None = None,
    ) -> list[tuple[bool, object]]:
        """Run each zero-argument callable in ``jobs`` in one write transaction: a job that
        raises is undone alone. ``read_ahead`` runs first in the transaction, to ``remember``
        the reads the jobs will make (fewer statements than the jobs would run one by one).

        The batch holds the write lock SHARED: the writer threads of every process run their
        batches (token issuance and audit rows, which remove no credential) side by side,
        while every other write transaction (a delete, a regenerate, a grant revoked) holds
        it exclusively, so an issuance and such a change never overlap.

        Round trips are what a token costs here, so a job gets a savepoint only once it
        writes (its first data-changing statement or nested block), and its
        ``execute_at_commit`` rows go with every other job's in one pipeline before the
        commit: a warm token request is then its reads alone. A job whose failed statement
        spoils the transaction with no savepoint to go back to gets its error, and the
        others run again in a new transaction (nothing of theirs was committed or answered).

        Returns one ``(True, result)`` or ``(False, exception)`` per job, in order; when the
        transaction itself fails (lock not granted, connection lost, commit refused), every
        job gets that error (StoreBusy or StoreUnavailable). Raises nothing.
        """
        outcomes: list[tuple[bool, object]] = [(False, RuntimeError("not run"))] * len(jobs)
        todo = list(range(len(jobs)))
        while todo:
            try:
                spoiler = self._run_jobs(jobs, todo, outcomes, read_ahead)
            except Exception as exc:  # noqa: BLE001 - every job hears why the transaction failed
                for index in todo:
                    outcomes[index] = (False, exc)
                break
            if spoiler is None:
                break
            todo.remove(spoiler)
        return outcomes

    def _run_jobs(
        self, jobs: Sequence[Callable[[], object]], todo: list[int], outcomes: list,
        read_ahead: Callable[[], None] | None,
    ) -> int | None:
        """Run ``jobs[i]`` for each i in ``todo`` in one transaction, setting ``outcomes[i]``,
        after ``read_ahead``. Returns None once committed, or the index of a job that spoiled
        the transaction (its outcome set; the transaction rolled back). Raises when the
        transaction fails."""
        self._batch_writes = []
        # BEGIN and the lock (shared: see run_batch) wait for the batch's first statement, and
        # go in its round trip; a batch that sends none needs no transaction. Its statements
        # (the token path's) keep one plan each, made once per connection: left to choose,
        # PostgreSQL plans the read-ahead's anew at every batch, as their lists' lengths vary.
        self._pending_begin = (
            "BEGIN", "SET LOCAL plan_cache_mode = force_generic_plan",
            f"SELECT pg_advisory_xact_lock_shared({WRITE_LOCK_KEY})",
        )
        self._depth = 1
        try:
            if read_ahead is not None:
                read_ahead()
            for index in todo:
                outcomes[index] = self._run_job(jobs[index], index)
            self._commit_batch()
        except _Spoiled as spoiled:
            self._abandon_batch()
            outcomes[spoiled.index] = (False, spoiled.error)
            return spoiled.index
        except _BatchNotBegun as failed:
            self._abandon_batch()
            raise failed.error from None
        except BaseException:
            self._abandon_batch()
            raise
        finally:
            self._depth, self._pending_begin, self._batch_writes = 0, None, []
            self._ahead.clear()
        return None

    def _commit_batch(self) -> None:
        """Send the batch's held rows and COMMIT in one round trip (with its BEGIN and lock
        when no statement sent them). Raises as ``execute``; RuntimeError when a statement
        failed in the transaction (the caller rolls it back: COMMIT would do that without a
        word)."""
        writes = _grouped(self._batch_writes)
        if self._pending_begin is not None and not writes:
            self._pending_begin = None
            return  # nothing was sent, nothing to commit
        conn = self._connection()
        if conn.info.transaction_status == pq.TransactionStatus.INERROR:
            raise RuntimeError("a statement failed inside the transaction, which was rolled back")
        try:
            with self._pipeline(conn):
                for query, params in writes:
                    conn.cursor().executemany(query, params)
                conn.execute("COMMIT")
        except psycopg.Error as exc:
            raise self._failure(conn, exc) from None

    def _abandon_batch(self) -> None:
        """Roll back what the batch began on the server, if anything."""
        self._depth = 0
        conn = self._conn
        if conn is not None and not conn.closed and conn.info.transaction_status != pq.TransactionStatus.IDLE:
            self._rollback()

    def _run_job(self, job: Callable[[], object], index: int) -> tuple[bool, object]:
        """Run one job of a batch: ``(True, result)``, or ``(False, error)`` with its writes
        undone. Raises _Spoiled when it left the transaction failed with no savepoint to
        undo it; what it raised when the connection is gone."""
        self._depth += 1
        self._job_depth, self._job_savepoint, self._job_writes = self._depth, False, []
        try:
            try:
                result = job()
            except Exception as exc:
                if self._conn is None:
                    raise  # the transaction is gone with its connection
                self._undo_job(index, exc)
                return False, exc
            if self._conn is not None and self._conn.info.transaction_status == pq.TransactionStatus.INERROR:
                failed = RuntimeError("a statement failed inside the transaction, which was rolled back")
                self._undo_job(index, failed)
                return False, failed
            if self._job_savepoint:
                self._run_plain(f"RELEASE SAVEPOINT {_JOB_SAVEPOINT}")
            self._batch_writes.extend(self._job_writes)
            return True, result
        finally:
            self._depth -= 1
            self._job_depth, self._job_savepoint, self._job_writes = None, False, []

    def _undo_job(self, index: int, error: Exception) -> None:
        """Undo the failed job's writes (its savepoint), or raise _Spoiled when it has none
        and its failed statement left the transaction unusable."""
        if self._job_savepoint:
            self._run_plain(f"ROLLBACK TO SAVEPOINT {_JOB_SAVEPOINT}; RELEASE SAVEPOINT {_JOB_SAVEPOINT}")
        elif self._conn is not None and self._conn.info.transaction_status == pq.TransactionStatus.INERROR:
            raise _Spoiled(index, error)

    def _before_job_write(self) -> None:
        """Set the batch job's savepoint before its first write (at the job's own level)."""
        if self._job_depth is not None and self._depth == self._job_depth and not self._job_savepoint:
            self._run_plain(f"SAVEPOINT {_JOB_SAVEPOINT}")
            self._job_savepoint = True

    def close(self) -> None:
        """Close the connection (the next statement opens another)."""
        conn, self._conn, self._depth = self._conn, None, 0
        if conn is not None:
            conn.close()

    @contextlib.contextmanager
    def _savepoint(self) -> Iterator[None]:
        name = f"regauth_{self._depth}"
        self._run_plain(f"SAVEPOINT {name}")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if self._conn is not None:  # else the whole transaction is gone: nothing to undo
                self._run_plain(f"ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}")
            raise
        self._depth -= 1
        self._run_plain(f"RELEASE SAVEPOINT {name}")

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            if self._depth and self._pending_begin is None:
                raise StoreUnavailable(UNREACHABLE_CAUSE, "the connection was lost during the transaction")
            self._conn = connect(self._url, lock_timeout=self._lock_timeout)
        return self._conn

    @contextlib.contextmanager
    def _pipeline(self, conn: psycopg.Connection) -> Iterator[None]:
        """A pipeline on ``conn``, one round trip, opening with a batch's BEGIN and lock when
        they were not sent yet (marked sent once it went through)."""
        with conn.pipeline():
            for part in self._pending_begin or ():
                conn.execute(part)
            yield
        self._pending_begin = None

    def _worth_a_new_connection(self, attempt: int, nothing_done: bool, exc: psycopg.Error) -> bool:
        """True when a statement that failed with ``exc`` on its first ``attempt`` should
        run again on a new connection: the connection was found dead (PostgreSQL restarted
        since its last use; ``_failure`` dropped it) before anything was done on it."""
        return not attempt and nothing_done and self._conn is None and is_connection_failure(exc)

    def _begin_if_pending(self) -> None:
        """Send a batch's BEGIN and lock, before a statement that is not sent with them.
        Raises _BatchNotBegun (for the whole batch, not the job that sent the statement)."""
        if self._pending_begin is not None:
            try:
                self._run_plain("; ".join(self._pending_begin))
            except Exception as exc:  # noqa: BLE001 - whatever stops the BEGIN stops the whole batch
                raise _BatchNotBegun(exc) from None
            self._pending_begin = None

    def _run(self, query: str, params: Sequence) -> psycopg.Cursor:
        for attempt in range(2):
            conn = self._connection()
            cursor = conn.cursor()
            beginning = self._pending_begin
            try:
                # Always with a parameter list, even empty, so that psycopg undoubles the %.
                if beginning is None:
                    cursor.execute(query, list(params))
                else:
                    with self._pipeline(conn):  # a batch's BEGIN and lock go in this round trip
                        cursor.execute(query, list(params))
                return cursor
            except psycopg.Error as exc:
                failure = self._failure(conn, exc)
                # Outside a transaction, or before a batch's BEGIN went through, nothing was done.
                if self._worth_a_new_connection(attempt, not self._depth or beginning is not None, exc):
                    continue
                if beginning is not None:
                    if self._conn is None or is_busy(exc):
                        # The lock not granted (or the statement's own wait, told apart from
                        # it by nothing): the whole batch fails, not this job alone.
                        raise _BatchNotBegun(failure) from None
                    self._pending_begin = None  # BEGIN and the lock went through; the statement failed
                raise failure from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _run_plain(self, query: str) -> None:
        """Run trusted SQL without parameters (several statements allowed). A BEGIN on a
        connection found dead is tried once on a new one: nothing was done yet."""
        if not query.startswith("BEGIN"):
            self._begin_if_pending()
        for attempt in range(2):
            conn = self._connection()
            try:
                conn.execute(query)
                return
            except psycopg.Error as exc:
                failure = self._failure(conn, exc)
                if self._depth == 0 and self._conn is not None and conn.info.transaction_status != pq.TransactionStatus.IDLE:
                    self._rollback()  # BEGIN went through but the lock did not
                if not self._worth_a_new_connection(attempt, query.startswith("BEGIN"), exc):
                    raise failure from None

    def _rollback(self) -> None:
        """Roll back the open transaction; a connection that cannot is dropped."""
        conn = self._conn
        if conn is None or conn.closed:
            self._conn = None
            return
        try:
            conn.execute("ROLLBACK")
        except psycopg.Error as exc:
            self._drop(conn, exc)

    def _failure(self, conn: psycopg.Connection, exc: psycopg.Error) -> Exception:
        """Return the error to raise for ``exc``, dropping ``conn`` when it broke."""
        if is_connection_failure(exc) or conn.closed or conn.broken:
            self._drop(conn, exc)
        translated = _translated(exc)
        if translated is None:
            # A bug: raised as it is; but raised from a dead connection it means "unreachable".
            return exc if self._conn is not None else StoreUnavailable(UNREACHABLE_CAUSE, _detail(exc))
        return translated

    def _drop(self, conn: psycopg.Connection, exc: psycopg.Error) -> None:
        log.warning("dropping the PostgreSQL connection (%s); the next statement reconnects", _detail(exc))
        with contextlib.suppress(Exception):
            conn.close()
        if self._conn is conn:
            self._conn = None


class ThreadLocalConnections:
    """Hands each thread its own PostgresDatabase on one URL."""

    def __init__(self, url: str, *, lock_timeout: float = LOCK_TIMEOUT):
        self.url = url
        self._lock_timeout = lock_timeout
        self._local = threading.local()
        self._all: list[PostgresDatabase] = []
        self._lock = threading.Lock()

    def get(self) -> PostgresDatabase:
        """Return this thread's connection (it connects on its first statement)."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = PostgresDatabase(self.url, lock_timeout=self._lock_timeout)
            with self._lock:
                self._all.append(db)
        return db

    def close_all(self) -> None:
        """Close every connection handed out so far."""
        with self._lock:
            for db in self._all:
                db.close()
            self._all.clear()
        self._local = threading.local()


_JOB_SAVEPOINT = "regauth_job"


class _BatchNotBegun(BaseException):
    """A batch's BEGIN or lock failed under a job's first statement: every job of the batch
    hears ``error`` (StoreBusy, StoreUnavailable), not that job alone. A BaseException, so
    that no job's error handling takes it for its own."""

    def __init__(self, error: Exception):
        super().__init__(error)
        self.error = error


class _Spoiled(Exception):
    """A batch job left the transaction failed with no savepoint to go back to."""

    def __init__(self, index: int, error: Exception):
        super().__init__(index)
        self.index = index
        self.error = error


def _grouped(writes: list[tuple[str, list]]) -> list[tuple[str, list[list]]]:
    """Return ``writes`` as (statement, its parameter lists), statements in first-seen order."""
    groups: dict[str, list[list]] = {}
    for query, params in writes:
        groups.setdefault(query, []).append(params)
    return list(groups.items())
