"""Metrics directories left behind by servers that were killed, and the lock that tells them
apart from those of running servers.

The serve parent holds an exclusive flock on LOCK_NAME in its directory for as long as it runs;
its forked workers inherit the descriptor, so the lock goes when the last of them has exited,
however they ended. A directory whose lock can be taken belongs to no running process.
"""

import errno
import fcntl
import logging
import os
import re
import shutil
import time

log = logging.getLogger(__name__)

PREFIX = "regauth-metrics-"
LOCK_NAME = "serve.lock"
# Directories made by versions without the lock have none: removed only once unchanged this
# long (seconds) and no process their files are named after is running.
UNLOCKED_AGE = 86400.0
# prometheus_client names each file after the process writing it: counter_1234.db.
_FILE_PID = re.compile(r"_([1-9][0-9]*)\.db$")


def hold(directory: str) -> int:
    """Lock ``directory``, just made by this process, as in use; returns the descriptor that
    holds the lock, to keep open until the directory is removed. Raises OSError."""
    # Locked under another name, then renamed: a sweep never finds LOCK_NAME unlocked in the
    # directory of a server that is starting.
    pending = os.path.join(directory, LOCK_NAME + ".new")
    fd = os.open(pending, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(pending, os.path.join(directory, LOCK_NAME))
    except OSError:
        os.close(fd)
        raise
    return fd


def sweep(parent: str) -> int:
    """Remove each directory named PREFIX* directly in ``parent`` that this user owns and no
    running server holds; returns how many were removed. Never raises: an entry that cannot
    be read is left alone (logged at debug)."""
    try:
        parent_fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        log.debug("metrics: %s not swept: %s", parent, exc)
        return 0
    removed = 0
    try:
        with os.scandir(parent_fd) as entries:
            names = [entry.name for entry in entries if entry.name.startswith(PREFIX)]
        for name in names:
            try:
                removed += _remove_if_stale(parent_fd, name)
            except OSError as exc:
                log.debug("metrics: %s left alone: %s", os.path.join(parent, name), exc)
    except OSError as exc:
        log.debug("metrics: %s not swept: %s", parent, exc)
    finally:
        os.close(parent_fd)
    return removed


def _remove_if_stale(parent_fd: int, name: str) -> bool:
    """Remove ``name`` in ``parent_fd`` if it is a directory (not a symlink) of this user that
    no running server holds; returns True when it was removed. Raises OSError when it cannot
    tell."""
    try:
        # O_NOFOLLOW: a symlink planted under this name is never followed.
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=parent_fd)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):  # gone, not a directory, a symlink
            return False
        raise
    lock = None
    try:
        info = os.fstat(fd)
        if info.st_uid != os.geteuid():
            return False
        try:
            lock = os.open(LOCK_NAME, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
        except FileNotFoundError:
            if not _abandoned(fd, info.st_mtime):
                return False
        else:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # a running server's
                return False
        # Holding its lock, if it has one: no other server's sweep removes it at the same time.
        shutil.rmtree(name, dir_fd=parent_fd, ignore_errors=True)
        try:
            os.lstat(name, dir_fd=parent_fd)
        except FileNotFoundError:
            return True
        return False
    finally:
        if lock is not None:
            os.close(lock)
        os.close(fd)


def _abandoned(fd: int, modified: float) -> bool:
    """True when directory ``fd``, which has no lock, was last changed UNLOCKED_AGE seconds ago
    or earlier and none of the processes its files are named after is running."""
    if time.time() - modified < UNLOCKED_AGE:
        return False  # perhaps a server starting, between making the directory and locking it
    for name in os.listdir(fd):
        match = _FILE_PID.search(name)
        if match and _running(int(match.group(1))):
            return False
    return True


def _running(pid: int) -> bool:
    """True when a process ``pid`` exists (a zombie too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        pass
    return True
