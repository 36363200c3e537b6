"""Running the server: one process, or several workers sharing one listening socket.

The parent binds the port, forks the workers before any opens the store or starts a thread,
and replaces a worker that dies, unless they keep dying (RESTART_LIMIT within
RESTART_WINDOW seconds). docs/architecture.md, "Worker processes", says why.
"""

import collections
import errno
import gc
import logging
import os
import signal
import socket
import sys
import time

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from ..app import create_app
from ..config import Config
from ..log_escape import escape_control
from ..metrics import multiprocess as metrics_files
from . import worker_status
from .access_log import JsonAccessLogger
from .accepting import ConnectionCounts, Sibling, serve_app
from .worker_status import WorkerTable

log = logging.getLogger(__name__)

# aiohttp's default backlog of pending connections.
BACKLOG = 128
# Workers dying this many times within this many seconds is a fault a restart cannot fix.
RESTART_LIMIT = 5
RESTART_WINDOW = 10.0
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


class ServeError(Exception):
    """Raised when the server cannot start listening; the message is one line for a person
    ("address in use: 127.0.0.1:5001")."""


def serve(config: Config) -> int:
    """Serve until SIGINT/SIGTERM; returns the exit status (1 when workers kept dying).
    Raises ServeError when the address cannot be listened on."""
    sock = listening_socket(*config.listen)
    try:
        metrics_files.prepare()  # before any process imports prometheus_client
        if config.workers == 1:
            _run_worker(config, sock)
            return 0
        # What the imports allocated is shared by every worker: out of the collector's sight, its
        # pages are never written to (copy-on-write) nor walked by a worker's full collection.
        gc.collect()
        gc.freeze()
        return _supervise(config, sock)
    finally:
        sock.close()
        metrics_files.remove()


def listening_socket(host: str, port: int) -> socket.socket:
    """Return a socket bound to ``host:port`` and listening. Without SO_REUSEPORT, so that
    no other server can bind the same port and share its connections. Raises ServeError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # Restarting while the last run's connections are in TIME_WAIT is fine; a listener
        # on the port still makes bind fail (Linux).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ServeError(f"address in use: {host}:{port}") from None
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock


def _supervise(config: Config, sock: socket.socket) -> int:
    """Start ``config.workers`` workers on ``sock`` and keep that many running until a stop
    signal; returns 0, or 1 when workers died RESTART_LIMIT times within RESTART_WINDOW s."""
    workers: dict[int, int] = {}  # pid: its slot in the table of workers
    worker_status.share(WorkerTable(config.workers))
    counts = ConnectionCounts(config.workers)
    stopping = False
    status = 0

    def stop(signum, _frame):
        nonlocal stopping
        stopping = True
        _signal_all(workers)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    deaths: collections.deque[float] = collections.deque()
    for slot in range(config.workers):
        _start_worker(config, sock, workers, Sibling(counts, slot))
    while workers:
        try:
            pid, wait_status = os.wait()
        except ChildProcessError:
            break
        if pid not in workers:
            continue
        slot = workers.pop(pid)
        metrics_files.worker_ended(pid)
        if stopping:
            continue
        log.warning("worker %d %s; starting a new one", pid, _ended(wait_status))
        now = time.monotonic()
        deaths.append(now)
        while now - deaths[0] > RESTART_WINDOW:
            deaths.popleft()
        if len(deaths) >= RESTART_LIMIT:
            log.error("%d workers died within %.0f s: stopping the server", len(deaths), RESTART_WINDOW)
            stopping, status = True, 1
            _signal_all(workers)
            continue
        _start_worker(config, sock, workers, Sibling(counts, slot))
    return status


def _signal_all(workers: dict[int, int]) -> None:
    for pid in list(workers):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def _ended(wait_status: int) -> str:
    """How a child ended, in words: "exited with status 1", "was killed by signal SIGKILL"."""
    code = os.waitstatus_to_exitcode(wait_status)
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return f"was killed by signal {name}"
    return f"exited with status {code}"


def _start_worker(config: Config, sock: socket.socket, workers: dict[int, int], sibling: Sibling) -> None:
    """Fork a worker serving on ``sock``, add its pid to ``workers`` and to the shared table's
    slot (``sibling.slot``). Stop signals wait until it is in ``workers``, so that a stop never
    misses a worker just started."""
    sibling.counts.publish(sibling.slot, 0)  # a worker that died left its connections' count
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
            status = 1
            try:
                _run_worker(config, sock, sibling)
                status = 0
            except OSError as exc:  # a file it needs is missing or unreadable: no bug to trace
                log.error("worker %d stopped: %s", os.getpid(), exc)
            except Exception:
                log.exception("worker %d stopped on an error", os.getpid())
            finally:
                os._exit(status)
        workers[pid] = sibling.slot
        worker_status.shared().set(sibling.slot, pid)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


def _run_worker(config: Config, sock: socket.socket, sibling: Sibling | None = None) -> None:
    host, port = config.listen
    # No log format here names the caller, thread or process: skip finding them for every
    # record (the logging HOWTO's "Optimization" section).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    log.info("regauth %d listening on %s:%d (service %r)", os.getpid(), host, port, config.service)
    app = create_app(config)
    app.on_startup.append(_freeze_heap)
    access_log_class = JsonAccessLogger if config.log_format == "json" else AccessLogger
    serve_app(app, sock, access_log_class, sibling)
    sys.stdout.flush()


async def _freeze_heap(app: web.Application) -> None:
    """Keep what start-up allocated out of the cyclic garbage collector's full collections.

    A full collection walks every tracked object; with the application's modules loaded that
    took 25 to 40 ms here, a pause every few seconds under load that every request in flight
    waited for (the p99 of a warm token request). What is left to walk is what requests
    allocate, well under a millisecond.
    """
    gc.collect()
    gc.freeze()


class AccessLogger(AbstractAccessLogger):
    """One line per request: client, request line, status, body bytes, seconds taken.

    The same line as aiohttp's ``'%a "%r" %s %b %Tfs'``, without its per-request format
    interpretation and ``extra`` fields: on a warm token request aiohttp's logger cost about
    as much as the database work.
    """

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        major, minor = request.version
        self.logger.info(
            '%s "%s %s HTTP/%d.%d" %d %d %.6fs', request.remote, request.method, escape_control(request.path_qs),
            major, minor, response.status, response.body_length, time,
        )
