"""Three replicas on one PostgreSQL database behind nginx, when things go wrong.

- A replica that hangs and is then killed with SIGKILL under mixed load (token requests and
  API writes through nginx): nginx routes around it, every token request still succeeds,
  those in flight on it included, and every write that was acknowledged (2xx) is in the
  database afterwards.
- PostgreSQL stopped (or killed) under load: every replica answers 503 with Retry-After
  within seconds, never a 500 and never a hang, and /readyz says 503; once PostgreSQL is back
  the replicas serve again by themselves, without a restart.
- The failed-login throttle with three replicas: each replica counts its own failures, so
  an address gets at most three times the per-address limit of secret checks through nginx
  before every replica answers 429.

No registry here: PostgreSQL (a server of this module's own, since it is stopped and
killed), the replicas and nginx. Every request has a client timeout and every loop a bound
in count and time.
"""

from __future__ import annotations

import collections
import concurrent.futures
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest

from api_helpers import ApiUser, api, create_user
from e2e_stack import SERVICE, Robot
from e2e_support import http_request, wait_until
from replicas import ReplicaStack, basic, replica_stack, source_request, token_request
from tests.postgres_server import PostgresServer
from tokenstore import InvalidCredentials, RobotNotFound
from tokenstore.postgres.store import PostgresStore

DATABASE = "regauth_replica_faults"
# The per-address limit of failed logins each replica enforces, for the throttle test; the
# per-robot limit is set far above it, so that the address's is the one reached.
ADDRESS_LIMIT = 4
# Where the throttle test's guesses come from: a loopback address of its own, so that no
# other request of the module counts against it.
GUESSER = "127.0.0.2"
# A bound on every request: an answer later than this is a hang.
REQUEST_TIMEOUT = 10.0
# How long the replicas may take to notice PostgreSQL gone, and to serve again once it is back.
NOTICE_SECONDS = 5.0
RECOVERY_SECONDS = 15.0
# How long the replica killed under load hangs before it dies.
FROZEN_SECONDS = 0.5


@pytest.fixture(scope="module")
def postgres(tmp_path_factory) -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, postgres: PostgresServer) -> Iterator[ReplicaStack]:
    """Replicas a, b and c and nginx on this module's PostgreSQL."""
    url = postgres.create_database(DATABASE)
    limits = ("--login-failures-per-address", f"{ADDRESS_LIMIT}/minute", "--login-failures-per-robot", "1000/minute")
    with replica_stack(tmp_path_factory.mktemp("replica-faults"), url, registry=False, extra_settings=limits) as made:
        yield made


@pytest.fixture(autouse=True)
def running(request, cluster: ReplicaStack, postgres: PostgresServer) -> Iterator[None]:
    """Every test starts with PostgreSQL and all three replicas up (a test before may have
    stopped one), and prints the replicas' logs when it fails."""
    postgres.start()
    cluster.ensure_running()
    failed = request.session.testsfailed
    yield
    if request.session.testsfailed > failed:
        print(cluster.log_tails())


@pytest.fixture(scope="module")
def admin(cluster: ReplicaStack) -> ApiUser:
    return create_user(cluster.cli, "faults-admin", superuser=True)


@pytest.fixture
def org(cluster: ReplicaStack, admin: ApiUser, unique: Callable[[str], str]) -> str:
    name = unique("org")
    assert api(cluster.replicas[0].url, "POST", "/api/v1/organization/", admin, {"name": name}) == (201, "Created")
    return name


@pytest.fixture
def puller(cluster: ReplicaStack, admin: ApiUser, org: str) -> Robot:
    """A robot with read on ``org/app``, whose secret every replica has verified once."""
    status, body = api(cluster.replicas[0].url, "PUT", f"/api/v1/organization/{org}/robots/puller", admin, {})
    assert status == 201, body
    robot = Robot(f"{org}+puller", body["token"])
    assert api(cluster.replicas[0].url, "PUT", f"/api/v1/namespace/{org}/permissions/user/{robot.name}", admin,
               {"role": "read"})[0] == 200
    for replica in cluster.replicas:
        assert token_request(replica.url, robot, f"repository:{org}/app:pull").status == 200, replica.name
    return robot


@dataclass(frozen=True)
class Outcome:
    """One request's answer: its status (None when none came: an error or the client's
    timeout), Retry-After, and how long it took."""

    status: int | None
    retry_after: str | None
    seconds: float
    error: str = ""


def timed(method: str, url: str, headers: dict | None = None, body: bytes | None = None) -> Outcome:
    started = time.monotonic()
    try:
        reply = http_request(method, url, headers, body, timeout=REQUEST_TIMEOUT)
    except OSError as exc:
        return Outcome(None, None, time.monotonic() - started, f"{type(exc).__name__}: {exc}")
    return Outcome(reply.status, reply.headers.get("Retry-After"), time.monotonic() - started)


