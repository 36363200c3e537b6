"""``regauth serve --workers N``: several processes answering on one port, sharing one
SQLite database, where writes (audit rows, last_accessed) never fail a token request; a
worker that dies is replaced, and a port already taken is one error line."""

import asyncio
import base64
import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from bench.procs import socket_inodes
from gateway.server.workers import RESTART_LIMIT
from tests.conftest import FAST_BCRYPT_COST, SERVICE
from tests.serve.serving import REPO_ROOT, init_data_dir
from tokenstore import Store

WORKERS = 2
ROBOTS = 24
ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("REGAUTH_")}, "PYTHONPATH": str(REPO_ROOT)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on 127.0.0.1:``port`` (state 0A in /proc/net/tcp)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == f"0100007F:{port:04X}" and fields[3] == "0A":
            inodes.add(fields[9])
    return inodes


def healthy(port: int) -> bool:
    """True when GET /healthz on ``port`` answers 200 within a second."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://127.0.0.1:{port}/healthz", timeout=1) as reply:
            return reply.status == 200
    except OSError:
        return False


def wait_for(condition, seconds: float, what: str) -> None:
    """Poll ``condition()`` every 10 ms until it is true; fails after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {seconds} s"
        time.sleep(0.01)


def bytes_written(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError("no wchar in /proc/PID/io")


@contextlib.contextmanager
def serving(tmp_path: Path, settings: list[str], env: dict, port: int) -> Iterator[subprocess.Popen]:
    """Run ``regauth serve --workers WORKERS`` on 127.0.0.1:``port`` until the block ends;
    yields the process once every worker answers (at most 30 s), logging to serve.log."""
    log = open(tmp_path / "serve.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", *settings, "--listen", f"127.0.0.1:{port}", "--workers", str(WORKERS)],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while len(children(process.pid)) < WORKERS or not healthy(port):
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "the workers did not start answering within 30 s"
            time.sleep(0.05)
        yield process
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:  # the test stopped it
            pass
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
        log.close()


@pytest.fixture
def server(tmp_path):
    """A data directory with robots ns+bot0.. (write on ns), served by ``--workers 2``."""
    data = tmp_path / "data"
    settings, env = init_data_dir(data)
    store = Store(data / "regauth.db", bcrypt_cost=FAST_BCRYPT_COST)
    store.create_namespace("ns")
    secrets = {}
    for index in range(ROBOTS):
        issued = store.create_robot(f"ns+bot{index}")
        store.grant(f"ns+bot{index}", "ns", "write")
        secrets[issued.robot.username] = issued.secret
    store.close()
    port = free_port()
    with serving(tmp_path, settings, env, port) as process:
        yield process, port, data / "regauth.db", secrets


async def token_requests(port: int, secrets: dict[str, str], count: int, concurrency: int) -> list[int]:
    """Send ``count`` token requests (robots in turn), each on a new connection; returns the statuses."""
    url = f"http://127.0.0.1:{port}/token"
    names = list(secrets)
    semaphore = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:

        async def one(index: int) -> int:
            name = names[index % len(names)]
            async with semaphore:
                async with session.get(
                    url, params={"service": SERVICE, "scope": "repository:ns/app:pull,push"},
                    headers={"Authorization": "Basic " + base64.b64encode(f"{name}:{secrets[name]}".encode()).decode()},
                    timeout=aiohttp.ClientTimeout(total=30),
                ) as reply:
                    await reply.read()
                    return reply.status

        return await asyncio.gather(*(one(index) for index in range(count)))


async def test_two_workers_answer_on_one_port(server):
    process, port, _, secrets = server
    workers = children(process.pid)
    assert len(workers) == WORKERS
    listening = listening_inodes(port)
    # One listening socket, bound by the parent; every worker accepts from it.
    assert len(listening) == 1
    for pid in [process.pid, *workers]:
        assert socket_inodes(pid) & listening == listening
    before = {pid: bytes_written(pid) for pid in workers}
    statuses = await token_requests(port, secrets, count=80, concurrency=8)
    assert statuses == [200] * 80
    # The kernel spread the 80 connections: both workers wrote replies.
    for pid in workers:
        assert bytes_written(pid) - before[pid] > 20 * 1000


def established_per_worker(port: int, workers: list[int]) -> list[int]:
    """How many connections to 127.0.0.1:``port`` each of ``workers`` has accepted."""
    local = f"0100007F:{port:04X}"
    rows = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    accepted = [fields[9] for fields in rows if fields[1] == local and fields[3] == "01"]
    return [len(socket_inodes(pid).intersection(accepted)) for pid in workers]


def test_connections_opened_at_once_are_shared_evenly_by_the_workers(server):
    """40 connections opened in a burst (as a load test or a proxy's connection pool opens
    them) end up near 20 and 20 (two apart, four on a busy machine): not most of them on the
    worker that woke first (39 and 1 before the workers stepped aside for each other)."""
    process, port, _, _ = server
    workers = children(process.pid)
    burst = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(40)]
    try:
        wait_for(lambda: sum(established_per_worker(port, workers)) == 40, 10, "every connection accepted")
        counts = established_per_worker(port, workers)
        assert max(counts) - min(counts) <= 8, counts
        for conn in burst:  # and each is served
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        for conn in burst:
            assert conn.recv(100).startswith(b"HTTP/1.1 200")
    finally:
        for conn in burst:
            conn.close()


