"""Processes for the benchmark: free ports, daemons started in their own session and stopped
by their process group, readiness polling, resident memory."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# Never send benchmark traffic through a proxy from the environment: loopback only.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_status(url: str, headers: dict[str, str] | None = None, timeout: float = 5.0) -> int:
    """Return the HTTP status of GET ``url`` (0 when nothing answers)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with _OPENER.open(request, timeout=timeout) as reply:
            reply.read()
            return reply.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 30.0) -> tuple[int, bytes]:
    """Return (status, body) of GET ``url``."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with _OPENER.open(request, timeout=timeout) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def regauth_env() -> dict[str, str]:
    """The environment for regauth processes: this checkout importable, no REGAUTH_* settings
    inherited (every setting is passed as a flag, so the table shows what was used)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("REGAUTH_")}
    env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run(argv: Sequence[str], *, timeout: float = 120.0, env: dict[str, str] | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run a command to completion (bounded by ``timeout``); raises CalledProcessError with its
    stderr when it fails."""
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
    if result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, list(argv), result.stdout, result.stderr)
    return result


class Daemon:
    """A long-running process in its own session (so its children stop with it)."""

    def __init__(self, name: str, argv: Sequence[str], log: Path, *, env: dict[str, str] | None = None,
                 cwd: Path | None = None):
        self.name = name
        self.log = log
        self._log_file = open(log, "ab")
        self.process = subprocess.Popen(
            list(argv), stdout=self._log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, cwd=cwd, start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, ready: Callable[[], bool], timeout: float = 30.0) -> None:
        """Poll ``ready`` until it holds; raises RuntimeError (with the log's tail) when the
        process exits or ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")
            try:
                if ready():
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready after {timeout} s:\n{self.tail()}")

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the process group, SIGKILL after ``timeout`` seconds."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.process.wait(5)
        self._log_file.close()

    def children(self) -> list[int]:
        """The pids of this process's direct children (regauth's workers)."""
        try:
            text = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text()
        except OSError:
            return []
        return [int(pid) for pid in text.split()]

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the process and its live children so far."""
        return sum(cpu_seconds(pid) for pid in [self.pid, *self.children()])


def rss_mib(pid: int) -> float:
    """Resident set size of ``pid`` in MiB (VmRSS), 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` in seconds (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def socket_inodes(pid: int) -> set[str]:
    """The inodes of the sockets process ``pid`` holds open (empty when it is gone)."""
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:["):-1])
    except OSError:
        return set()
    return inodes


def connections_to(pid: int, port: int) -> int:
    """How many established TCP connections process ``pid`` holds to 127.0.0.1:``port``
    (0 when it is gone)."""
    inodes = socket_inodes(pid)
    if not inodes:
        return 0
    remote = f"0100007F:{port:04X}"  # 127.0.0.1 as /proc/net/tcp writes it
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        # local, remote, state (01: established), ..., inode
        if fields[2] == remote and fields[3] == "01" and fields[9] in inodes:
            count += 1
    return count


def main_thread_cpu_seconds(pid: int) -> float:
    """utime + stime of the main thread of ``pid`` alone (regauth's event loop), 0 when it
    is gone."""
    try:
        fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
