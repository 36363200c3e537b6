"""Running a worker's application on the listening socket its siblings share, so that
connections spread evenly over the workers.

asyncio's own server takes up to its backlog (128) connections each time the socket is
ready: when a client opens many connections at once (a CI fleet through nginx, a load test),
the first worker to wake took nearly all of them and served them on one core while the
other workers idled (64 connections split 57 and 7, or 64 and 0: throughput fell by up to
40 % and the p99 rose by half). Here a worker takes one connection each time
the socket is ready, and one holding more connections than the least loaded sibling plus
``SLACK`` steps aside for ``STEP_ASIDE`` seconds, up to ``MOST_STEPS_ASIDE`` times in a row,
before taking the next: a sibling takes it meanwhile, and one that hangs delays it by
``STEP_ASIDE * MOST_STEPS_ASIDE`` at most.
docs/architecture.md, "Worker processes", says more.
"""

import asyncio
import contextlib
import errno
import logging
import mmap
import socket
import struct

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

log = logging.getLogger(__name__)

# accept(2) errors that say the process or the system is out of something: stop taking
# connections for a while instead of spinning (asyncio's server waits a second too).
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
RESUME_AFTER = 1.0
# More connections than the least loaded sibling by this many, and a worker steps aside.
SLACK = 1
STEP_ASIDE = 0.002
MOST_STEPS_ASIDE = 5
_COUNT = struct.Struct("=i")


class ConnectionCounts:
    """Each worker's number of open connections, in memory its siblings share (an anonymous
    shared mapping made before the first fork), one slot per worker."""

    def __init__(self, size: int):
        self.size = size
        self._memory = mmap.mmap(-1, _COUNT.size * size)

    def publish(self, slot: int, count: int) -> None:
        """Record ``count`` as the open connections of the worker in ``slot``."""
        _COUNT.pack_into(self._memory, slot * _COUNT.size, count)

    def fewest_besides(self, slot: int) -> int:
        """Return the fewest open connections any other worker has published."""
        return min(_COUNT.unpack_from(self._memory, other * _COUNT.size)[0]
                   for other in range(self.size) if other != slot)


class Sibling:
    """A worker's place among its siblings: its slot in the shared ``counts``."""

    def __init__(self, counts: ConnectionCounts, slot: int):
        self.counts = counts
        self.slot = slot

    def should_step_aside(self, open_connections: int) -> bool:
        """Publish ``open_connections``; return True when they exceed the least loaded
        sibling's by more than SLACK."""
        self.counts.publish(self.slot, open_connections)
        return open_connections > self.counts.fewest_besides(self.slot) + SLACK


class SharedSocketSite(web.BaseSite):
    """An aiohttp site on an already listening socket that accepts one connection per
    readiness of the socket (asyncio's accepts up to its backlog at once), stepping aside
    for a less loaded ``sibling`` (None: no siblings)."""

    __slots__ = ("_sock", "_name", "_sibling")

    def __init__(self, runner: web.BaseRunner, sock: socket.socket, sibling: Sibling | None = None):
        super().__init__(runner)
        self._sock = sock
        self._sibling = sibling
        host, port = sock.getsockname()[:2]
        self._name = f"http://{host}:{port}"

    @property
    def name(self) -> str:
        """The URL the site serves, as aiohttp's sites name themselves."""
        return self._name

    async def start(self) -> None:
        """Start accepting on the running loop."""
        await super().start()
        server = self._runner.server
        assert server is not None
        self._server = _Acceptor(asyncio.get_running_loop(), self._sock, server, self._sibling)


class _Acceptor:
    """Takes connections off ``sock`` one per readiness and hands each to ``server``;
    ``close`` stops it (the connections taken are the web server's to close). The part of
    asyncio.AbstractServer that aiohttp's runner uses."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, server: web.Server,
                 sibling: Sibling | None):
        self._loop = loop
        self._sock = sock
        self._server = server
        self._sibling = sibling
        self._opening: set[asyncio.Task] = set()
        self._closed = False
        self._steps_aside = 0
        self._resume: asyncio.TimerHandle | None = None
        self.sockets = (sock,)
        loop.add_reader(sock.fileno(), self._accept_one)

    def _accept_one(self) -> None:
        if self._sibling is not None:
            # A bounded number of times in a row: a sibling that hangs with few connections
            # delays this worker's next one, never refuses it.
            if self._steps_aside < MOST_STEPS_ASIDE and self._sibling.should_step_aside(len(self._server.connections)):
                self._steps_aside += 1
                self._pause(STEP_ASIDE)
                return
            self._steps_aside = 0
        try:
            conn, _ = self._sock.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return  # another worker took it, or the client gave up first
        except OSError as exc:
            if exc.errno in _OUT_OF_RESOURCES:
                log.error("cannot accept connections (%s); trying again in %.0f s", exc.strerror, RESUME_AFTER)
                self._pause(RESUME_AFTER)
            else:
                log.warning("accepting a connection failed: %s", exc.strerror or exc)
            return
        conn.setblocking(False)
        opening = self._loop.create_task(self._open(conn))
        self._opening.add(opening)
        opening.add_done_callback(self._opening.discard)

    async def _open(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._server, conn)
        except OSError as exc:  # the client reset the connection before it was set up
            log.debug("dropped a connection while setting it up: %s", exc)
            conn.close()

    def _pause(self, seconds: float) -> None:
        self._loop.remove_reader(self._sock.fileno())
        self._resume = self._loop.call_later(seconds, self._listen_again)

    def _listen_again(self) -> None:
        self._resume = None
        if not self._closed:
            self._loop.add_reader(self._sock.fileno(), self._accept_one)

    def close(self) -> None:
        """Stop accepting (the socket stays open: the other workers and the parent share it)."""
        if self._closed:
            return
        self._closed = True
        if self._resume is not None:
            self._resume.cancel()
        else:
            self._loop.remove_reader(self._sock.fileno())

    async def wait_closed(self) -> None:
        """Return once the connections being set up are handed over or dropped."""
        if self._opening:
            await asyncio.gather(*self._opening, return_exceptions=True)


def serve_app(app: web.Application, sock: socket.socket, access_log_class: type[AbstractAccessLogger],
              sibling: Sibling | None = None) -> None:
    """Run ``app`` on ``sock`` until SIGTERM or SIGINT, as aiohttp's ``web.run_app`` does
    with one ``SharedSocketSite``: start-up hooks, serving, then a graceful shutdown and the
    cleanup hooks. Returns when stopped; raises what the start-up hooks raise."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    main = loop.create_task(_serve(app, sock, access_log_class, sibling))
    try:
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        try:
            if not main.done():
                main.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    loop.run_until_complete(main)
        finally:
            _cancel_all(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()


async def _serve(app: web.Application, sock: socket.socket, access_log_class: type[AbstractAccessLogger],
                 sibling: Sibling | None) -> None:
    # web.run_app's idle keep-alive limit (the handler's own default is an hour).
    runner = web.AppRunner(app, handle_signals=True, access_log_class=access_log_class, keepalive_timeout=75.0)
    await runner.setup()
    try:
        await SharedSocketSite(runner, sock, sibling).start()
        while True:
            await asyncio.sleep(3600)
    finally:
        await runner.cleanup()


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel the tasks still pending and wait for them, as ``web.run_app`` does at exit."""
    pending = asyncio.all_tasks(loop)
    if not pending:
        return
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    for task in pending:
        if not task.cancelled() and task.exception() is not None:
            loop.call_exception_handler({
                "message": "unhandled exception during shutdown", "exception": task.exception(), "task": task,
            })
