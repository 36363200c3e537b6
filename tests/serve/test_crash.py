"""``kill -9`` of ``regauth serve --workers 2`` during mixed writes loses no acknowledged write
and leaves an intact database.

Writers create, regenerate and delete robots, create and delete repositories, grant roles
and ask for tokens through the API, each on entities of its own (so that its requests on one
entity are sequential), and keep a ledger of every write the server acknowledged (2xx). The
server's whole process group is killed with SIGKILL at random moments, ROUNDS times, and
started again each time. A write whose reply never came (or that was answered 503) may or
may not have happened: its entities are left out of the checks and out of later writes. At
the end ``PRAGMA integrity_check`` says ok, every acknowledged write is in the database and
every acknowledged delete is not. Tokens asked for during the run double as checks: a robot
whose creation or last regeneration was acknowledged must get one.
"""

import asyncio
import base64
import collections
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field

import aiohttp
import pytest

from tests.conftest import FAST_BCRYPT_COST, SERVICE
from tests.serve.serving import init_data_dir
from tests.serve.test_workers import free_port, listening_inodes
from tokenstore import RobotNotFound, Store

ROUNDS = 22
WRITERS = 4
WORKERS = 2
NAMESPACE = "crash"
# How long the server runs before each kill, in seconds: long enough for some writes to be
# acknowledged, short enough for kills to land in the middle of others.
UP_SECONDS = (0.15, 0.6)
START_TIMEOUT = 30.0
REQUEST_TIMEOUT = 10.0
# The whole run, rounds and restarts included (about 40 s on two busy cores).
TEST_TIMEOUT = 150.0


@dataclass
class Ledger:
    """One writer's acknowledged state: robots (shortname -> current secret, None once
    deleted), repositories (name -> present), grants ((robot, repository) -> role), and
    the names whose state is unknown since a write on them went unanswered."""

    robots: dict = field(default_factory=dict)
    repositories: dict = field(default_factory=dict)
    grants: dict = field(default_factory=dict)
    uncertain: set = field(default_factory=set)
    acknowledged: collections.Counter = field(default_factory=collections.Counter)
    unanswered: collections.Counter = field(default_factory=collections.Counter)
    unexpected: list = field(default_factory=list)

    def live_robots(self) -> list[str]:
        return [name for name, secret in self.robots.items() if secret is not None and name not in self.uncertain]

    def live_repositories(self) -> list[str]:
        return [name for name, present in self.repositories.items() if present and name not in self.uncertain]


class Unanswered(Exception):
    """The request got no reply the writer can rely on (connection lost, or a 503)."""