class Load:
    """Threads that each call ``step()`` over and over until ``stop()``, at most
    ``max_steps`` times each; ``stop()`` raises what a step raised."""

    def __init__(self, steps: list[Callable[[], None]], max_steps: int = 2000):
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(step, max_steps), daemon=True) for step in steps]
        self._errors: list[BaseException] = []

    def _run(self, step: Callable[[], None], max_steps: int) -> None:
        for _ in range(max_steps):
            if self._stop.is_set():
                return
            try:
                step()
            except BaseException as exc:  # noqa: BLE001 - handed to stop(), in the test's thread
                self._errors.append(exc)
                return

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(REQUEST_TIMEOUT + 5)
            assert not thread.is_alive(), "a load thread did not stop"
        if self._errors:
            raise self._errors[0]

    def __exit__(self, *exc_info) -> None:
        self.stop()


# --------------------------------------------------------------------------- the throttle
# First in the module: the faults below leave nginx counting replicas as failed for a while.


def test_failed_logins_through_nginx_get_at_most_three_times_the_limit_of_checks(cluster: ReplicaStack, puller, org):
    guess = basic(puller, "WRONG" * 12)
    path = "/token?" + urlencode([("service", SERVICE), ("account", puller.name)])
    statuses: collections.Counter = collections.Counter()
    limit_checks = len(cluster.replicas) * ADDRESS_LIMIT

    def through_nginx(_) -> int:
        return source_request(GUESSER, cluster.nginx_port, "GET", path, guess, timeout=REQUEST_TIMEOUT).status

    def everyone_refuses() -> bool:
        direct = [source_request(GUESSER, replica.port, "GET", path, guess, timeout=REQUEST_TIMEOUT)
                  for replica in cluster.replicas]
        statuses.update(reply.status for reply in direct)
        return all(reply.status == 429 and reply.headers.get("Retry-After") for reply in direct)

    checks_before = sum(refused_checks(replica.port) for replica in cluster.replicas)
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        for _ in range(4 * limit_checks):  # a bound: the limits are reached well before
            batch = list(pool.map(through_nginx, range(3)))
            statuses.update(batch)
            if set(batch) == {429} and everyone_refuses():
                break
        else:
            pytest.fail(f"not every replica refused after {4 * limit_checks} rounds: {statuses}")

    assert set(statuses) == {401, 429}, statuses
    # Each replica counts its own failures: more checks than one replica's limit, never more
    # than all of theirs. Two identical guesses that reach one replica together share one
    # bcrypt check, and each gets its 401: the checks are counted where they run.
    checks = sum(refused_checks(replica.port) for replica in cluster.replicas) - checks_before
    assert ADDRESS_LIMIT < checks <= limit_checks, (checks, statuses)
    assert statuses[401] >= checks, (checks, statuses)
    # Every check was a failure written to the audit log (one row per name, address and
    # reason, with a count): the database saw exactly the checks the client saw refused.
    store = PostgresStore(cluster.database_url, bcrypt_cost=4)
    try:
        def counted() -> int:
            rows, _ = store.list_events(org, start=0, end=4e9, kinds=["login_failure"])
            return sum(int(row.metadata.get("count", 1)) for row in rows if row.ip == GUESSER)

        wait_until(lambda: counted() == statuses[401], timeout=5, what="the failures in the audit log")
    finally:
        store.close()
    print(f"{checks:g} secret checks for {statuses[401]} refused guesses (limit {ADDRESS_LIMIT} per replica, "
          f"{limit_checks} for three), then 429 from every replica; {statuses[429]} refusals")


def refused_checks(port: int) -> float:
    """Return the bcrypt checks that refused a secret on the replica at ``port``, from its
    ``/metrics`` (every worker's, summed)."""
    reply = http_request("GET", f"http://127.0.0.1:{port}/metrics")
    assert reply.status == 200, reply.status
    prefix = 'regauth_bcrypt_checks_total{result="refused"} '
    return sum(float(line[len(prefix):]) for line in reply.body.decode().splitlines() if line.startswith(prefix))


# --------------------------------------------------------------------------- kill -9


