"""Real small disks for the tests of a full or read-only database: a tmpfs mounted for the
test (root only; skipped with the reason otherwise), filled to the last byte and freed."""

import errno
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

DISK_SIZE = "8m"
# Bounds on the loops that fill a disk: 64 KiB writes, then 512-byte ones for the rest.
_BIG, _SMALL = 65536, 512
_MAX_WRITES = 4096


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=30)


@contextmanager
def mounted(target: Path, *options: str, source: str = "tmpfs") -> Iterator[Path]:
    """Mount ``source`` at ``target`` (made if needed) for the block; skips the test when
    not root or when mounting fails, and unmounts at the end."""
    if os.geteuid() != 0:
        pytest.skip("mounting a test disk needs root")
    target.mkdir(exist_ok=True)
    result = _run("mount", *options, source, str(target))
    if result.returncode != 0:
        pytest.skip(f"could not mount a test disk: {result.stderr.strip()}")
    try:
        yield target
    finally:
        _run("umount", "-l", str(target))


@contextmanager
def small_disk(target: Path) -> Iterator[Path]:
    """A DISK_SIZE tmpfs at ``target`` for the block."""
    with mounted(target, "-t", "tmpfs", "-o", f"size={DISK_SIZE}") as disk:
        yield disk


@contextmanager
def read_only_view(source: Path, target: Path) -> Iterator[Path]:
    """``source`` seen read-only at ``target`` (a read-only bind mount) for the block."""
    with mounted(target, "--bind", source=str(source)) as view:
        result = _run("mount", "-o", "remount,bind,ro", str(view))
        if result.returncode != 0:
            pytest.skip(f"could not make a read-only bind mount: {result.stderr.strip()}")
        yield view


def fill(disk: Path) -> Path:
    """Fill ``disk`` until the file system refuses another byte; returns the filler file
    (remove it to free the space). Raises AssertionError if the disk never filled."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (_BIG, _SMALL):
            chunk = b"\xff" * size
            for _ in range(_MAX_WRITES):
                try:
                    os.write(fd, chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
            else:
                raise AssertionError(f"{disk} did not fill up after {_MAX_WRITES} writes of {size} bytes")
    finally:
        os.close(fd)
    return filler