class Writer:
    """Mixed writes through the API as an organization admin, on names of its own."""

    def __init__(self, index: int, base: str, session: aiohttp.ClientSession, api_token: str, rng: random.Random):
        self.prefix = f"w{index}"
        self.base = base
        self.session = session
        self.headers = {"Authorization": f"Bearer {api_token}"}
        self.rng = rng
        self.ledger = Ledger()
        self.sequence = 0

    def _name(self, kind: str) -> str:
        self.sequence += 1
        return f"{self.prefix}{kind}{self.sequence}"

    async def _call(self, method: str, path: str, body=None, headers=None) -> tuple[int, object]:
        try:
            async with self.session.request(
                method, self.base + path, json=body, headers=headers or self.headers,
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
            ) as response:
                payload = await response.json(content_type=None) if response.status != 204 else None
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            raise Unanswered() from None
        if response.status == 503:  # "nothing was changed", but a retry would be the client's job
            raise Unanswered()
        return response.status, payload

    async def step(self) -> None:
        """Send one write (or token request) chosen at random and record what it proves."""
        ledger = self.ledger
        robots, repositories = ledger.live_robots(), ledger.live_repositories()
        choices = [("create_robot", 3), ("create_repository", 2)]
        if robots:
            choices += [("regenerate", 3), ("token", 3), ("delete_robot", 1)]
        if repositories:
            choices += [("delete_repository", 1)]
        if robots and repositories:
            choices += [("grant", 4)]
        operation = self.rng.choices([c[0] for c in choices], [c[1] for c in choices])[0]
        touched: tuple[str, ...] = ()
        try:
            if operation == "create_robot":
                touched = (self._name("r"),)
                status, body = await self._call("PUT", f"/api/v1/organization/{NAMESPACE}/robots/{touched[0]}", {})
                if self._expect(operation, status, 201):
                    ledger.robots[touched[0]] = body["token"]
            elif operation == "regenerate":
                touched = (self.rng.choice(robots),)
                status, body = await self._call(
                    "POST", f"/api/v1/organization/{NAMESPACE}/robots/{touched[0]}/regenerate")
                if self._expect(operation, status, 200):
                    ledger.robots[touched[0]] = body["token"]
            elif operation == "delete_robot":
                touched = (self.rng.choice(robots),)
                status, _ = await self._call("DELETE", f"/api/v1/organization/{NAMESPACE}/robots/{touched[0]}")
                if self._expect(operation, status, 204):
                    ledger.robots[touched[0]] = None
            elif operation == "create_repository":
                touched = (self._name("p"),)
                status, _ = await self._call("POST", "/api/v1/repository", {
                    "namespace": NAMESPACE, "repository": touched[0], "visibility": "private", "description": ""})
                if self._expect(operation, status, 201):
                    ledger.repositories[touched[0]] = True
            elif operation == "delete_repository":
                touched = (self.rng.choice(repositories),)
                status, _ = await self._call("DELETE", f"/api/v1/repository/{NAMESPACE}/{touched[0]}")
                if self._expect(operation, status, 204):
                    ledger.repositories[touched[0]] = False
            elif operation == "grant":
                robot, repository = self.rng.choice(robots), self.rng.choice(repositories)
                role = self.rng.choice(["read", "write", "admin"])
                touched = (f"{robot}@{repository}",)
                status, _ = await self._call(
                    "PUT", f"/api/v1/repository/{NAMESPACE}/{repository}/permissions/user/{NAMESPACE}+{robot}",
                    {"role": role})
                if self._expect(operation, status, 200):
                    ledger.grants[(robot, repository)] = role
            else:
                touched = ()  # reads the robot's secret; an unanswered token request changes nothing
                robot = self.rng.choice(robots)
                basic = base64.b64encode(f"{NAMESPACE}+{robot}:{ledger.robots[robot]}".encode()).decode()
                status, _ = await self._call(
                    "GET", f"/token?service={SERVICE}&scope=repository:{NAMESPACE}/app:pull",
                    headers={"Authorization": f"Basic {basic}"})
                self._expect(operation, status, 200)
        except Unanswered:
            ledger.unanswered[operation] += 1
            ledger.uncertain.update(touched)

    def _expect(self, operation: str, status: int, wanted: int) -> bool:
        if status == wanted:
            self.ledger.acknowledged[operation] += 1
            return True
        self.ledger.unexpected.append(f"{operation}: {status} instead of {wanted}")
        return False


class Server:
    """``regauth serve --workers 2`` in its own process group, started and killed at will."""

    def __init__(self, tmp_path, settings: list[str], env: dict):
        self.tmp_path = tmp_path
        self.port = free_port()
        self.argv = [sys.executable, "-m", "gateway", "serve", *settings,
                     "--listen", f"127.0.0.1:{self.port}", "--workers", str(WORKERS)]
        self.env = env
        self.process: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, session: aiohttp.ClientSession) -> None:
        """Start the server and return once it answers /healthz; raises AssertionError when
        it does not within START_TIMEOUT seconds."""
        self.starts += 1
        log = open(self.tmp_path / f"serve-{self.starts}.log", "wb")
        with log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                            start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self.process.poll() is None, (self.tmp_path / f"serve-{self.starts}.log").read_text()
            assert time.monotonic() < deadline, f"the server did not answer within {START_TIMEOUT} s"
            try:
                async with session.get(self.url + "/healthz", timeout=aiohttp.ClientTimeout(total=2)) as response:
                    if response.status == 200:
                        return
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass
            await asyncio.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the whole process group (parent and workers); returns once none listens."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(10)
        deadline = time.monotonic() + 10
        while listening_inodes(self.port):
            assert time.monotonic() < deadline, "killed workers still listen after 10 s"
            time.sleep(0.02)
        self.process = None


