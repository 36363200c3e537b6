"""The directory through which the workers of ``regauth serve`` share their counts.

prometheus_client's multiprocess mode: each process writes its values to files of its own in
PROMETHEUS_MULTIPROC_DIR, and a scrape of any worker adds up every file. The serve parent
makes a fresh directory before it forks (counts of an earlier run must not be added in), and
removes it at exit. The variable must be set before prometheus_client is first imported.
"""

import os
import shutil
import sys
import tempfile

ENVIRONMENT_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

_directory: str | None = None


def prepare() -> str:
    """Create a fresh directory, readable by this user only (0700), for the metric files of
    this server's processes, and point prometheus_client at it; returns its path. Raises
    OSError when the temporary directory (TMPDIR) is not writable."""
    global _directory
    _directory = tempfile.mkdtemp(prefix="regauth-metrics-")
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
    """Remove the directory ``prepare`` made, if any. Returns nothing."""
    global _directory
    if _directory is None:
        return
    shutil.rmtree(_directory, ignore_errors=True)
    if os.environ.get(ENVIRONMENT_VARIABLE) == _directory:
        del os.environ[ENVIRONMENT_VARIABLE]
    _directory = None