@dataclass
class Writer:
    """API writes through nginx on names of its own, and what was acknowledged: robots
    (name -> secret), repositories, grants (robot, repository); names whose state is unknown
    since a write on them got no 2xx."""

    cluster: ReplicaStack
    admin: ApiUser
    org: str
    prefix: str
    robots: dict[str, str] = field(default_factory=dict)
    repositories: set[str] = field(default_factory=set)
    grants: set[tuple[str, str]] = field(default_factory=set)
    uncertain: set[str] = field(default_factory=set)
    answers: collections.Counter = field(default_factory=collections.Counter)
    sequence: int = 0

    def _call(self, method: str, path: str, body: dict | None = None) -> tuple[Outcome, dict | None]:
        headers = {"Authorization": f"Bearer {self.admin.token}"}
        data = None
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        started = time.monotonic()
        try:
            reply = http_request(method, self.cluster.url + path, headers, data, timeout=REQUEST_TIMEOUT)
        except OSError as exc:
            return Outcome(None, None, time.monotonic() - started, type(exc).__name__), None
        try:
            parsed = json.loads(reply.body) if reply.body else None
        except ValueError:
            parsed = None  # nginx's own 502 page
        return Outcome(reply.status, None, time.monotonic() - started), parsed

    def step(self) -> None:
        """Create a robot, a repository, a grant between them, and regenerate the robot."""
        self.sequence += 1
        robot, repository = f"{self.prefix}r{self.sequence}", f"{self.prefix}p{self.sequence}"
        base = f"/api/v1/organization/{self.org}/robots/{robot}"
        outcome, body = self._call("PUT", base, {})
        if not self._acknowledged("create robot", outcome, 201, robot):
            return
        self.robots[robot] = body["token"]
        outcome, _ = self._call("POST", "/api/v1/repository",
                                {"namespace": self.org, "repository": repository, "visibility": "private",
                                 "description": ""})
        if not self._acknowledged("create repository", outcome, 201, repository):
            return
        self.repositories.add(repository)
        outcome, _ = self._call("PUT", f"/api/v1/repository/{self.org}/{repository}/permissions/user/"
                                       f"{self.org}+{robot}", {"role": "write"})
        if self._acknowledged("grant", outcome, 200, f"{robot}@{repository}"):
            self.grants.add((robot, repository))
        outcome, body = self._call("POST", base + "/regenerate")
        if self._acknowledged("regenerate", outcome, 200, robot):
            self.robots[robot] = body["token"]

    def _acknowledged(self, what: str, outcome: Outcome, wanted: int, name: str) -> bool:
        self.answers[(what, outcome.status)] += 1
        if outcome.status == wanted:
            return True
        # No answer, a 502 (a POST whose replica died), a 503 (nothing changed), or a 400 or
        # 404 for a PUT or DELETE that nginx sent again after its first replica had
        # committed it and died: the write may or may not have happened.
        self.uncertain.add(name)
        return False


def check_acknowledged_writes(url: str, org: str, writers: list[Writer]) -> int:
    """Assert that every acknowledged write of ``writers`` is in the database at ``url``;
    returns how many were checked."""
    store = PostgresStore(url, bcrypt_cost=4)
    checked = 0
    try:
        present = {repository.name for repository in store.list_repositories(org)}
        for writer in writers:
            for robot, secret in writer.robots.items():
                if robot in writer.uncertain:
                    continue
                try:
                    assert store.authenticate(f"{org}+{robot}", secret, record_use=False).username == f"{org}+{robot}"
                except (InvalidCredentials, RobotNotFound):
                    pytest.fail(f"acknowledged robot {org}+{robot} or its last acknowledged secret was lost")
                checked += 1
            for repository in writer.repositories:
                assert repository in present, f"acknowledged repository {org}/{repository} was lost"
                checked += 1
            for robot, repository in writer.grants:
                roles = {p.target: p.role.value for p in store.list_permissions(f"{org}+{robot}")}
                assert roles.get(f"{org}/{repository}") == "write", (robot, repository, roles)
                checked += 1
    finally:
        store.close()
    return checked


