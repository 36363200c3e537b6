"""Whether a process has an SQLite database open, read from SQLite's own POSIX file locks.

In WAL mode every open connection holds a SHARED lock on the database file and on the DMS
byte of its ``-shm`` file until it closes (https://sqlite.org/walformat.html, "the DMS
lock"); a serving regauth always has connections open (its WAL checkpointer's among them).
Only this module may open a database file that it locks: closing any descriptor of a file
drops every POSIX lock the process holds on it.
"""

import contextlib
import errno
import fcntl
import os
import struct
from collections.abc import Iterator
from pathlib import Path

from ..backup import DatabaseInUse

# SQLite's lock bytes in the database file (os_unix.c): PENDING, RESERVED, then the 510
# bytes of the SHARED range.
PENDING_BYTE = 0x40000000
LOCK_BYTES = 512
# The DMS lock of the -shm file: lock slot 8 after the WAL index header's 120 bytes.
DMS_BYTE = 128
# struct flock on Linux: l_type, l_whence, l_start, l_len, l_pid.
_FLOCK = "hhqqi"


def lock_holder(path: str | Path, start: int, length: int) -> int | None:
    """Return the pid of a process holding a lock on bytes [start, start + length) of the
    file at ``path`` (0 when the kernel does not say), or None when none does or the file
    is missing."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        asked = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, start, length, 0)
        kind, _, _, _, pid = struct.unpack(_FLOCK, fcntl.fcntl(fd, fcntl.F_GETLK, asked))
    finally:
        os.close(fd)
    return None if kind == fcntl.F_UNLCK else pid


def user(database: Path) -> int | None:
    """Return the pid of a process that has ``database`` open (0 when the kernel does not
    say which), or None when no process has."""
    for path, start, length in ((database, PENDING_BYTE, LOCK_BYTES), (Path(f"{database}-shm"), DMS_BYTE, 1)):
        holder = lock_holder(path, start, length)
        if holder is not None:
            return holder
    return None


def refuse_if_used(database: Path) -> None:
    """Raise DatabaseInUse when a process has ``database`` open."""
    holder = user(database)
    if holder is not None:
        raise in_use(database, holder)


@contextlib.contextmanager
def held_unused(database: Path) -> Iterator[None]:
    """Hold SQLite's lock bytes of ``database`` for the block, so that no connection opens it
    meanwhile (one that tries waits in its busy handler). Yields at once when the file is
    missing. Raises DatabaseInUse when a process has it open."""
    refuse_if_used(database)
    try:
        fd = os.open(database, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        yield
        return
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, LOCK_BYTES, PENDING_BYTE, os.SEEK_SET)
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EAGAIN):
                raise
            raise in_use(database, lock_holder(database, PENDING_BYTE, LOCK_BYTES) or 0) from None
        yield
    finally:
        os.close(fd)  # releases the lock


def in_use(database: Path, holder: int) -> DatabaseInUse:
    """The refusal for ``database`` open in process ``holder`` (0: unknown)."""
    who = f"process {holder}" if holder else "another process"
    return DatabaseInUse(
        f"the database {database} is open in {who} (a running `regauth serve`?): stop it first; nothing was changed"
    )
