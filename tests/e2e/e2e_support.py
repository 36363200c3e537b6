"""Process plumbing for the end-to-end tests: ports, polling, bounded commands, daemons."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

# Upper bound for one client command (a push or pull of the test image takes a second or two;
# docker retries a failing upload with back-off for about 15 s before it gives up).
COMMAND_TIMEOUT = 120.0


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(
    fn: Callable[[], T],
    timeout: float,
    interval: float = 0.05,
    what: str = "",
    ignore: tuple[type[BaseException], ...] = (Exception,),
) -> T:
    """Call ``fn`` until it returns something truthy, and return that.

    Exceptions of the ``ignore`` types count as "not yet"; others propagate. Raises
    ``TimeoutError`` (naming ``what`` and the last ignored exception) when ``timeout``
    seconds have passed.
    """
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            result = fn()
        except ignore as exc:
            last_exc = exc
        else:
            if result:
                return result
        if time.monotonic() >= deadline:
            detail = f": {last_exc!r}" if last_exc is not None else ""
            raise TimeoutError(f"{what or fn!r} not ready after {timeout} s{detail}")
        time.sleep(interval)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Hand 3xx answers back to the caller instead of following them."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


# Loopback only: never route test traffic through a proxy from the environment. Redirects
# are returned, not followed, so tests see exactly what each server answered.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


@dataclass(frozen=True)
class HttpReply:
    """Status, headers and body of an HTTP response."""

    status: int
    headers: Mapping[str, str]
    body: bytes


def http_get(url: str, headers: Mapping[str, str] | None = None, timeout: float = 5.0) -> HttpReply:
    """``GET url`` and return the reply, error statuses and redirects included; raises
    OSError when nothing answers."""
    return http_request("GET", url, headers, timeout=timeout)


def http_request(
    method: str, url: str, headers: Mapping[str, str] | None = None, body: bytes | None = None, timeout: float = 5.0,
) -> HttpReply:
    """Send ``method url`` with ``body`` and return the reply, error statuses and redirects
    included; raises OSError when nothing answers."""
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with _OPENER.open(request, timeout=timeout) as resp:
            return HttpReply(resp.status, resp.headers, resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return HttpReply(exc.code, exc.headers, exc.read())


def http_status(url: str, timeout: float = 2.0) -> int:
    """Return the HTTP status of ``GET url`` (error statuses included); raises OSError when
    nothing answers."""
    return http_get(url, timeout=timeout).status


@dataclass(frozen=True)
class Result:
    """What a finished command did: its argv, exit status, and its stdout and stderr."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def output(self) -> str:
        """stdout and stderr together, for asserting on what the user would see."""
        return self.stdout + self.stderr

    def __str__(self) -> str:
        return (
            f"$ {' '.join(self.argv)}\nexit status {self.returncode}\n"
            f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}"
        )


def child_env(env: Mapping[str, str | None] | None) -> dict[str, str]:
    """Return the current environment with ``env`` applied (a None value removes a key)."""
    merged = {**os.environ, **(env or {})}
    return {key: value for key, value in merged.items() if value is not None}


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str | None] | None = None,
    stdin_text: str | None = None,
    timeout: float = COMMAND_TIMEOUT,
    check: bool = False,
    cwd: Path | None = None,
) -> Result:
    """Run ``argv`` to completion within ``timeout`` seconds and return its ``Result``.

    ``env`` is applied to the current environment (see ``child_env``); ``stdin_text`` is fed
    to stdin (so secrets never appear in argv). Raises ``subprocess.TimeoutExpired`` when the
    command outlives ``timeout``, and ``AssertionError`` (with the full output) when ``check``
    is set and the command fails.
    """
    proc = subprocess.run(
        list(argv),
        env=child_env(env),
        input=stdin_text,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=None if stdin_text is not None else subprocess.DEVNULL,
        cwd=cwd,
    )
    result = Result(tuple(str(a) for a in argv), proc.returncode, proc.stdout, proc.stderr)
    if check and not result.ok:
        raise AssertionError(f"command failed\n{result}")
    return result


class Daemon:
    """A long-running child process whose output goes to a log file.

    ``stop()`` sends SIGTERM to the child's own process group and waits, then SIGKILL.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str | None] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        self._log = open(log_path, "ab")
        try:
            # Its own session, so that stop() reaches the children it spawns (dockerd's
            # containerd, nginx's workers) too.
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=child_env(env),
                cwd=cwd,
                start_new_session=True,
            )
        except BaseException:
            self._log.close()
            raise

    def log_tail(self, chars: int = 4000) -> str:
        """Return the end of the process's log."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_ready(self, probe: Callable[[], bool], timeout: float) -> None:
        """Poll ``probe`` until it is true; raises RuntimeError with the log when the process
        exits or ``timeout`` passes first."""

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise _Exited(self.proc.returncode)
            try:
                return probe()
            except OSError:
                return False

        try:
            wait_until(ready, timeout, what=self.name, ignore=())
        except (TimeoutError, _Exited) as exc:
            self.stop()
            raise RuntimeError(f"{self.name} did not start ({exc})\n{self.log_tail()}") from None

    def stop(self, timeout: float = 15.0) -> None:
        """Terminate the process group and reap the child."""
        if self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=timeout)
        self._log.close()


class _Exited(Exception):
    """Raised by a readiness probe when the daemon has already exited."""

    def __init__(self, returncode: int) -> None:
        super().__init__(f"exited with status {returncode}")


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
