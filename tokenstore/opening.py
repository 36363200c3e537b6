"""Opening a store by where its data lives, a PostgreSQL URL or an SQLite file; showing that
location to people; copying the store at one location into another.

Backends are imported when a location needs them, so opening one never loads the other's
driver.
"""

import contextlib
import re
import time
from collections.abc import Callable
from pathlib import Path

from .errors import CopyError, CopyUnavailable, StoreUnavailable

URL_SCHEMES = ("postgresql://", "postgres://")

# The user part's password: from the first ":" after the user name to the URL's last "@".
# libpq ends it at the first "@", but a password holding an unencoded "@" (or "/", "?")
# must not show its tail: an "@" later in the URL hides more than the password, never less.
_USER_PASSWORD = re.compile(r"^(\w+://[^:@/]*):.*@", re.DOTALL)
# A password given as a query parameter (libpq reads ``password`` and ``sslpassword`` there).
_QUERY_PASSWORD = re.compile(r"([?&](?:ssl)?password=)[^&]*", re.IGNORECASE)


def is_database_url(location: str | Path) -> bool:
    """Return True when ``location`` is a PostgreSQL URL (not a file path)."""
    return isinstance(location, str) and location.startswith(URL_SCHEMES)


def location_shown(location: str | Path) -> str:
    """Return ``location`` for a person to read (in a log, a message, a command's output): a
    URL with the password of its user part and of its query as ``***``; a file path as it
    is. Raises nothing."""
    if not is_database_url(location):
        return str(location)
    return _QUERY_PASSWORD.sub(r"\1***", _USER_PASSWORD.sub(r"\1:***@", location))


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


def copy_locations(
    source: str | Path, destination: str | Path, *, bcrypt_cost: int = 12, batch_rows: int | None = None,
) -> dict[str, int]:
    """Copy the store at ``source`` into the one at ``destination`` (each a ``postgresql://``
    URL or an SQLite file), as ``tokenstore.sql.copy.copy_store`` copies two open stores.

    Both are opened with their migrations applied and closed again. A source file must
    exist; a destination file is made when missing, readable by its owner alone (it will
    hold secret hashes), and removed again when the copy fails.

    Returns the rows copied per table. Raises SourceMissing; CopyError when a destination
    file's folder is missing or a URL cannot be parsed; CopyUnavailable when a database
    cannot be opened; and what ``copy_store`` raises. Nothing is written to the destination
    when it raises.
    """
    from .sql import copy

    with contextlib.ExitStack() as opened:
        stores = [
            _enter_for_copy(opened, location, side, bcrypt_cost=bcrypt_cost)
            for location, side in ((source, "source"), (destination, "destination"))
        ]
        return copy.copy_store(*stores, batch_rows=copy.BATCH_ROWS if batch_rows is None else batch_rows)


def _enter_for_copy(opened: contextlib.ExitStack, location: str | Path, side: str, *, bcrypt_cost: int):
    """Open the store at ``location`` as the copy's ``side`` into ``opened`` (which closes
    it, and removes a file made for it when the copy fails). Returns the store; raises as
    ``copy_locations`` says."""
    if is_database_url(location):
        from .postgres.copying import opened_for_copy
    else:
        from .sqlite.copying import opened_for_copy
    shown = location_shown(location)
    try:
        return opened.enter_context(opened_for_copy(location, side, bcrypt_cost=bcrypt_cost))
    except StoreUnavailable as exc:
        raise CopyUnavailable(side, shown, exc) from None
    except ValueError as exc:  # a URL that cannot be parsed (not repeated: it may hold a password)
        raise CopyError(f"the {side} {shown}: {exc}") from None
