"""Copying every row of an open store into another, empty one, ids and all: SQLite to
PostgreSQL (an installation moving to a shared database) or PostgreSQL to an SQLite file (a
backup). ``tokenstore.opening.copy_locations`` does it by location.

The source is read in one snapshot and the destination written in one transaction: a copy
of a serving installation is whole even while it writes, and a failed copy writes nothing.
Each backend's end of a copy lives in its own folder (``copying``); this module loads no
database driver.
"""

import contextlib
import importlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import (
    CopyError,
    CopyUnavailable,
    DestinationNotEmpty,
    SourceInvalid,
    StoreUnavailable,
)
from ..postgres.schema import TABLES

# Rows read from the source per fetch (and, into SQLite, written per statement batch).
BATCH_ROWS = 1000

# Each backend's end of a copy (module, class), by ``store.backend``; imported on first use.
_ENDS = {
    "sqlite": ("..sqlite.copying", "SqliteEnd"),
    "postgresql": ("..postgres.copying", "PostgresEnd"),
}


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
        raise CopyError(f"the source and the destination are the same database ({destination.location})")
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


def quoted(name: str) -> str:
    """Return ``name`` as an SQL identifier, in double quotes (both dialects read them)."""
    return '"' + name.replace('"', '""') + '"'


@contextlib.contextmanager
def _opened(store, side: str) -> Iterator["End"]:
    """Connect to ``store`` as the copy's ``side``: the source in its snapshot, the
    destination in a write transaction; on leaving, roll back what was not committed."""
    module, name = _ENDS[store.backend]
    end = getattr(importlib.import_module(module, __package__), name)(store, side)
    try:
        if side == "source":
            end.begin_snapshot()
        else:
            end.begin_writing()
        yield end
    finally:
        end.close()


class End:
    """One end of a copy, on a DB-API connection of its own (apart from the store's
    per-thread ones, so that the snapshot and the copy's transaction span every statement
    of the copy and nothing else).

    A backend's subclass opens ``conn``, names its driver's base error (``driver_error``)
    and says what such an error means (``translated``), begins the two kinds of transaction
    and writes rows.
    """

    conn: Any
    driver_error: type[Exception]

    def __init__(self, store, side: str):
        self.side = side
        self.location = store.location  # without any password

    @contextlib.contextmanager
    def errors(self, table: str | None = None) -> Iterator[None]:
        """Raise CopyUnavailable or SourceInvalid for the driver's errors in the block (a
        bug's error as it is); ``table``: the one being copied, for the message."""
        try:
            yield
        except self.driver_error as exc:
            raise self.translated(exc, table) from None

    def translated(self, exc: Exception, table: str | None) -> Exception:
        """Return the error to raise for the driver's ``exc``: CopyUnavailable when the
        database cannot answer, SourceInvalid when the rows do not fit, ``exc`` for a bug."""
        raise NotImplementedError

    def invalid(self, message: str, table: str | None) -> SourceInvalid:
        """Return SourceInvalid quoting the database's ``message`` (which must name no value)."""
        where = f" (table {table})" if table else ""
        return SourceInvalid(
            f"the source's rows cannot be copied as they are{where}: the {self.side} ({self.location}) says: {message}"
        )

    def unavailable(self, exc: StoreUnavailable) -> CopyUnavailable:
        """Return CopyUnavailable for this end, with the cause of ``exc``."""
        return CopyUnavailable(self.side, self.location, exc)

    # -- reading the source --

    def begin_snapshot(self) -> None:
        """Begin the read transaction every later read sees the same rows in."""
        raise NotImplementedError

    def reading_cursor(self):
        """Return the cursor a table is read with."""
        return self.conn.cursor()

    def batches(self, table: str, columns: list[str], batch_rows: int) -> Iterator[list[tuple]]:
        """Yield the rows of ``table`` (``columns`` in that order) in lists of up to
        ``batch_rows``, by key (each table's first column)."""
        cursor = self.reading_cursor()
        try:
            with self.errors(table):
                cursor.execute(f"SELECT {', '.join(map(quoted, columns))} FROM {quoted(table)} ORDER BY 1")
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
            cursor.execute(f"SELECT * FROM {quoted(table)} LIMIT 0")
            names = [column[0] for column in cursor.description]
            cursor.close()
        return names

    def refuse_rows(self) -> None:
        """Raise DestinationNotEmpty unless every table is empty."""
        with self.errors():
            holding = [
                table for table in TABLES
                if self.conn.execute(f"SELECT EXISTS (SELECT 1 FROM {quoted(table)})").fetchone()[0]
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
