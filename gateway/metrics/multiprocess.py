"""The directory through which the workers of ``regauth serve`` share their counts.

prometheus_client's multiprocess mode: each process writes its values to files of its own in
PROMETHEUS_MULTIPROC_DIR, and a scrape of any worker adds up every file. The serve parent
makes a fresh directory before it forks (counts of an earlier run must not be added in), and
removes it at exit; the directory of a server that was killed is removed by the next one to
start (``leftovers``). The variable must be set before prometheus_client is first imported.
"""

import logging
import os
import shutil
import sys
import tempfile

from . import leftovers

log = logging.getLogger(__name__)

ENVIRONMENT_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

_directory: str | None = None
_lock: int | None = None  # the descriptor holding the directory's lock


def prepare() -> str:
    """Remove the directories killed servers left in the temporary directory (TMPDIR), then
    create a fresh one, readable by this user only (0700) and locked as in use, for the
    metric files of this server's processes, and point prometheus_client at it; returns its
    path. Raises OSError when the temporary directory is not writable."""
    global _directory, _lock
    parent = tempfile.gettempdir()
    removed = leftovers.sweep(parent)
    if removed:
        log.info("metrics: removed %d directories left by servers no longer running from %s", removed, parent)
    _directory = tempfile.mkdtemp(prefix=leftovers.PREFIX, dir=parent)
    try:
        _lock = leftovers.hold(_directory)
    except OSError as exc:
        # Serving matters more: unlocked, the directory is kept like one of an older version.
        log.warning("metrics: %s could not be locked (%s): if this server is killed, it is removed only a day later",
                    _directory, exc)
    os.environ[ENVIRONMENT_VARIABLE] = _directory
    values = sys.modules.get("prometheus_client.values")
    if values is not None:  # imported already: make the values made from now on use the files
        values.ValueClass = values.get_value_class()
    return _directory


def directory() -> str | None:
    """Return the directory ``prepare`` made, or None when this process counts in memory
    only (the application run without ``regauth serve``, as in tests)."""
    return _directory


def worker_ended(pid: int) -> None:
    """Forget the live gauges of worker ``pid``, which has exited; its counters stay in the
    sums. Returns nothing."""
    if _directory is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, _directory)


def remove() -> None:
    """Remove the directory ``prepare`` made, if any, and release its lock. Returns nothing."""
    global _directory, _lock
    if _directory is None:
        return
    shutil.rmtree(_directory, ignore_errors=True)
    if _lock is not None:
        os.close(_lock)
        _lock = None
    if os.environ.get(ENVIRONMENT_VARIABLE) == _directory:
        del os.environ[ENVIRONMENT_VARIABLE]
    _directory = None
