"""People logging in at /token with an app token (user name ``$app`` or their own), and what
their token grants: their own namespace, an organization they administer, their teams' grants,
nothing more."""

import base64

import jwt
import pytest

from gateway.app import create_app
from gateway.token import keys
from tests.api.conftest import granted
from tests.conftest import SERVICE, make_config
from tests.unit.test_hot_path_queries import scans, statements
from tokenstore import RepositoryNotFound, Resource

FORWARDED = "203.0.113.40"


@pytest.fixture
def acme_repos(store, acme):
    """acme/app private, acme/web public; alice admin of acme, bob a plain member."""
    store.create_repository("acme/app")
    store.create_repository("acme/web", "public")
    return acme


@pytest.fixture
def alice_token(store, alice) -> str:
    return store.create_app_token("alice", "laptop").token


def refusal(reply) -> tuple:
    """The parts of a 401 that must not tell a person's refusal from a robot's."""
    return reply.status, reply.body["errors"], reply.headers["WWW-Authenticate"]


@pytest.mark.parametrize("username", ["$app", "alice"])
async def test_an_org_admin_pulls_and_pushes_with_an_app_token(api, acme_repos, alice_token, username):
    reply = await api.token(username, alice_token, "repository:acme/app:pull,push", "repository:acme/web:pull,push")
    assert reply.status == 200, reply
    assert granted(reply) == {"acme/app": ["pull", "push"], "acme/web": ["pull", "push"]}


async def test_the_token_is_signed_for_the_person(api, acme_repos, alice_token):
    reply = await api.token("$app", alice_token, "repository:acme/app:pull")
    assert jwt.decode(reply.body["token"], options={"verify_signature": False})["sub"] == "alice"


async def test_a_user_is_admin_of_their_own_namespace_and_a_push_creates_there(api, store, alice, alice_token):
    reply = await api.token("$app", alice_token, "repository:alice/tools:pull,push,delete")
    assert granted(reply) == {"alice/tools": ["pull", "push", "delete"]}
    assert store.get_repository("alice/tools").visibility == "private"


async def test_an_org_admins_push_creates_a_repository(api, store, acme_repos, alice_token):
    assert granted(await api.token("$app", alice_token, "repository:acme/new:pull,push")) == {"acme/new": ["pull", "push"]}
    assert store.get_repository("acme/new").namespace == "acme"


async def test_a_plain_member_gets_only_what_anyone_gets(api, store, acme_repos, bob):
    token = store.create_app_token("bob", "ci").token
    reply = await api.token("bob", token, "repository:acme/app:pull,push", "repository:acme/web:pull,push",
                            "repository:acme/fresh:pull,push")
    assert reply.status == 200
    assert granted(reply) == {"acme/app": [], "acme/web": ["pull"], "acme/fresh": []}
    with pytest.raises(RepositoryNotFound):
        store.get_repository("acme/fresh")


async def test_a_plain_members_teams_give_their_rights_until_they_leave(api, store, acme_repos, bob):
    token = store.create_app_token("bob", "ci").token
    store.create_team("acme", "readers")
    store.add_team_member("acme", "readers", "bob")
    store.set_team_permission("acme", "readers", "acme/app", "write")
    store.create_team("acme", "makers", "creator")
    store.add_team_member("acme", "makers", "bob")
    reply = await api.token("bob", token, "repository:acme/app:pull,push,delete", "repository:acme/made:pull,push")
    assert granted(reply) == {"acme/app": ["pull", "push"], "acme/made": ["pull", "push"]}
    assert store.get_repository("acme/made").visibility == "private"  # created by the push

    store.remove_team_member("acme", "readers", "bob")
    store.update_team("acme", "makers", role="member")
    reply = await api.token("bob", token, "repository:acme/app:pull,push", "repository:acme/other:pull,push")
    assert granted(reply) == {"acme/app": [], "acme/other": []}

    store.create_team("acme", "owners", "admin")
    store.add_team_member("acme", "owners", "bob")
    reply = await api.token("bob", token, "repository:acme/app:pull,push,delete")
    assert granted(reply) == {"acme/app": ["pull", "push", "delete"]}


async def test_an_outsider_and_a_superuser_get_nothing_in_others_namespaces(api, store, acme_repos, mallory, root):
    for name in ("mallory", "root"):
        token = store.create_app_token(name, "t").token
        reply = await api.token(name, token, "repository:acme/app:pull", "repository:alice/x:pull,push")
        assert granted(reply) == {"acme/app": [], "alice/x": []}


async def test_another_users_name_with_the_token_is_refused(api, acme_repos, bob, alice_token):
    assert (await api.token("bob", alice_token, "repository:acme/app:pull")).status == 401


async def test_a_wrong_token_is_refused_as_a_robots_wrong_secret_is(api, store, acme_repos, alice_token):
    store.create_robot("acme+ci")
    robot = await api.token("acme+ci", "A" * 64)
    for username, password in (("$app", "B" * 120), ("alice", "C" * 120), ("$app", "short"), ("alice", "")):
        assert refusal(await api.token(username, password)) == refusal(robot)


