"""Running the server: one process, or several sharing the port through SO_REUSEPORT."""

import logging
import os
import signal
import sys

from aiohttp import web

from .app import create_app
from .config import Config

log = logging.getLogger(__name__)


def serve(config: Config) -> int:
    """Serve until SIGINT/SIGTERM; returns the exit status."""
    if config.workers == 1:
        _run_worker(config, reuse_port=False)
        return 0
    children = []
    for _ in range(config.workers):
        pid = os.fork()
        if pid == 0:
            try:
                _run_worker(config, reuse_port=True)
            finally:
                os._exit(0)
        children.append(pid)

    def forward(signum, _frame):
        for child in children:
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = 0
    for child in children:
        while True:
            try:
                _, code = os.waitpid(child, 0)
                break
            except InterruptedError:
                continue
        status = status or (os.waitstatus_to_exitcode(code) if code else 0)
    return status


def _run_worker(config: Config, *, reuse_port: bool) -> None:
    host, port = config.listen
    log.info("regauth %d listening on %s:%d (service %r)", os.getpid(), host, port, config.service)
    web.run_app(
        create_app(config), host=host, port=port, reuse_port=reuse_port or None,
        print=None, access_log_format='%a "%r" %s %b %Tfs', handle_signals=True,
    )
    sys.stdout.flush()
