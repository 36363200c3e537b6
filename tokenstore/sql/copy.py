"""Copying every row of a store into another, empty store, ids and all: SQLite to PostgreSQL
(an installation moving to a shared database) or PostgreSQL to an SQLite file (a backup).

The source is read in one snapshot and the destination written in one transaction: a copy
of a serving installation is whole even while it writes, and a failed copy writes nothing.
"""

import contextlib
import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg

from ..errors import StoreBusy, StoreUnavailable, TokenStoreError
from ..opening import is_database_url, open_store
from ..postgres import errors as pg_errors
from ..postgres.connection import connect as postgres_connect
from ..postgres.schema import TABLES, WRITE_LOCK_KEY, reset_identities
from ..sqlite import database as sqlite_database

# Rows read from the source per fetch (and, into SQLite, written per statement batch).
BATCH_ROWS = 1000


class CopyError(TokenStoreError):
    """Raised when a store cannot be copied; nothing was written to the destination."""


class SourceMissing(CopyError):
    """Raised when the source SQLite file does not exist."""


class DestinationNotEmpty(CopyError):
    """Raised when the destination already holds rows: a copy keeps the source's ids, which
    would clash with the rows there, and merging two installations is not a copy."""


class SourceInvalid(CopyError):
    """Raised when the source's rows cannot be written as they are: a row referring to one
    the source does not hold, a value of the wrong type, a column the destination lacks."""


class CopyUnavailable(StoreUnavailable):
    """Raised when the source or the destination cannot answer during a copy; nothing was
    written. ``side`` says which ("source" or "destination"), ``location`` where it is
    (without any password), ``busy`` whether a lock was not granted in time (trying again
    later may succeed)."""

    def __init__(self, side: str, location: str, exc: StoreUnavailable):
        super().__init__(exc.cause)
        self.args = exc.args  # the message with its detail, for the log
        self.side = side
        self.location = location
        self.busy = isinstance(exc, StoreBusy)


def copy_locations(
    source: str | Path, destination: str | Path, *, bcrypt_cost: int = 12, batch_rows: int = BATCH_ROWS,
) -> dict[str, int]:
    """Open the stores at ``source`` and ``destination`` (``open_for_copy``), copy the one
    into the other (``copy_store``) and close both; a destination file this call made is
    removed again when the copy fails.

    Returns the rows copied per table. Raises what ``open_for_copy`` and ``copy_store`` raise.
    """
    made = not is_database_url(destination) and not Path(destination).exists()
    opened = []
    try:
        opened.append(open_for_copy(source, "source", bcrypt_cost=bcrypt_cost))
        opened.append(open_for_copy(destination, "destination", bcrypt_cost=bcrypt_cost))
        counts = copy_store(*opened, batch_rows=batch_rows)
    except BaseException:
        for store in opened:
            store.close()
        if made:
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(OSError):
                    os.unlink(f"{destination}{suffix}")
        raise
    for store in opened:
        store.close()
    return counts


def open_for_copy(location: str | Path, side: str, *, bcrypt_cost: int = 12):
    """Open the store at ``location`` (a ``postgresql://`` URL or an SQLite file) as the
    copy's ``side``, "source" or "destination", applying its migrations. A source file must
    exist; a destination file is made when missing, readable by its owner alone (it will
    hold secret hashes).

    Returns the store. Raises SourceMissing, CopyError when a destination file's folder is
    missing or a URL cannot be parsed, CopyUnavailable when the database cannot be opened.
    """
    shown = location_shown(location)
    if not is_database_url(location):
        path = Path(location)
        if side == "source" and not path.exists():
            raise SourceMissing(f"the source {shown} does not exist")
        if side == "destination" and not path.exists():
            if not path.parent.is_dir():
                raise CopyError(f"the destination's folder {path.parent} does not exist")
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    try:
        return open_store(location, bcrypt_cost=bcrypt_cost, create=side == "destination")
    except StoreUnavailable as exc:
        raise CopyUnavailable(side, shown, exc) from None
    except sqlite3.Error as exc:
        translated = sqlite_database.translate(exc)
        if isinstance(translated, StoreUnavailable):
            raise CopyUnavailable(side, shown, translated) from None
        raise
    except ValueError as exc:  # the URL cannot be parsed (its text is not repeated: it may hold a password)
        raise CopyError(f"the {side} {shown}: {exc}") from None


_URL_PASSWORD = re.compile(r"^([a-z]+://[^/@:]*):[^/@]*@", re.IGNORECASE)
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&]*", re.IGNORECASE)


