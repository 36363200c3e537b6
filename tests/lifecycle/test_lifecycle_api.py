"""The management API's side of the credential lifecycle: federation settings per robot
(organization and user robots), rotation with a grace period, and secrets that expire."""

import json

import pytest

from tests.conftest import SERVICE
from tests.lifecycle.conftest import basic

PASSWORD = "correct horse battery staple"
GITHUB = "https://token.actions.githubusercontent.com"
MAIN = "repo:acme/app:ref:refs/heads/main"
ORG_ROBOT = "/api/v1/organization/acme/robots/ci"
USER_ROBOT = "/api/v1/user/robots/ci"
QUAY_ERROR_KEYS = {"detail", "error_message", "error_type", "title", "type", "status"}


@pytest.fixture
def people(store):
    """``acme`` with alice (admin) and bob (member); carol has her own namespace. Returns tokens."""
    tokens = {}
    for name in ("alice", "bob", "carol"):
        store.create_user(name, PASSWORD)
        tokens[name] = store.create_api_token(name).token
    store.create_organization("acme", admin="alice")
    store.set_member("acme", "bob", "member")
    return tokens


async def call(client, method, path, token=None, body=None, params=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if body is not None:
        data = json.dumps(body)
        headers["Content-Type"] = "application/json"
    async with client.request(method, path, data=data, headers=headers, params=params) as response:
        raw = await response.read()
        return response.status, (json.loads(raw) if raw else None)


def assert_quay_error(status, body, expected_status, fragment=""):
    assert status == expected_status, body
    assert set(body) == QUAY_ERROR_KEYS, body
    assert fragment in body["detail"], body


async def make_robot(client, token, path=ORG_ROBOT, body=None):
    status, created = await call(client, "PUT", path, token, body)
    assert status == 201, created
    return created


# -- federation settings ------------------------------------------------------------------


@pytest.mark.parametrize("path", [ORG_ROBOT, USER_ROBOT])
async def test_federation_roundtrip(client, store, people, path):
    token = people["alice"]
    await make_robot(client, token, path)
    setting = [{"issuer": GITHUB, "subject": MAIN, "audience": "https://github.com/acme"},
               {"issuer": "https://gitlab.com", "subject": "project_path:acme/app:ref_type:branch:ref:main"}]
    assert await call(client, "GET", path + "/federation", token) == (200, [])
    status, body = await call(client, "POST", path + "/federation", token, setting)
    assert status == 200, body
    assert body == [setting[0], {**setting[1], "audience": None}]
    assert await call(client, "GET", path + "/federation", token) == (200, body)
    assert await call(client, "DELETE", path + "/federation", token) == (204, None)
    assert await call(client, "GET", path + "/federation", token) == (200, [])


async def test_federation_changes_are_audited(client, store, people):
    await make_robot(client, people["alice"])
    await call(client, "POST", ORG_ROBOT + "/federation", people["alice"], [{"issuer": GITHUB, "subject": MAIN}])
    await call(client, "DELETE", ORG_ROBOT + "/federation", people["alice"])
    events, _ = store.list_events("acme", start=0, end=float("inf"),
                                  kinds=["create_robot_federation", "delete_robot_federation"])
    deleted, created = events
    assert created.kind == "create_robot_federation" and created.performer == "alice"
    assert created.metadata == {"robot": "ci", "config": [{"issuer": GITHUB, "subject": MAIN, "audience": None}]}
    assert deleted.kind == "delete_robot_federation" and deleted.metadata["config"] == created.metadata["config"]


@pytest.mark.parametrize("body,fragment", [
    ({"issuer": GITHUB, "subject": MAIN}, "JSON list"),
    ([{"issuer": GITHUB}], "issuer and subject are both required"),
    ([{"subject": MAIN}], "issuer and subject are both required"),
    ([{"issuer": "http://ci.example.com", "subject": MAIN}], "must use https"),
    ([{"issuer": "not a url", "subject": MAIN}], "https URL"),
    ([{"issuer": GITHUB, "subject": MAIN}, {"issuer": GITHUB, "subject": MAIN}], "duplicate"),
    ([{"issuer": GITHUB, "subject": MAIN, "extra": 1}], "unknown key"),
    ("[", "not valid JSON"),
])
async def test_federation_bad_bodies(client, people, body, fragment):
    await make_robot(client, people["alice"])
    if body == "[":
        async with client.post(ORG_ROBOT + "/federation", data="[",
                               headers={"Authorization": f"Bearer {people['alice']}"}) as response:
            status, reply = response.status, await response.json()
    else:
        status, reply = await call(client, "POST", ORG_ROBOT + "/federation", people["alice"], body)
    assert_quay_error(status, reply, 400, fragment)


async def test_federation_needs_an_admin(client, people):
    await make_robot(client, people["alice"])
    for method in ("GET", "POST", "DELETE"):
        body = [{"issuer": GITHUB, "subject": MAIN}] if method == "POST" else None
        status, reply = await call(client, method, ORG_ROBOT + "/federation", people["bob"], body)
        assert_quay_error(status, reply, 403)
        status, reply = await call(client, method, ORG_ROBOT + "/federation", None, body)
        assert_quay_error(status, reply, 401)


async def test_federation_of_a_missing_robot(client, people):
    for method in ("GET", "POST", "DELETE"):
        body = [{"issuer": GITHUB, "subject": MAIN}] if method == "POST" else None
        status, reply = await call(client, method, "/api/v1/organization/acme/robots/ghost/federation", people["alice"], body)
        assert_quay_error(status, reply, 404)


async def test_federation_deleted_through_the_api_stops_the_credential(client, store, people, issuer, clock):
    await make_robot(client, people["alice"])
    await call(client, "POST", ORG_ROBOT + "/federation", people["alice"], [{"issuer": issuer.url, "subject": MAIN}])
    token = issuer.mint(now=clock.now, subject=MAIN)
    async with client.get("/oauth2/federation/robot/token", headers=basic("acme+ci", token)) as response:
        assert response.status == 200
        credential = (await response.json())["token"]
    params = {"service": SERVICE}
    async with client.get("/token", params=params, headers=basic("acme+ci", credential)) as response:
        assert response.status == 200
    await call(client, "DELETE", ORG_ROBOT + "/federation", people["alice"])
    async with client.get("/token", params=params, headers=basic("acme+ci", credential)) as response:
        assert response.status == 401


# -- rotation and expiry --------------------------------------------------------------------


async def login(client, name, secret):
    async with client.get("/token", params={"service": SERVICE}, headers=basic(name, secret)) as response:
        return response.status, await response.json()


async def test_regenerate_with_grace(client, people, clock):
    created = await make_robot(client, people["alice"])
    status, regenerated = await call(client, "POST", ORG_ROBOT + "/regenerate", people["alice"],
                                     params={"grace_seconds": "600"})
    assert status == 200, regenerated
    assert regenerated["token"] != created["token"]
    status, shown = await call(client, "GET", ORG_ROBOT, people["alice"])
    assert status == 200
    assert [s["current"] for s in shown["secrets"]] == [True, False]
    assert shown["secrets"][0]["expiration"] is None
    assert shown["secrets"][1]["expiration"].endswith("-0000") and shown["secrets"][1]["created"]
    assert [s["last_used"] for s in shown["secrets"]] == [None, None]
    assert (await login(client, "acme+ci", created["token"]))[0] == 200
    status, shown = await call(client, "GET", ORG_ROBOT, people["alice"])
    # The old secret is still in use somewhere: the admin can see it before the window ends.
    assert shown["secrets"][0]["last_used"] is None and shown["secrets"][1]["last_used"].endswith("-0000")
    assert (await login(client, "acme+ci", regenerated["token"]))[0] == 200
    clock.advance(600)
    assert (await login(client, "acme+ci", created["token"]))[0] == 401
    assert (await login(client, "acme+ci", regenerated["token"]))[0] == 200
    status, shown = await call(client, "GET", ORG_ROBOT, people["alice"])
    assert len(shown["secrets"]) == 1


async def test_regenerate_default_is_at_once(client, people):
    created = await make_robot(client, people["alice"])
    await call(client, "POST", ORG_ROBOT + "/regenerate", people["alice"])
    assert (await login(client, "acme+ci", created["token"]))[0] == 401


@pytest.mark.parametrize("grace", ["-1", "abc", "2592001", "1.5"])
async def test_regenerate_bad_grace(client, people, grace):
    created = await make_robot(client, people["alice"])
    status, reply = await call(client, "POST", ORG_ROBOT + "/regenerate", people["alice"], params={"grace_seconds": grace})
    assert_quay_error(status, reply, 400, "grace_seconds")
    assert (await login(client, "acme+ci", created["token"]))[0] == 200


async def test_create_with_expiration(client, people, clock):
    created = await make_robot(client, people["alice"], body={"expiration": int(clock.now) + 3600})
    status, shown = await call(client, "GET", ORG_ROBOT, people["alice"])
    assert shown["secrets"][0]["expiration"] is not None
    assert (await login(client, "acme+ci", created["token"]))[0] == 200
    clock.advance(3600)
    status, body = await login(client, "acme+ci", created["token"])
    assert status == 401 and "expired" in body["details"]


async def test_regenerate_with_expiration(client, people, clock):
    await make_robot(client, people["alice"])
    status, regenerated = await call(client, "POST", ORG_ROBOT + "/regenerate", people["alice"],
                                     body={"expiration": "2099-01-01T00:00:00Z"})
    assert status == 200, regenerated
    status, shown = await call(client, "GET", ORG_ROBOT, people["alice"])
    assert shown["secrets"][0]["expiration"] == "Thu, 01 Jan 2099 00:00:00 -0000"


@pytest.mark.parametrize("expiration,fragment", [
    ("soon", "expiration"), (True, "expiration"), ({"at": 1}, "expiration"), (1000, "in the future"),
])
async def test_bad_expiration(client, people, expiration, fragment):
    status, reply = await call(client, "PUT", ORG_ROBOT, people["alice"], {"expiration": expiration})
    assert_quay_error(status, reply, 400, fragment)
    status, reply = await call(client, "GET", ORG_ROBOT, people["alice"])
    assert status == 404  # nothing was created
