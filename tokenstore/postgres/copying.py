"""The PostgreSQL end of a store copy (``tokenstore.sql.copy``), and a PostgreSQL database
opened as a copy's source or destination."""

import contextlib
from collections.abc import Iterator

import psycopg

from ..errors import StoreBusy, StoreUnavailable
from ..sql.copy import End, quoted
from . import errors as pg_errors
from .connection import connect
from .schema import WRITE_LOCK_KEY, reset_identities
from .store import PostgresStore


@contextlib.contextmanager
def opened_for_copy(url: str, side: str, *, bcrypt_cost: int = 12) -> Iterator[PostgresStore]:
    """Open the store at ``url`` as the copy's ``side`` ("source" or "destination"), with
    its migrations applied, and close it on leaving. Nothing is made, so nothing is removed
    when the block raises: a failed copy's transaction wrote nothing.

    Yields the store. Raises StoreUnavailable when PostgreSQL cannot be reached, ValueError
    when ``url`` cannot be parsed.
    """
    store = PostgresStore(url, bcrypt_cost=bcrypt_cost)
    try:
        yield store
    finally:
        store.close()


class PostgresEnd(End):
    """A copy's end on a PostgreSQL database, on a connection of its own."""

    driver_error = psycopg.Error

    def __init__(self, store: PostgresStore, side: str):
        super().__init__(store, side)
        try:
            self.conn = connect(store.url)
        except StoreUnavailable as exc:
            raise self.unavailable(exc) from None

    def translated(self, exc: psycopg.Error, table: str | None) -> Exception:
        # The primary message only: a DETAIL line may quote a row, hashes and all.
        primary = (exc.diag.message_primary if exc.sqlstate else None) or str(exc).strip().split("\n")[0]
        cause = pg_errors.unavailable_cause(exc)
        if cause == pg_errors.BUSY_CAUSE:
            return self.unavailable(StoreBusy(cause, primary))
        if cause is not None:
            return self.unavailable(StoreUnavailable(cause, primary))
        if isinstance(exc, (psycopg.IntegrityError, psycopg.DataError, psycopg.errors.UndefinedColumn)):
            return self.invalid(primary, table)
        return exc

    def begin_snapshot(self) -> None:
        with self.errors():
            self.conn.autocommit = False
            self.conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            self.conn.read_only = True
            # The snapshot is taken at the transaction's first statement.
            self.conn.execute("SELECT 1").fetchone()

    def reading_cursor(self) -> psycopg.ServerCursor:
        # A server-side cursor: a table is fetched batch by batch, never held in memory whole.
        return self.conn.cursor(name="regauth_copy")

    def begin_writing(self) -> None:
        with self.errors():
            self.conn.execute("BEGIN")
            # Every writer takes this lock first: none writes while the copy runs.
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", [WRITE_LOCK_KEY])

    def write(self, table: str, columns: list[str], rows: list[tuple]) -> None:
        # COPY: one round trip per batch instead of one per row.
        statement = f"COPY {quoted(table)} ({', '.join(map(quoted, columns))}) FROM STDIN"
        with self.errors(table), self.conn.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)

    def commit(self) -> None:
        with self.errors():
            # Still holding the write lock: no writer takes an id before they are set.
            reset_identities(self.conn)
        super().commit()
