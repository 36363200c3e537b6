"""The metrics directory of ``regauth serve``: private, locked while its server runs, and at
start the directories killed servers left in the same temporary directory are removed, never
a running server's, a symlink's target, another user's or anything else."""

import contextlib
import fcntl
import logging
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.metrics import leftovers, multiprocess

ROOT = Path(__file__).resolve().parents[2]
# A server's directory in another process, held as the serve parent holds it: prints its path
# and waits.
HOLDER = (
    "import sys; from gateway.metrics import multiprocess; print(multiprocess.prepare(), flush=True); sys.stdin.read()"
)
DAY = 86400
# The user permissions are checked as when this process is root.
NOBODY = 65534


@pytest.fixture
def tmp(tmp_path, monkeypatch) -> Iterator[Path]:
    """The temporary directory ``prepare`` works in; the module's state is restored after."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))  # gettempdir() keeps its first answer
    monkeypatch.delenv(multiprocess.ENVIRONMENT_VARIABLE, raising=False)
    values = sys.modules.get("prometheus_client.values")
    if values is not None:  # prepare switches it to the files
        monkeypatch.setattr(values, "ValueClass", values.ValueClass)
    yield tmp
    multiprocess.remove()


@contextlib.contextmanager
def holder(tmp: Path) -> Iterator[tuple[subprocess.Popen, Path]]:
    """Run HOLDER with TMPDIR=``tmp``; yields the process and its directory. Kills it after."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": str(ROOT)},
    )
    try:
        path = Path(process.stdout.readline().strip())
        assert path.parent == tmp and path.name.startswith("regauth-metrics-"), path
        yield process, path
    finally:
        process.kill()
        process.wait(10)
        process.stdin.close()
        process.stdout.close()


