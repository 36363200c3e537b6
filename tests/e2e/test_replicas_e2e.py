"""Three replicas of regauth on one PostgreSQL database behind nginx (the shipped nginx.conf
with its replicas upstream), with Debian's registry and skopeo, podman and docker.

Whatever one replica changes, the others act on at their very next request: each replica is
asked directly (not through nginx) so that the test knows which one answered.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

from api_helpers import PASSWORD, ApiUser, api, create_user
from e2e_clients import Client
from e2e_stack import REPO_ROOT, Robot, regauth_env
from e2e_support import child_env, http_get, run, wait_until
from replicas import Browser, ReplicaStack, csrf_token, granted, replica_stack, token_request
from tokenstore.postgres.store import COLLECTOR_LOCK_KEY

DATABASE = "regauth_replicas_e2e"
# How long one replica's collector may wait for the table the test holds (its lock timeout
# is 10 s) while another replica's collector is started and returns.
GC_HOLD_TIMEOUT = 8.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, postgres_server) -> Iterator[ReplicaStack]:
    """PostgreSQL (the session's server, a database of this module's own), replicas a, b
    and c, nginx and the registry, for the whole module."""
    postgres_server.drop_database(DATABASE)
    url = postgres_server.create_database(DATABASE)
    try:
        with replica_stack(tmp_path_factory.mktemp("replicas"), url) as made:
            yield made
    finally:
        postgres_server.drop_database(DATABASE)


@pytest.fixture(autouse=True)
def logs_on_failure(request, cluster: ReplicaStack):
    """Print the end of each replica's log after a test that failed."""
    failed = request.session.testsfailed
    yield
    if request.session.testsfailed > failed:
        print(cluster.log_tails())


@pytest.fixture(scope="module")
def admin(cluster: ReplicaStack) -> ApiUser:
    """A superuser with an API token (its password is api_helpers.PASSWORD)."""
    return create_user(cluster.cli, "replicas-admin", superuser=True)


@pytest.fixture(scope="module")
def jwks(cluster: ReplicaStack) -> dict:
    return json.loads(http_get(f"{cluster.replicas[0].url}/.well-known/jwks.json").body)


@pytest.fixture
def a(cluster):
    return cluster.by_name("a")


@pytest.fixture
def b(cluster):
    return cluster.by_name("b")


@pytest.fixture
def c(cluster):
    return cluster.by_name("c")


@pytest.fixture
def org(cluster: ReplicaStack, admin: ApiUser, unique: Callable[[str], str]) -> str:
    """A fresh organization, made through replica a."""
    name = unique("org")
    assert api(cluster.replicas[0].url, "POST", "/api/v1/organization/", admin, {"name": name}) == (201, "Created")
    return name


def create_robot(base_url: str, admin: ApiUser, org: str, short: str, *grants: tuple[str, str]) -> Robot:
    """Create ``org+short`` through the API at ``base_url``, each (repository, role) of
    ``grants`` with its repository; return the robot with its secret."""
    status, body = api(base_url, "PUT", f"/api/v1/organization/{org}/robots/{short}", admin, {})
    assert status == 201, body
    robot = Robot(f"{org}+{short}", body["token"])
    for repository, role in grants:
        status, body = api(base_url, "POST", "/api/v1/repository", admin,
                           {"namespace": org, "repository": repository, "visibility": "private", "description": ""})
        assert status == 201, body
        status, body = api(base_url, "PUT", f"/api/v1/repository/{org}/{repository}/permissions/user/{robot.name}",
                           admin, {"role": role})
        assert status == 200, body
    return robot


def test_every_replica_serves_the_one_key_and_is_ready(cluster: ReplicaStack, jwks):
    for replica in cluster.replicas:
        assert json.loads(http_get(f"{replica.url}/.well-known/jwks.json").body) == jwks, replica.name
        assert json.loads((replica.data_dir / "jwks.json").read_text()) == jwks, replica.name
        for probe in ("/livez", "/readyz"):
            assert http_get(replica.url + probe).status == 200, (replica.name, probe)


