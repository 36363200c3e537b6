"""Running the server: one process, or several sharing the port through SO_REUSEPORT.

With ``--workers N`` the parent forks N children before any of them opens the database or
starts a thread; each child binds the port with SO_REUSEPORT (the kernel spreads new
connections over them) and runs its own event loop, thread pools and SQLite connections on
the shared database file (WAL mode: readers never wait for the writer). The parent only
forwards SIGTERM/SIGINT and waits.
"""

import gc
import logging
import os
import signal
import sys

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from .app import create_app
from .config import Config
from .log_escape import escape_control

log = logging.getLogger(__name__)


def serve(config: Config) -> int:
    """Serve until SIGINT/SIGTERM; returns the exit status."""
    if config.workers == 1:
        _run_worker(config, reuse_port=False)
        return 0
    # What the imports allocated is shared by every worker: out of the collector's sight, its
    # pages are never written to (copy-on-write) nor walked by a worker's full collection.
    gc.collect()
    gc.freeze()
    children: list[int] = []

    def forward(signum, _frame):
        for child in children:
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for _ in range(config.workers):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            status = 1
            try:
                _run_worker(config, reuse_port=True)
                status = 0
            except Exception:
                log.exception("worker %d stopped on an error", os.getpid())
            finally:
                os._exit(status)
        children.append(pid)
    status = 0
    for child in children:
        while True:
            try:
                _, code = os.waitpid(child, 0)
                break
            except InterruptedError:
                continue
        status = status or os.waitstatus_to_exitcode(code)
    return status


def _run_worker(config: Config, *, reuse_port: bool) -> None:
    host, port = config.listen
    # No log format here names the caller, thread or process: skip finding them for every
    # record (the logging HOWTO's "Optimization" section).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    log.info("regauth %d listening on %s:%d (service %r)", os.getpid(), host, port, config.service)
    app = create_app(config)
    app.on_startup.append(_freeze_heap)
    web.run_app(
        app, host=host, port=port, reuse_port=reuse_port or None,
        print=None, access_log_class=AccessLogger, handle_signals=True,
    )
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