def lock_is_free(path: Path) -> bool:
    """True when the lock file ``path`` can be locked now."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def stale(path: Path) -> Path:
    """Make ``path`` as a killed server leaves it: a metric file and a lock nobody holds."""
    path.mkdir(mode=0o700)
    (path / "counter_1.db").write_bytes(b"\0" * 16)
    (path / leftovers.LOCK_NAME).touch()
    return path


def dead_pid() -> int:
    """The process id of a process that has exited."""
    process = subprocess.Popen(["true"])
    process.wait(10)
    return process.pid


def test_prepare_makes_a_private_directory_locked_until_removed(tmp):
    path = Path(multiprocess.prepare())
    assert path.parent == tmp and path.name.startswith("regauth-metrics-")
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    assert os.environ[multiprocess.ENVIRONMENT_VARIABLE] == str(path) == multiprocess.directory()
    assert [entry.name for entry in path.iterdir()] == [leftovers.LOCK_NAME]
    assert not lock_is_free(path / leftovers.LOCK_NAME)
    lock = os.open(path / leftovers.LOCK_NAME, os.O_RDWR)
    try:
        multiprocess.remove()
        assert not path.exists()
        assert multiprocess.ENVIRONMENT_VARIABLE not in os.environ
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released: raises BlockingIOError if not
    finally:
        os.close(lock)


def test_the_directory_of_a_killed_server_is_removed(tmp, caplog):
    caplog.set_level(logging.INFO, logger="gateway.metrics.multiprocess")
    with holder(tmp) as (process, killed):
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        assert killed.is_dir() and lock_is_free(killed / leftovers.LOCK_NAME)
        made = Path(multiprocess.prepare())
    assert not killed.exists()
    assert list(tmp.iterdir()) == [made]
    assert f"removed 1 directories left by servers no longer running from {tmp}" in caplog.text


def test_the_directory_of_a_running_server_is_kept(tmp):
    with holder(tmp) as (_, running):
        made = Path(multiprocess.prepare())
        assert sorted(tmp.iterdir()) == sorted([made, running])
        assert not lock_is_free(running / leftovers.LOCK_NAME)


def test_a_symlink_named_like_a_directory_is_not_followed(tmp, tmp_path):
    target = stale(tmp_path / "target")  # removed, were the link followed
    link = tmp / "regauth-metrics-link"
    link.symlink_to(target, target_is_directory=True)
    made = Path(multiprocess.prepare())
    assert sorted(tmp.iterdir()) == sorted([link, made])
    assert link.is_symlink()
    assert sorted(entry.name for entry in target.iterdir()) == ["counter_1.db", leftovers.LOCK_NAME]


def test_entries_of_other_names_or_kinds_are_untouched(tmp):
    others = [stale(tmp / "other"), stale(tmp / "regauth-metricsX"), stale(tmp / "regauth-other")]
    file = tmp / "regauth-metrics-file"
    file.write_text("kept")
    fifo = tmp / "regauth-metrics-fifo"
    os.mkfifo(fifo)
    made = Path(multiprocess.prepare())
    assert sorted(tmp.iterdir()) == sorted([*others, file, fifo, made])
    assert file.read_text() == "kept" and stat.S_ISFIFO(fifo.lstat().st_mode)
    for other in others:
        assert (other / leftovers.LOCK_NAME).exists()


@pytest.mark.parametrize("lock", ["directory", "symlink"])
def test_a_directory_whose_lock_cannot_be_taken_is_left_alone(tmp, tmp_path, lock):
    """A lock file that cannot be opened for locking (a directory; a symlink, never followed):
    the sweep cannot tell, keeps the directory, and prepare still works."""
    odd = tmp / "regauth-metrics-odd"
    odd.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("kept")
    if lock == "directory":
        (odd / leftovers.LOCK_NAME).mkdir()
    else:
        (odd / leftovers.LOCK_NAME).symlink_to(elsewhere)
    made = Path(multiprocess.prepare())
    assert sorted(tmp.iterdir()) == sorted([odd, made])
    assert elsewhere.read_text() == "kept" and lock_is_free(elsewhere)


@pytest.mark.skipif(os.geteuid() != 0, reason="making a directory another user owns takes root")
def test_another_users_directory_is_left_alone(tmp):
    theirs = stale(tmp / "regauth-metrics-theirs")
    os.chown(theirs, 65534, 65534)
    made = Path(multiprocess.prepare())
    assert sorted(tmp.iterdir()) == sorted([theirs, made])
    assert (theirs / leftovers.LOCK_NAME).exists()


@pytest.fixture
def unprivileged_tmp(tmp) -> Iterator[Path]:
    """A temporary directory for ``as_unprivileged``: under root, one the user NOBODY owns and
    can reach (pytest's own is private to root); else ``tmp``."""
    if os.geteuid() != 0:
        yield tmp
        return
    made = Path(tempfile.mkdtemp(dir="/tmp", prefix="regauth-test-"))
    os.chown(made, NOBODY, NOBODY)
    tempfile.tempdir = str(made)  # restored by ``tmp``'s monkeypatch
    try:
        yield made
    finally:
        made.chmod(0o700)
        for path in made.rglob("*"):
            with contextlib.suppress(OSError):
                path.chmod(0o700)
        shutil.rmtree(made, ignore_errors=True)


def as_unprivileged(check: Callable[[], None]) -> None:
    """Run ``check`` where file permissions bind: here when this process is not root, else in
    a forked child that has become the user NOBODY. Raises AssertionError with the child's
    traceback when it failed there."""
    if os.geteuid() != 0:
        check()
        return
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 1
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            check()
            status = 0
        except BaseException:  # noqa: BLE001 - reported to the parent
            os.write(write, traceback.format_exc().encode())
        finally:
            os._exit(status)
    os.close(write)
    with os.fdopen(read) as pipe:
        report = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, report


def test_a_temporary_directory_that_cannot_be_listed_still_serves(unprivileged_tmp):
    def check():
        stale(unprivileged_tmp / "regauth-metrics-killed")
        unprivileged_tmp.chmod(0o300)  # writable, not readable
        try:
            made = Path(multiprocess.prepare())
            assert made.is_dir()
        finally:
            unprivileged_tmp.chmod(0o700)
        assert (unprivileged_tmp / "regauth-metrics-killed").is_dir()

    as_unprivileged(check)


def test_a_directory_that_cannot_be_read_is_left_alone(unprivileged_tmp):
    def check():
        unreadable = stale(unprivileged_tmp / "regauth-metrics-unreadable")
        unreadable.chmod(0)
        try:
            made = Path(multiprocess.prepare())
            assert sorted(unprivileged_tmp.iterdir()) == sorted([unreadable, made])
        finally:
            unreadable.chmod(0o700)

    as_unprivileged(check)


def test_an_unreadable_temporary_directory_sweeps_nothing(tmp_path):
    assert leftovers.sweep(str(tmp_path / "missing")) == 0
    file = tmp_path / "file"
    file.write_text("")
    assert leftovers.sweep(str(file)) == 0


@pytest.mark.parametrize(
    ("age", "writer", "removed"),
    [
        pytest.param(2 * DAY, "dead", True, id="old-and-abandoned"),
        pytest.param(2 * DAY, "running", False, id="old-with-a-running-writer"),
        pytest.param(60, "dead", False, id="recent"),
    ],
)
def test_a_directory_without_a_lock_is_removed_only_when_old_and_abandoned(tmp, age, writer, removed):
    """Older versions made no lock: their directory goes once a day old and none of the
    processes its files are named after runs. A recent one may be a server starting."""
    unlocked = tmp / "regauth-metrics-unlocked"
    unlocked.mkdir(mode=0o700)
    pid = os.getpid() if writer == "running" else dead_pid()
    (unlocked / f"counter_{pid}.db").write_bytes(b"\0" * 16)
    then = time.time() - age
    os.utime(unlocked, (then, then))
    made = Path(multiprocess.prepare())
    assert sorted(tmp.iterdir()) == sorted([made] if removed else [unlocked, made])