def test_nginx_spreads_token_requests_over_the_three_replicas(cluster, admin, org, jwks):
    robot = create_robot(cluster.replicas[0].url, admin, org, "spread", ("app", "read"))
    for _ in range(12):
        reply = token_request(cluster.url, robot, f"repository:{org}/app:pull")
        assert granted(reply, jwks) == {f"{org}/app": ["pull"]}

    def served() -> dict[str, int]:
        return {
            replica.name: sum(1 for line in replica.log_path.read_text(errors="replace").splitlines()
                              if '"GET /token?' in line and org in line)
            for replica in cluster.replicas
        }

    # A replica writes its access line just after the reply: wait for the last ones.
    with contextlib.suppress(TimeoutError):
        wait_until(lambda: sum(served().values()) == 12, timeout=5, what="the access log lines")
    assert all(served().values()) and sum(served().values()) == 12, served()


@pytest.mark.parametrize("client_name", ["skopeo", "podman", "docker"])
def test_a_robot_made_on_a_logs_in_on_b_and_pushes_and_pulls_through_nginx(
    cluster, admin, org, a, b, jwks, new_client: Callable[[str], Client], client_name
):
    robot = create_robot(a.url, admin, org, "ci", ("app", "write"))
    # The login a client sends (no scope), and a push's scopes, answered by b.
    assert token_request(b.url, robot).status == 200
    assert granted(token_request(b.url, robot, f"repository:{org}/app:pull,push"), jwks) == {
        f"{org}/app": ["pull", "push"]}
    client = new_client(client_name)
    logged_in = client.login(cluster.host, robot.name, robot.secret)
    assert logged_in.ok, logged_in
    ref = cluster.ref(f"{org}/app")
    pushed = client.push(ref)
    assert pushed.ok, pushed
    pulled = client.pull(ref)
    assert pulled.ok, pulled


def test_a_regenerate_on_a_is_refused_on_b_and_c_at_the_next_request(cluster, admin, org, a, b, c, jwks):
    robot = create_robot(a.url, admin, org, "rotated", ("app", "read"))
    scope = f"repository:{org}/app:pull"
    for replica in (b, c):  # each now holds the verified secret in its credential cache
        assert granted(token_request(replica.url, robot, scope), jwks) == {f"{org}/app": ["pull"]}, replica.name
    status, body = api(a.url, "POST", f"/api/v1/organization/{org}/robots/rotated/regenerate", admin)
    assert status == 200, body
    for replica in (b, c):
        refused = token_request(replica.url, robot, scope)
        assert refused.status == 401, (replica.name, refused.status, refused.body[:300])
        assert "token" not in json.loads(refused.body)
        renewed = token_request(replica.url, robot, scope, secret=body["token"])
        assert granted(renewed, jwks) == {f"{org}/app": ["pull"]}, replica.name


def test_a_delete_on_a_is_refused_on_b_and_c_at_the_next_request(cluster, admin, org, a, b, c, jwks):
    robot = create_robot(a.url, admin, org, "doomed", ("app", "read"))
    scope = f"repository:{org}/app:pull"
    for replica in (b, c):
        assert token_request(replica.url, robot, scope).status == 200, replica.name
    assert api(a.url, "DELETE", f"/api/v1/organization/{org}/robots/doomed", admin) == (204, None)
    for replica in (b, c):
        refused = token_request(replica.url, robot, scope)
        assert refused.status == 401, (replica.name, refused.status, refused.body[:300])


def test_a_grant_revoked_on_b_is_absent_from_cs_next_token(cluster, admin, org, a, b, c, jwks):
    robot = create_robot(a.url, admin, org, "granted", ("app", "write"), ("other", "read"))
    scopes = (f"repository:{org}/app:pull,push", f"repository:{org}/other:pull")
    assert granted(token_request(c.url, robot, *scopes), jwks) == {
        f"{org}/app": ["pull", "push"], f"{org}/other": ["pull"]}
    revoked = api(b.url, "DELETE", f"/api/v1/repository/{org}/app/permissions/user/{robot.name}", admin)
    assert revoked == (204, None)
    assert granted(token_request(c.url, robot, *scopes), jwks) == {f"{org}/app": [], f"{org}/other": ["pull"]}