@pytest.fixture
def crash_setup(tmp_path):
    """A data directory with organization ``crash`` and its admin's API token."""
    data = tmp_path / "data"
    settings, env = init_data_dir(data)
    store = Store(data / "regauth.db", bcrypt_cost=FAST_BCRYPT_COST)
    store.create_user("keeper", "correct horse battery staple")
    store.create_organization(NAMESPACE, admin="keeper")
    token = store.create_api_token("keeper").token
    store.close()
    server = Server(tmp_path, settings, env)
    try:
        yield server, data / "regauth.db", token
    finally:
        server.kill()


async def _run(server: Server, api_token: str, rng: random.Random) -> list[Writer]:
    up = asyncio.Event()
    done = False
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:
        writers = [Writer(index, server.url, session, api_token, rng) for index in range(WRITERS)]

        async def write(writer: Writer) -> None:
            while not done:
                await up.wait()
                if not done:
                    await writer.step()

        tasks = [asyncio.create_task(write(writer)) for writer in writers]
        try:
            for _ in range(ROUNDS):
                await server.start(session)
                up.set()
                await asyncio.sleep(rng.uniform(*UP_SECONDS))
                up.clear()
                server.kill()  # requests in flight now fail: their writers mark them unanswered
        finally:
            done = True
            up.set()
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), REQUEST_TIMEOUT + 5)
    return writers


def _check(database, writers: list[Writer]) -> None:
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
    connection.close()
    store = Store(database, bcrypt_cost=FAST_BCRYPT_COST)
    try:
        live = {repository.name for repository in store.list_repositories(NAMESPACE)}
        for writer in writers:
            ledger = writer.ledger
            for robot, secret in ledger.robots.items():
                if robot in ledger.uncertain:
                    continue
                full = f"{NAMESPACE}+{robot}"
                if secret is None:
                    with pytest.raises(RobotNotFound):
                        store.get_robot(full)
                else:
                    assert store.authenticate(full, secret).username == full
            for repository, present in ledger.repositories.items():
                if repository not in ledger.uncertain:
                    assert (repository in live) == present, repository
            for (robot, repository), role in ledger.grants.items():
                if ({robot, repository, f"{robot}@{repository}"} & ledger.uncertain
                        or ledger.robots.get(robot) is None or not ledger.repositories.get(repository)):
                    continue
                roles = {p.repository: p.role.value for p in store.list_permissions(f"{NAMESPACE}+{robot}")}
                assert roles.get(repository) == role, (robot, repository)
    finally:
        store.close()


def test_kill_9_during_writes_loses_no_acknowledged_write(crash_setup):
    server, database, api_token = crash_setup
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    started = time.monotonic()
    writers = asyncio.run(asyncio.wait_for(_run(server, api_token, rng), TEST_TIMEOUT))
    assert server.starts == ROUNDS

    unexpected = [problem for writer in writers for problem in writer.ledger.unexpected]
    assert unexpected == [], f"seed {seed}"
    acknowledged = sum((writer.ledger.acknowledged for writer in writers), collections.Counter())
    unanswered = sum((writer.ledger.unanswered for writer in writers), collections.Counter())
    # Every kind of write was acknowledged at least once, or the run proved little.
    assert set(acknowledged) == {"create_robot", "regenerate", "delete_robot", "create_repository",
                                 "delete_repository", "grant", "token"}, (seed, acknowledged)
    _check(database, writers)
    print(f"seed {seed}: {ROUNDS} kills in {time.monotonic() - started:.1f} s; acknowledged {dict(acknowledged)}; "
          f"unanswered {dict(unanswered)}")