async def test_writes_in_other_processes_never_fail_token_requests(server):
    """Another process holds the write lock again and again, each time longer than the
    last_accessed write waits; every token request still succeeds and is audited."""
    _, port, database, secrets = server
    stop = threading.Event()

    def hold_the_write_lock():
        conn = sqlite3.connect(database, timeout=30, isolation_level=None)
        try:
            while not stop.is_set():
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("UPDATE namespaces SET kind = kind WHERE name = 'ns'")
                time.sleep(0.3)
                conn.execute("COMMIT")
                time.sleep(0.05)
        finally:
            conn.close()

    holder = threading.Thread(target=hold_the_write_lock)
    holder.start()
    try:
        statuses = await token_requests(port, secrets, count=200, concurrency=16)
    finally:
        stop.set()
        holder.join()
    assert statuses == [200] * 200
    # A token is sent only once its audit row is committed: every row is there already.
    conn = sqlite3.connect(database)
    try:
        (issued,) = conn.execute("SELECT count(*) FROM audit_log WHERE kind = 'issue_token'").fetchone()
    finally:
        conn.close()
    assert issued == 200


async def test_regenerate_through_the_api_while_token_requests_run(server):
    """Rotating a secret must not fail while a fleet's token requests keep the audit writers
    committing (a regenerate reads the robot before it writes; begun deferred, such a
    transaction failed at once with "database is locked" whenever a commit came between)."""
    _, port, database, secrets = server
    store = Store(database, bcrypt_cost=FAST_BCRYPT_COST)
    try:
        store.create_user("admin", "correct horse battery")
        store.set_member("ns", "admin", "admin")
        api_token = store.create_api_token("admin").token
        store.create_robot("ns+rotated")
    finally:
        store.close()
    url = f"http://127.0.0.1:{port}/api/v1/organization/ns/robots/rotated/regenerate"

    async def regenerate_repeatedly() -> list[int]:
        statuses = []
        async with aiohttp.ClientSession(trust_env=False) as session:
            await asyncio.sleep(0.2)  # let the token requests get going
            for _ in range(30):
                async with session.post(url, headers={"Authorization": f"Bearer {api_token}"},
                                        timeout=aiohttp.ClientTimeout(total=30)) as reply:
                    await reply.read()
                    statuses.append(reply.status)
        return statuses

    tokens, regenerations = await asyncio.gather(
        token_requests(port, secrets, count=1200, concurrency=32), regenerate_repeatedly(),
    )
    assert regenerations == [200] * 30
    assert tokens == [200] * 1200


def served_log(process_log: Path) -> str:
    return process_log.read_text(errors="replace")


async def test_a_killed_worker_is_replaced_within_a_second_and_logged(server, tmp_path):
    process, port, _, secrets = server
    first, second = children(process.pid)
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: len(set(children(process.pid)) - {first, second}) == 1, 1.0, "a new worker started")
    (replacement,) = set(children(process.pid)) - {first, second}
    wait_for(lambda: f"worker {first} was killed by signal SIGKILL; starting a new one" in served_log(
        tmp_path / "serve.log"), 5.0, "the death was logged")
    wait_for(lambda: (tmp_path / "serve.log").read_text().count(f"regauth {replacement} listening") == 1, 10.0,
             "the new worker started serving")
    assert await token_requests(port, secrets, count=40, concurrency=8) == [200] * 40
    assert "Traceback" not in served_log(tmp_path / "serve.log")