def test_a_ui_session_from_a_works_on_b_and_c_with_as_csrf_token(cluster, admin, org, a, b, c):
    robot = create_robot(a.url, admin, org, "webbed", ("app", "read"))
    browser = Browser()
    form = browser.request(a.url, "GET", "/signin")
    assert form.status == 200
    signed_in = browser.request(a.url, "POST", "/signin", {
        "username": admin.name, "password": PASSWORD, "csrf_token": csrf_token(form.body)})
    assert signed_in.status == 303 and "regauth_session" in browser.cookies, signed_in.body[:300]

    listing = browser.request(b.url, "GET", "/organizations")
    assert listing.status == 200 and org.encode() in listing.body
    page = browser.request(a.url, "GET", f"/organization/{org}/robots/webbed")
    assert page.status == 200
    issued_by_a = csrf_token(page.body)

    path = f"/organization/{org}/robots/webbed/permissions"
    forged = browser.request(c.url, "POST", path, {"repository": "app", "role": "admin", "csrf_token": "x" * 43})
    assert forged.status == 403  # c checks the token: it is not just taking any
    changed = browser.request(c.url, "POST", path, {"repository": "app", "role": "admin", "csrf_token": issued_by_a})
    assert changed.status == 303, changed.body[:300]
    status, body = api(b.url, "GET", f"/api/v1/repository/{org}/app/permissions/user/{robot.name}", admin)
    assert (status, body["role"]) == (200, "admin")

    # Signing out on b ends the session on a too: it lives in the database, not in a replica.
    session = browser.cookies["regauth_session"]
    assert browser.request(b.url, "POST", "/signout", {"csrf_token": issued_by_a}).status == 303
    browser.cookies["regauth_session"] = session  # a copy of the cookie kept elsewhere
    after = browser.request(a.url, "GET", "/organizations")
    assert after.status == 303 and after.headers["Location"].startswith("/signin"), after.status


def test_two_replicas_collecting_at_once_take_turns(cluster, admin, org, a, b):
    for short in ("gone1", "gone2", "gone3"):
        create_robot(a.url, admin, org, short)
        assert api(b.url, "DELETE", f"/api/v1/organization/{org}/robots/{short}", admin) == (204, None)
    # a's run is held up once under way: after taking the collector's lock, it reads where the
    # audit log's old rows end, outside any transaction, and the test holds the audit log
    # (ACCESS EXCLUSIVE) until b's run has come and gone. Nothing holds the write lock, so b
    # opens the store as usual.
    with psycopg.connect(cluster.database_url, autocommit=True) as holder, \
            psycopg.connect(cluster.database_url, autocommit=True) as watcher:
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE audit_log IN ACCESS EXCLUSIVE MODE")
        first = subprocess.Popen(a.cli.argv("gc"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=child_env(regauth_env()), cwd=REPO_ROOT)
        try:
            deadline = time.monotonic() + GC_HOLD_TIMEOUT
            while not _holds_collector_lock(watcher):
                assert first.poll() is None, first.communicate()
                assert time.monotonic() < deadline, "replica a's collector never took its lock"
                time.sleep(0.05)
            started = time.monotonic()
            second = run(b.cli.argv("gc"), env=regauth_env(), cwd=REPO_ROOT, timeout=GC_HOLD_TIMEOUT)
            took = time.monotonic() - started
            assert second.ok, second
            assert json.loads(second.stdout) == {"removed": {}}
            assert first.poll() is None, "a's run was not under way while b's ran"
        finally:
            holder.execute("COMMIT")
        out, err = first.communicate(timeout=30)
    assert first.returncode == 0, err
    assert json.loads(out)["removed"].get("robots", 0) >= 3, out
    print(f"b's collector returned {{}} in {took:.2f} s (its process start included) while a's ran")


def _holds_collector_lock(conn) -> bool:
    """Whether some session holds the collector's advisory lock (a bigint key: its high and
    low 32 bits are pg_locks' classid and objid)."""
    (count,) = conn.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
        " AND (classid::bigint << 32 | objid::bigint) = %s", [COLLECTOR_LOCK_KEY],
    ).fetchone()
    return count > 0
