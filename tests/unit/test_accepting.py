"""gateway.server.accepting: a worker takes one connection at a time off the shared socket,
steps aside for a sibling with fewer connections, and never for long."""

import asyncio
import socket
import time

from aiohttp import web

from gateway.server.accepting import (
    MOST_STEPS_ASIDE, SLACK, STEP_ASIDE, ConnectionCounts, SharedSocketSite, Sibling,
)


def listening() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="hello")


async def started(sock: socket.socket, sibling: Sibling | None) -> web.AppRunner:
    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    await SharedSocketSite(runner, sock, sibling).start()
    return runner


async def ask(port: int) -> tuple[bytes, asyncio.StreamWriter]:
    """Open a connection, send GET /; returns the status line and the open connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    return await asyncio.wait_for(reader.readline(), 5), writer


def test_a_worker_steps_aside_only_when_it_has_more_connections_than_the_least_loaded_sibling():
    counts = ConnectionCounts(3)
    first, second, third = (Sibling(counts, slot) for slot in range(3))
    assert not first.should_step_aside(0)
    second.should_step_aside(4)
    third.should_step_aside(2)
    assert not first.should_step_aside(2 + SLACK)  # the fewest elsewhere is 2
    assert first.should_step_aside(3 + SLACK)
    assert counts.fewest_besides(2) == 3 + SLACK  # what first published
    third.should_step_aside(9)
    assert first.should_step_aside(4 + SLACK + 1)
    assert not first.should_step_aside(4 + SLACK)


async def test_connections_are_served_one_accept_at_a_time_without_siblings():
    sock = listening()
    runner = await started(sock, None)
    writers = []
    try:
        for _ in range(10):
            status, writer = await ask(sock.getsockname()[1])
            writers.append(writer)
            assert status == b"HTTP/1.1 200 OK\r\n"
        assert len(runner.server.connections) == 10
    finally:
        for writer in writers:
            writer.close()
        await runner.cleanup()
        sock.close()


async def test_a_sibling_that_never_accepts_delays_a_connection_by_the_steps_aside_at_most():
    """The sibling's slot says it holds no connection (it hangs, or died before the parent
    replaced it): this worker still takes every connection, after stepping aside a bounded
    number of times for the ones beyond its share."""
    sock = listening()
    counts = ConnectionCounts(2)
    runner = await started(sock, Sibling(counts, 0))
    port = sock.getsockname()[1]
    writers, waits = [], []
    try:
        for _ in range(6):
            began = time.monotonic()
            status, writer = await ask(port)
            waits.append(time.monotonic() - began)
            writers.append(writer)
            assert status == b"HTTP/1.1 200 OK\r\n"
        assert len(runner.server.connections) == 6
        # Up to SLACK connections beyond the sibling's none are taken at once; the rest each
        # waited out the steps aside (timers do not fire early), and not much more.
        stepped = waits[SLACK + 1:]
        assert min(stepped) >= STEP_ASIDE * MOST_STEPS_ASIDE
        assert max(stepped) < 1.0
        assert counts.fewest_besides(1) == 5  # what this worker published before the last one
    finally:
        for writer in writers:
            writer.close()
        await runner.cleanup()
        sock.close()


async def test_closing_the_site_stops_accepting_and_leaves_the_shared_socket_open():
    sock = listening()
    runner = await started(sock, None)
    port = sock.getsockname()[1]
    status, writer = await ask(port)
    assert status == b"HTTP/1.1 200 OK\r\n"
    writer.close()
    await runner.cleanup()
    try:
        assert sock.fileno() != -1  # the parent and the other workers still listen on it
        # The kernel still completes the handshake (the socket listens) but nobody answers.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        try:
            line = await asyncio.wait_for(reader.readline(), 0.3)
        except asyncio.TimeoutError:
            line = b""
        assert line == b""
        writer.close()
    finally:
        sock.close()