def location_shown(location: str | Path) -> str:
    """Return ``location`` for a person to read: a URL's password (in its user part or its
    query) as ``***``."""
    if not is_database_url(location):
        return str(location)
    return _QUERY_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1:***@", str(location)))


def copy_store(
    source, destination, *, batch_rows: int = BATCH_ROWS, on_batch: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Copy every row of every table of ``source`` into ``destination`` (two open stores,
    SQLite or PostgreSQL, both migrated: ``open_store`` does it), keeping each row's id.

    The source is read in one snapshot (SQLite: one read transaction; PostgreSQL: REPEATABLE
    READ, READ ONLY); the destination is written in one transaction holding its write lock,
    and on PostgreSQL its identities then continue after the largest id copied. The columns
    are the destination's (both schemas are the same). ``on_batch(table, rows)`` is called
    after each batch written.

    Returns the number of rows copied per table, in ``TABLES`` order. Raises
    DestinationNotEmpty when the destination holds any row, SourceInvalid when the source's
    rows do not fit, CopyError when both are the same database, CopyUnavailable when either
    cannot answer. Nothing is written to the destination when it raises.
    """
    if _same_database(source, destination):
        raise CopyError(f"the source and the destination are the same database ({_store_shown(destination)})")
    counts: dict[str, int] = {}
    with _opened(destination, "destination") as writer:
        writer.refuse_rows()
        with _opened(source, "source") as reader:
            for table in TABLES:
                columns = writer.columns(table)
                counts[table] = 0
                with contextlib.closing(reader.batches(table, columns, batch_rows)) as batches:
                    for batch in batches:
                        writer.write(table, columns, batch)
                        counts[table] += len(batch)
                        if on_batch is not None:
                            on_batch(table, len(batch))
        writer.commit()
    return counts


def _same_database(source, destination) -> bool:
    if source.backend != destination.backend:
        return False
    if source.backend == "sqlite":
        return Path(source.path).resolve() == Path(destination.path).resolve()
    return source.url == destination.url


def _store_shown(store) -> str:
    return location_shown(store.url) if store.backend == "postgresql" else store.location


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# -- the two ends, on either backend -----------------------------------------------------------
#
# Each end holds a connection of its own, apart from the store's per-thread ones, so that the
# snapshot and the copy's transaction span every statement of the copy and nothing else.


@contextlib.contextmanager
def _opened(store, side: str) -> Iterator["_End"]:
    """Connect to ``store`` as the copy's ``side``: the source in its snapshot, the
    destination in a write transaction; on leaving, roll back what was not committed."""
    end = (_SqliteEnd if store.backend == "sqlite" else _PostgresEnd)(store, side)
    try:
        if side == "source":
            end.begin_snapshot()
        else:
            end.begin_writing()
        yield end
    finally:
        end.close()


class _End:
    """One end of a copy on one connection (a DB-API one: sqlite3's or psycopg's)."""

    conn: "sqlite3.Connection | psycopg.Connection"

    def __init__(self, store, side: str):
        self.side = side
        self.location = _store_shown(store)

    @contextlib.contextmanager
    def errors(self, table: str | None = None) -> Iterator[None]:
        """Raise CopyUnavailable or SourceInvalid for the driver's errors in the block (a
        bug's error as it is); ``table``: the one being copied, for the message."""
        try:
            yield
        except (sqlite3.Error, psycopg.Error) as exc:
            raise self._translated(exc, table) from None

    def _translated(self, exc: Exception, table: str | None) -> Exception:
        raise NotImplementedError

    def _invalid(self, message: str, table: str | None) -> SourceInvalid:
        where = f" (table {table})" if table else ""
        return SourceInvalid(
            f"the source's rows cannot be copied as they are{where}: the {self.side} ({self.location}) says: {message}"
        )

    def _unavailable(self, exc: StoreUnavailable) -> CopyUnavailable:
        return CopyUnavailable(self.side, self.location, exc)

    # -- reading the source --

    def begin_snapshot(self) -> None:
        """Begin the read transaction every later read sees the same rows in."""
        raise NotImplementedError

    def _reading_cursor(self):
        return self.conn.cursor()

    def batches(self, table: str, columns: list[str], batch_rows: int) -> Iterator[list[tuple]]:
        """Yield the rows of ``table`` (``columns`` in that order) in lists of up to
        ``batch_rows``, by key (each table's first column)."""
        cursor = self._reading_cursor()
        try:
            with self.errors(table):
                cursor.execute(f"SELECT {', '.join(map(_quoted, columns))} FROM {_quoted(table)} ORDER BY 1")
            while True:
                with self.errors(table):
                    batch = cursor.fetchmany(batch_rows)
                if not batch:
                    return
                yield batch
        finally:
            with contextlib.suppress(Exception):  # in a failed transaction closing fails too
                cursor.close()

    # -- writing the destination --

    def begin_writing(self) -> None:
        """Begin the write transaction, holding the store's write lock from its start."""
        raise NotImplementedError

    def columns(self, table: str) -> list[str]:
        """Return the columns of ``table``, in order."""
        with self.errors(table):
            cursor = self.conn.cursor()
            cursor.execute(f"SELECT * FROM {_quoted(table)} LIMIT 0")
            names = [column[0] for column in cursor.description]
            cursor.close()
        return names

    def refuse_rows(self) -> None:
        """Raise DestinationNotEmpty unless every table is empty."""
        with self.errors():
            holding = [
                table for table in TABLES
                if self.conn.execute(f"SELECT EXISTS (SELECT 1 FROM {_quoted(table)})").fetchone()[0]
            ]
        if holding:
            raise DestinationNotEmpty(
                f"the destination ({self.location}) already holds rows (in {', '.join(holding)}): copy into an empty"
                " database (a new PostgreSQL database, or a file that does not exist yet)"
            )

    def write(self, table: str, columns: list[str], rows: list[tuple]) -> None:
        """Insert ``rows`` (values of ``columns``, in order) into ``table``."""
        raise NotImplementedError

    def commit(self) -> None:
        """Commit the write transaction."""
        with self.errors():
            self.conn.commit()

    def close(self) -> None:
        """Roll back what was not committed and close the connection."""
        with contextlib.suppress(Exception):  # a lost connection has rolled back by itself
            self.conn.rollback()
        self.conn.close()


class _SqliteEnd(_End):
    def __init__(self, store, side: str):
        super().__init__(store, side)
        try:
            self._db = sqlite_database.connect(store.path, create=False)
        except sqlite3.Error as exc:
            raise self._translated(exc, None) from None
        self.conn = self._db.conn

    def _translated(self, exc: sqlite3.Error, table: str | None) -> Exception:
        translated = sqlite_database.translate(exc)
        if isinstance(translated, StoreUnavailable):
            return self._unavailable(translated)
        if isinstance(exc, (sqlite3.IntegrityError, sqlite3.OperationalError)):
            # A foreign key, check or unique rule broken, a missing column: SQLite's words
            # name no value.
            return self._invalid(str(exc), table)
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
                f"INSERT INTO {_quoted(table)} ({', '.join(map(_quoted, columns))}) VALUES ({placeholders})", rows,
            )


