"""``regauth serve --workers N``: several processes answering on one port, sharing one
SQLite database, where writes (audit rows, last_accessed) never fail a token request."""

import asyncio
import base64
import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import FAST_BCRYPT_COST, ISSUER, SERVICE
from tokenstore import Store

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKERS = 2
ROBOTS = 24


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


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def bytes_written(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError("no wchar in /proc/PID/io")


def init_data_dir(tmp_path: Path) -> tuple[Path, list[str], dict]:
    """Run ``regauth init`` in ``tmp_path/data``; returns the directory, the settings every
    command takes (fast bcrypt, the test service) and the environment to run them in."""
    data = tmp_path / "data"
    settings = ["--data-dir", str(data), "--service", SERVICE, "--issuer", ISSUER,
                "--bcrypt-cost", str(FAST_BCRYPT_COST)]
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("REGAUTH_")}, "PYTHONPATH": str(REPO_ROOT)}
    subprocess.run([sys.executable, "-m", "gateway", "init", *settings], check=True, capture_output=True, env=env,
                   timeout=60)
    return data, settings, env


@contextlib.contextmanager
def serving(tmp_path: Path, settings: list[str], env: dict, port: int) -> Iterator[subprocess.Popen]:
    """Run ``regauth serve --workers WORKERS`` on 127.0.0.1:``port`` until the block ends;
    yields the process once every worker listens (at most 30 s), logging to serve.log."""
    log = open(tmp_path / "serve.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", *settings, "--listen", f"127.0.0.1:{port}", "--workers", str(WORKERS)],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while len(children(process.pid)) < WORKERS or len(listening_inodes(port)) < WORKERS:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "the workers did not start listening within 30 s"
            time.sleep(0.05)
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
        log.close()


@pytest.fixture
def server(tmp_path):
    """A data directory with robots ns+bot0.. (write on ns), served by ``--workers 2``."""
    data, settings, env = init_data_dir(tmp_path)
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
    # Each worker holds its own listening socket on the port (SO_REUSEPORT).
    for pid in workers:
        assert len(socket_inodes(pid) & listening) == 1
    before = {pid: bytes_written(pid) for pid in workers}
    statuses = await token_requests(port, secrets, count=80, concurrency=8)
    assert statuses == [200] * 80
    # The kernel spread the 80 connections: both workers wrote replies.
    for pid in workers:
        assert bytes_written(pid) - before[pid] > 20 * 1000


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
