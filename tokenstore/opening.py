"""Opening a store by where its data lives: a PostgreSQL URL or an SQLite file."""

import time
from collections.abc import Callable
from pathlib import Path

URL_SCHEMES = ("postgresql://", "postgres://")


def is_database_url(location: str | Path) -> bool:
    """Return True when ``location`` is a PostgreSQL URL (not a file path)."""
    return isinstance(location, str) and location.startswith(URL_SCHEMES)


def open_store(
    location: str | Path, *, bcrypt_cost: int = 12, clock: Callable[[], float] = time.time, create: bool = True,
    integrity_check: bool = False,
):
    """Open the store at ``location``: a ``postgresql://`` URL, or the path of an SQLite file.

    Migrations are applied on opening. Returns the backend's store. Raises
    StoreUnavailable when the database cannot be reached; for SQLite, FileNotFoundError
    when the file is missing and ``create`` is False, DatabaseCorrupt when
    ``integrity_check`` fails.
    """
    if is_database_url(location):
        from .postgres.store import PostgresStore

        return PostgresStore(str(location), bcrypt_cost=bcrypt_cost, clock=clock)
    from .sqlite.store import SqliteStore

    return SqliteStore(location, bcrypt_cost=bcrypt_cost, clock=clock, create=create, integrity_check=integrity_check)