def test_a_replica_killed_under_load_loses_no_acknowledged_write_and_tokens_keep_coming(
    cluster: ReplicaStack, admin, org, puller
):
    victim = cluster.by_name("b")
    tokens: list[Outcome] = []
    token_url = f"{cluster.url}/token?" + urlencode(
        [("service", SERVICE), ("account", puller.name), ("scope", f"repository:{org}/app:pull")])

    def ask_token() -> None:
        tokens.append(timed("GET", token_url, basic(puller)))

    writers = [Writer(cluster, admin, org, f"w{index}") for index in range(2)]
    with Load([ask_token, ask_token, *(writer.step for writer in writers)]) as load:
        time.sleep(1.5)
        # The replica hangs first, so that requests are in flight on it when it dies: nginx
        # has sent them and waits for the answers that will never come.
        victim.freeze()
        time.sleep(FROZEN_SECONDS)
        frozen_at = len(tokens)
        victim.kill()
        time.sleep(3.0)
        load.stop()
    after_kill = tokens[frozen_at:]

    failed = [outcome for outcome in tokens if outcome.status != 200]
    assert not failed, collections.Counter((o.status, o.error) for o in failed)
    assert frozen_at >= 5 and len(after_kill) >= 10, (frozen_at, len(after_kill))
    # Token requests nginx had sent to the replica before it hung were answered by another
    # one once it died (GET is sent again).
    rerouted = [outcome for outcome in after_kill if outcome.seconds >= FROZEN_SECONDS * 0.8]
    assert rerouted, sorted(outcome.seconds for outcome in after_kill)[-3:]
    assert max(outcome.seconds for outcome in tokens) < REQUEST_TIMEOUT
    checked = check_acknowledged_writes(cluster.database_url, org, writers)
    assert checked >= 10, checked
    answers = sum((writer.answers for writer in writers), collections.Counter())
    print(f"{len(tokens)} token requests, all 200 ({len(after_kill)} after the kill, {len(rerouted)} of them in "
          f"flight on the replica when it died); {checked} acknowledged writes all present; "
          f"API answers {dict(answers)}")


# --------------------------------------------------------------------------- PostgreSQL down


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_postgresql_down_is_a_503_everywhere_and_the_replicas_recover_by_themselves(
    cluster: ReplicaStack, postgres: PostgresServer, puller, org, how
):
    pids = {replica.name: replica.daemon.proc.pid for replica in cluster.replicas}
    scope = f"repository:{org}/app:pull"
    seen: dict[str, list[Outcome]] = collections.defaultdict(list)
    through_nginx: list[Outcome] = []

    def asker(replica) -> Callable[[], None]:
        url = f"{replica.url}/token?" + urlencode([("service", SERVICE), ("account", puller.name), ("scope", scope)])

        def ask() -> None:
            seen[replica.name].append(timed("GET", url, basic(puller)))
            time.sleep(0.05)

        return ask

    def via_nginx() -> None:
        url = f"{cluster.url}/token?" + urlencode([("service", SERVICE), ("account", puller.name), ("scope", scope)])
        through_nginx.append(timed("GET", url, basic(puller)))
        time.sleep(0.05)

    with Load([asker(replica) for replica in cluster.replicas] + [via_nginx]):
        time.sleep(0.5)
        down_at = time.monotonic()
        marks = {replica.name: len(seen[replica.name]) for replica in cluster.replicas}
        getattr(postgres, how)()
        # Every replica notices within NOTICE_SECONDS: a 503 with Retry-After on /token.
        for name in marks:
            wait_until(lambda name=name: any(o.status == 503 for o in seen[name][marks[name]:]),
                       timeout=NOTICE_SECONDS, what=f"a 503 from replica {name}")
        noticed = time.monotonic() - down_at
        for replica in cluster.replicas:
            ready = timed("GET", replica.url + "/readyz")
            assert (ready.status, ready.retry_after is not None) == (503, True), (replica.name, ready)
            assert timed("GET", replica.url + "/livez").status == 200, replica.name
        time.sleep(1.0)
        outage = {name: seen[name][marks[name]:] for name in marks}
        nginx_outage = list(through_nginx)
        postgres.start()
        up_at = time.monotonic()
        for replica in cluster.replicas:
            wait_until(lambda replica=replica: seen[replica.name][-1].status == 200
                       and timed("GET", replica.url + "/readyz").status == 200,
                       timeout=RECOVERY_SECONDS, what=f"replica {replica.name} serving again")
        recovered = time.monotonic() - up_at

    for name, outcomes in outage.items():
        statuses = collections.Counter(o.status for o in outcomes)
        # Before it noticed, a replica may still have answered a request or two.
        assert set(statuses) <= {200, 503}, (name, statuses, [o.error for o in outcomes if o.error])
        assert all(o.retry_after for o in outcomes if o.status == 503), name
        assert max(o.seconds for o in outcomes) < REQUEST_TIMEOUT / 2, (name, max(o.seconds for o in outcomes))
    nginx_statuses = collections.Counter(o.status for o in nginx_outage)
    # nginx passes a replica's 503 on, with its cause and Retry-After: never a 500, a 502 or a hang.
    assert set(nginx_statuses) <= {200, 503}, nginx_statuses
    assert {replica.name: replica.daemon.proc.pid for replica in cluster.replicas} == pids  # no restart
    assert all(replica.running for replica in cluster.replicas)
    per_replica = {name: dict(collections.Counter(o.status for o in outcomes)) for name, outcomes in outage.items()}
    print(f"PostgreSQL {how}: 503 from every replica within {noticed:.2f} s; served again {recovered:.2f} s after "
          f"it was back; during the outage: {per_replica}, through nginx {dict(nginx_statuses)}")
