"""Which workers are alive, as every worker can see it: a table of their process ids in
memory the supervising parent shares with them (an anonymous shared mapping made before the
first fork), rewritten by the parent each time it starts a worker.

A worker that died is seen at once, before the parent has reaped or replaced it: its
process is gone, or a zombie. A parent that died or stopped is seen too.
"""

import mmap
import os
import struct

_SLOT = struct.Struct("=i")


class WorkerTable:
    """One slot per worker holding its process id (0: not started yet)."""

    def __init__(self, size: int):
        self.size = size
        self.parent = os.getpid()
        self._memory = mmap.mmap(-1, _SLOT.size * size)

    def set(self, slot: int, pid: int) -> None:
        """Record ``pid`` as the worker in ``slot`` (the parent, after each fork)."""
        _SLOT.pack_into(self._memory, slot * _SLOT.size, pid)

    def pids(self) -> list[int]:
        """Return the process id in each slot, in slot order (0 for an empty slot)."""
        return [_SLOT.unpack_from(self._memory, slot * _SLOT.size)[0] for slot in range(self.size)]

    def problems(self) -> list[str]:
        """Return what is wrong with the workers, in words (empty when each slot's worker
        and the parent are running)."""
        found = []
        if os.getppid() != self.parent or not _running(self.parent):
            found.append(f"the supervising process {self.parent} is not running")
        for slot, pid in enumerate(self.pids()):
            if pid == 0:
                found.append(f"worker {slot + 1} of {self.size} was not started")
            elif not _running(pid):
                found.append(f"worker {slot + 1} of {self.size} (process {pid}) is not running")
        return found


def _running(pid: int) -> bool:
    """True when process ``pid`` exists and is neither a zombie, dead nor stopped."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # "pid (comm) state ...": comm may hold spaces and parentheses; the state follows the last ")".
            state = stat.read().rpartition(b")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X", b"x", b"T", b"t")


# The table of this server's workers: set by the supervising parent before its first fork,
# so every worker inherits it; None in a server of one process.
_shared: WorkerTable | None = None


def share(table: WorkerTable) -> None:
    """Make ``table`` the one ``shared`` returns, here and in every process forked after."""
    global _shared
    _shared = table


def shared() -> WorkerTable | None:
    """Return the table of this server's workers (None when it runs one process)."""
    return _shared