class _PostgresEnd(_End):
    def __init__(self, store, side: str):
        super().__init__(store, side)
        try:
            self.conn = postgres_connect(store.url)
        except StoreUnavailable as exc:
            raise self._unavailable(exc) from None

    def _translated(self, exc: psycopg.Error, table: str | None) -> Exception:
        # The primary message only: a DETAIL line may quote a row, hashes and all.
        primary = (exc.diag.message_primary if exc.sqlstate else None) or str(exc).strip().split("\n")[0]
        cause = pg_errors.unavailable_cause(exc)
        if cause == pg_errors.BUSY_CAUSE:
            return self._unavailable(StoreBusy(cause, primary))
        if cause is not None:
            return self._unavailable(StoreUnavailable(cause, primary))
        if isinstance(exc, (psycopg.IntegrityError, psycopg.DataError, psycopg.errors.UndefinedColumn)):
            return self._invalid(primary, table)
        return exc

    def begin_snapshot(self) -> None:
        with self.errors():
            self.conn.autocommit = False
            self.conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            self.conn.read_only = True
            # The snapshot is taken at the transaction's first statement.
            self.conn.execute("SELECT 1").fetchone()

    def _reading_cursor(self):
        # A server-side cursor: a table is fetched batch by batch, never held in memory whole.
        return self.conn.cursor(name="regauth_copy")

    def begin_writing(self) -> None:
        with self.errors():
            self.conn.execute("BEGIN")
            # Every writer takes this lock first: none writes while the copy runs.
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", [WRITE_LOCK_KEY])

    def write(self, table: str, columns: list[str], rows: list[tuple]) -> None:
        # COPY: one round trip per batch instead of one per row.
        statement = f"COPY {_quoted(table)} ({', '.join(map(_quoted, columns))}) FROM STDIN"
        with self.errors(table), self.conn.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)

    def commit(self) -> None:
        with self.errors():
            # Still holding the write lock: no writer takes an id before they are set.
            reset_identities(self.conn)
        super().commit()