def test_a_dead_worker_not_yet_replaced_makes_readyz_503_naming_it(server):
    process, port, _, _ = server
    assert health(port, "/readyz") == (200, {"status": "ok", "checks": {
        "store_read": "ok", "store_write": "ok", "signing_key": "ok", "workers": "ok"}})
    # A stopped parent cannot replace the worker: the surviving one answers every probe.
    os.kill(process.pid, signal.SIGSTOP)
    try:
        victim = children(process.pid)[0]
        os.kill(victim, signal.SIGKILL)
        # The stopped parent makes /readyz 503 at once; the killed worker is named only once
        # its exit is complete (SIGKILL is delivered asynchronously), so wait for its name.
        dead = f"of {WORKERS} (process {victim}) is not running"
        wait_for(lambda: dead in health(port, "/readyz")[1]["checks"]["workers"], 5.0,
                 "/readyz named the dead worker")
        for _ in range(4):
            status, body = health(port, "/readyz")
            assert status == 503 and body["status"] == "unavailable", body
            assert dead in body["checks"]["workers"]
            assert body["checks"]["store_write"] == "ok"
    finally:
        os.kill(process.pid, signal.SIGCONT)
    wait_for(lambda: health(port, "/readyz")[0] == 200, 10.0, "/readyz 200 again once the parent replaced the worker")
    assert victim not in children(process.pid)


def test_workers_that_keep_dying_stop_the_server_with_an_error(server, tmp_path):
    process, _, _, _ = server
    killed: list[int] = []
    for _ in range(RESTART_LIMIT):
        wait_for(lambda: len(set(children(process.pid)) - set(killed)) == WORKERS, 5.0, "the workers were replaced")
        victim = min(set(children(process.pid)) - set(killed))
        os.kill(victim, signal.SIGKILL)
        killed.append(victim)
    assert process.wait(15) == 1
    assert f"{RESTART_LIMIT} workers died within 10 s: stopping the server" in served_log(tmp_path / "serve.log")


def test_sigterm_stops_the_parent_and_every_worker(server):
    process, _, _, _ = server
    workers = children(process.pid)
    os.kill(process.pid, signal.SIGTERM)
    assert process.wait(15) == 0
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_second_server_on_a_taken_port_is_one_line_and_exit_1(server, tmp_path, workers):
    """Another regauth (another data directory and key) on the port of a running one must
    not start and share its connections."""
    _, port, _, _ = server
    other = ["--data-dir", str(tmp_path / f"other{workers}")]
    subprocess.run([sys.executable, "-m", "gateway", "init", *other], check=True, capture_output=True, env=ENV,
                   timeout=60)
    second = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", *other, "--listen", f"127.0.0.1:{port}", "--workers", str(workers)],
        capture_output=True, text=True, env=ENV, timeout=60,
    )
    assert second.returncode == 1
    assert second.stderr.splitlines() == [f"regauth: error: address in use: 127.0.0.1:{port}"]
    assert healthy(port)


def health(port: int, path: str = "/healthz") -> tuple[int, dict]:
    """GET ``path`` (a probe) on ``port``: (status, body)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def test_a_removed_database_makes_every_worker_unhealthy_and_refuse_tokens(server, tmp_path):
    """`rm regauth.db` while serving: no write is acknowledged into the removed file."""
    _, port, database, secrets = server
    assert await token_requests(port, secrets, count=4, concurrency=2) == [200] * 4
    database.unlink()
    # Each worker checks its file once a second, and logs an ERROR when it finds it gone.
    noticed = f"ERROR tokenstore.sqlite.database: the database file {database} was removed or replaced while open"
    wait_for(lambda: served_log(tmp_path / "serve.log").count(noticed) == WORKERS, 10.0,
             "every worker noticed the removed file")
    for _ in range(10):
        status, body = health(port)
        assert status == 503 and body["reason"] == "the database file was removed or replaced while the server ran"
    assert await token_requests(port, secrets, count=8, concurrency=2) == [503] * 8
    assert not database.exists()


def test_a_worker_restarted_after_the_database_was_removed_never_makes_an_empty_one(server, tmp_path):
    process, _, database, _ = server
    database.unlink()
    os.kill(children(process.pid)[0], signal.SIGKILL)
    # Each replacement refuses to start without the database, until the parent gives up.
    assert process.wait(30) == 1
    assert not database.exists()
    log = served_log(tmp_path / "serve.log")
    assert "workers died within 10 s: stopping the server" in log
    assert f"stopped: [Errno 2] the database is missing: '{database}'" in log and "Traceback" not in log