async def test_revocation_is_refused_at_the_next_request(api, store, acme_repos, alice_token):
    assert (await api.token("$app", alice_token, "repository:acme/app:pull")).status == 200
    uuid = store.list_app_tokens("alice")[0].uuid
    store.revoke_app_token(uuid, username="alice")
    assert (await api.token("$app", alice_token, "repository:acme/app:pull")).status == 401


async def test_an_expired_token_is_refused_saying_so(api, store, acme_repos, alice, clock):
    token = store.create_app_token("alice", "short", expires_at=clock() + 60).token
    assert (await api.token("alice", token)).status == 200
    clock.advance(61)
    reply = await api.token("alice", token)
    assert reply.status == 401
    assert "expired" in reply.body["details"] and "short" in reply.body["details"]


async def test_a_deleted_users_token_is_refused(api, store, acme_repos, bob):
    token = store.create_app_token("bob", "t").token
    store.delete_user("bob")
    assert (await api.token("$app", token)).status == 401


async def test_login_without_scope_succeeds_as_docker_login_does(api, client, alice_token):
    # docker login: GET /token?account=$app&client_id=docker&offline_token=true with Basic.
    basic = base64.b64encode(f"$app:{alice_token}".encode()).decode()
    params = {"service": SERVICE, "account": "$app", "client_id": "docker", "offline_token": "true"}
    async with client.get("/token", params=params, headers={"Authorization": f"Basic {basic}"}) as resp:
        body = await resp.json()
    assert resp.status == 200
    # No refresh token: docker keeps the app token and sends it each time, where a
    # revocation is seen.
    assert "refresh_token" not in body and body["token"]


async def test_the_password_grant_takes_an_app_token(client, acme_repos, alice_token):
    form = {"grant_type": "password", "username": "$app", "password": alice_token, "service": SERVICE,
            "scope": "repository:acme/app:pull", "client_id": "containerd", "access_type": "offline"}
    async with client.post("/token", data=form) as resp:
        body = await resp.json()
    assert resp.status == 200 and "refresh_token" not in body
    assert body["scope"] == "repository:acme/app:pull"


async def test_logins_are_audited_in_the_persons_namespace(api, store, acme_repos, alice_token):
    await api.token("$app", alice_token, "repository:acme/app:pull", headers={"User-Agent": "docker/27"})
    await api.token("alice", "D" * 120, headers={"User-Agent": "docker/27"})
    events, _ = store.list_events("alice", start=0, end=1e12, kinds=["login_success", "issue_token", "login_failure"])
    kinds = {e.kind: e for e in events}
    assert len(events) == 3 and set(kinds) == {"login_success", "issue_token", "login_failure"}
    assert all(e.performer == "alice" and e.performer_kind == "user" for e in events)
    assert kinds["login_success"].metadata["app_specific_token_title"] == "laptop"
    assert kinds["login_success"].metadata["kind"] == "app_specific_token"
    assert kinds["issue_token"].metadata["access"] == [{"type": "repository", "name": "acme/app", "actions": ["pull"]}]
    assert kinds["login_failure"].metadata["reason"] == "invalid"
    assert alice_token not in str(events) and "D" * 120 not in str(events)
    # Nothing lands in an organization's log for a login under its name.
    await api.token("acme", "E" * 120)
    assert [e.kind for e in store.list_events("acme", start=0, end=1e12)[0]] == []


async def test_refused_app_tokens_count_against_the_address(aiohttp_client, tmp_path, store, alice_token):
    config = make_config(tmp_path, login_failures_per_address="3/minute")
    keys.generate(config.key_path, config.certificate_path, config.signing_alg)
    client = await aiohttp_client(create_app(config, store=store))

    async def login(password: str):
        basic = base64.b64encode(f"$app:{password}".encode()).decode()
        headers = {"Authorization": f"Basic {basic}", "X-Forwarded-For": FORWARDED}
        async with client.get("/token", params={"service": SERVICE}, headers=headers) as resp:
            return resp.status

    assert [await login("F" * 120) for _ in range(3)] == [401, 401, 401]
    assert await login(alice_token) == 429


@pytest.mark.parametrize("what", ["authenticate", "authorize", "audit"])
def test_an_app_token_requests_statements_use_indexes(store, acme_repos, alice_token, clock, what):
    for index in range(30):  # other people's tokens, so a scan would have rows to read
        store.create_user(f"filler{index}", "correct horse battery")
        store.create_app_token(f"filler{index}", "t")
    clock.advance(3600)  # so that the use is recorded too
    principal = store.authenticate_app_token("$app", alice_token)
    actions = {
        "authenticate": lambda: store.authenticate_app_token("alice", alice_token),
        "authorize": lambda: store.authorize(principal, Resource("repository", "acme/app"), ["pull", "push"]),
        "audit": lambda: store.record_user_login("alice", success=True, scopes=[], access=[]),
    }
    executed = statements(store, actions[what])
    assert executed
    for statement in executed:
        assert scans(store, statement) == [], statement
