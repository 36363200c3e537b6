"""What the shared queries need of a backend's connection."""

from collections.abc import Hashable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Protocol


class Cursor(Protocol):
    """The result of one statement."""

    rowcount: int

    def fetchone(self) -> tuple | None: ...

    def fetchall(self) -> list[tuple]: ...

    def __iter__(self) -> Iterator[tuple]: ...


class SqlDatabase(Protocol):
    """One connection, used by one thread at a time.

    ``execute`` takes SQL with ``?`` placeholders and raises only tokenstore errors:
    ``DuplicateRow`` for a unique rule broken, ``StoreBusy`` for a lock not granted in time,
    ``StoreUnavailable`` when the database cannot answer. Outside ``atomic()`` each statement
    commits by itself.
    """

    def execute(self, sql: str, params: Sequence = ()) -> Cursor: ...

    def execute_at_commit(self, sql: str, params: Sequence = ()) -> None:
        """Run a data-changing statement whose result nobody reads (an audit row): now, or
        where the backend gains by it, together with others just before the enclosing
        transaction commits, undone with the rest when it does not. Raises as ``execute``."""
        ...

    def remember(self, key: Hashable, rows: list[tuple]) -> None:
        """Keep ``rows``, read ahead in the open transaction, as the answer to the read
        ``key`` names, until this connection writes or the transaction ends; or nothing,
        where a read costs no trip to a server."""
        ...

    def recall(self, key: Hashable) -> list[tuple] | None:
        """Return the rows ``remember`` kept under ``key``, or None when there are none."""
        ...

    def atomic(self, *, lock_wait: float | None = None) -> AbstractContextManager["SqlDatabase"]:
        """A write transaction, holding the store's write lock from its start, committed at
        the end of the block or rolled back when it raises; nested: a savepoint. With
        ``lock_wait`` (seconds) the lock is waited for that long instead of the backend's
        lock timeout (StoreBusy after it)."""
        ...

    @property
    def in_transaction(self) -> bool: ...

    def row_lock(self, alias: str) -> str:
        """The clause that ends a SELECT to lock the rows it reads of table ``alias`` until
        the transaction ends ("" where every write transaction runs alone anyway)."""
        ...

    def close(self) -> None: ...
