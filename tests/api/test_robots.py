"""Robot endpoints under /api/v1/organization/{orgname}/robots and /api/v1/user/robots."""

import json
import re

import pytest

from tests.api.conftest import QUAY_ROBOT_KEYS, assert_error, granted

RFC2822 = re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} -0000")
SECRET = re.compile(r"[A-Z0-9]{64}")


@pytest.fixture(params=["organization", "user"])
def robots(request, acme, alice):
    """(base path, namespace) of alice's robots: acme's, or her own."""
    if request.param == "organization":
        return "/api/v1/organization/acme/robots", "acme"
    return "/api/v1/user/robots", "alice"


# -- create -------------------------------------------------------------------------------


async def test_create_answers_201_with_the_quay_robot_and_its_token(api, robots, alice):
    base, ns = robots
    body = {"description": "CI pusher", "unstructured_metadata": {"team": "build", "n": [1, 2]}}
    reply = await api.put(f"{base}/ci", alice, json_body=body)
    assert reply.status == 201
    assert set(reply.body) == QUAY_ROBOT_KEYS | {"unstructured_metadata"}
    assert reply.body["name"] == f"{ns}+ci"
    assert RFC2822.fullmatch(reply.body["created"])
    assert reply.body["last_accessed"] is None
    assert reply.body["description"] == "CI pusher"
    assert reply.body["unstructured_metadata"] == {"team": "build", "n": [1, 2]}
    assert SECRET.fullmatch(reply.body["token"])


@pytest.mark.parametrize("raw", [None, b"", b"null", b"{}"])
async def test_create_takes_no_body_or_an_empty_one(api, robots, alice, raw):
    base, _ = robots
    reply = await api.call("PUT", f"{base}/ci", alice, data=raw)
    assert reply.status == 201, reply
    assert reply.body["description"] == "" and reply.body["unstructured_metadata"] == {}


async def test_create_of_an_existing_robot_is_a_400_as_in_quay(api, robots, alice):
    base, _ = robots
    assert (await api.put(f"{base}/ci", alice)).status == 201
    reply = await api.put(f"{base}/ci", alice, json_body={"description": "again"})
    assert_error(reply, 400, "invalid_request")
    assert "already exists" in reply.body["detail"]


@pytest.mark.parametrize("body", [
    {"description": "x" * 256},
    {"description": 5},
    {"description": None},
    {"description": ["a"]},
    {"unstructured_metadata": []},
    {"unstructured_metadata": "text"},
    {"unstructured_metadata": 1},
    [],
    "robot",
    42,
])
async def test_create_refuses_wrong_json_types_and_sizes(api, robots, alice, body):
    base, _ = robots
    assert_error(await api.put(f"{base}/ci", alice, json_body=body), 400, "invalid_request")
    assert_error(await api.get(f"{base}/ci", alice), 404, "not_found")


async def test_a_description_of_255_characters_is_accepted(api, robots, alice):
    base, _ = robots
    assert (await api.put(f"{base}/ci", alice, json_body={"description": "é" * 255})).status == 201


@pytest.mark.parametrize("shortname", ["x", "UPPER", "a--b", "a_", "-a", "a" * 256, "a%20b", "a+b", "caf%C3%A9"])
async def test_bad_robot_names_are_400(api, robots, alice, shortname):
    base, _ = robots
    assert_error(await api.put(f"{base}/{shortname}", alice), 400, "invalid_request")
    assert_error(await api.get(f"{base}/{shortname}", alice), 400, "invalid_request")


async def test_a_bad_organization_name_is_400(api, alice):
    assert_error(await api.get("/api/v1/organization/Bad..Name/robots", alice), 400, "invalid_request")


# -- read -----------------------------------------------------------------------------------


async def test_get_shows_the_robot_without_its_secret(api, robots, alice):
    base, ns = robots
    created = await api.put(f"{base}/ci", alice, json_body={"description": "d", "unstructured_metadata": {"k": "v"}})
    reply = await api.get(f"{base}/ci", alice)
    assert reply.status == 200
    quay_keys = ("name", "created", "last_accessed", "description", "unstructured_metadata")
    assert {key: reply.body[key] for key in quay_keys} == {
        "name": f"{ns}+ci", "created": created.body["created"], "last_accessed": None,
        "description": "d", "unstructured_metadata": {"k": "v"},
    }
    assert "token" not in reply.body
    assert created.body["token"] not in json.dumps(reply.body)


async def test_unknown_robot_is_404(api, robots, alice):
    base, _ = robots
    for reply in (
        await api.get(f"{base}/ghost", alice),
        await api.delete(f"{base}/ghost", alice),
        await api.post(f"{base}/ghost/regenerate", alice),
        await api.get(f"{base}/ghost/permissions", alice),
    ):
        assert_error(reply, 404, "not_found")


async def test_list_shows_robots_without_secrets(api, robots, alice):
    base, ns = robots
    secrets = [(await api.put(f"{base}/{name}", alice)).body["token"] for name in ("build", "deploy")]
    reply = await api.get(base, alice)
    assert reply.status == 200
    assert [robot["name"] for robot in reply.body["robots"]] == [f"{ns}+build", f"{ns}+deploy"]
    assert all(set(robot) == {"name", "created", "last_accessed", "description", "enabled"} for robot in reply.body["robots"])
    assert not any(secret in json.dumps(reply.body) for secret in secrets)


async def test_list_with_permissions_adds_teams_and_repositories(api, store, robots, alice):
    base, ns = robots
    await api.put(f"{base}/build", alice)
    await api.put(f"{base}/idle", alice)
    store.create_repository(f"{ns}/app")
    store.create_repository(f"{ns}/web")
    store.grant(f"{ns}+build", f"{ns}/web", "read")
    store.grant(f"{ns}+build", f"{ns}/app", "write")
    reply = await api.get(f"{base}?permissions=true", alice)
    entries = {robot["name"]: robot for robot in reply.body["robots"]}
    assert entries[f"{ns}+build"]["repositories"] == ["app", "web"]
    assert entries[f"{ns}+build"]["teams"] == []
    assert entries[f"{ns}+idle"]["repositories"] == []


async def test_list_limit(api, robots, alice):
    base, _ = robots
    for name in ("r1", "r2", "r3"):
        await api.put(f"{base}/{name}", alice)
    assert len((await api.get(f"{base}?limit=2", alice)).body["robots"]) == 2
    assert len((await api.get(f"{base}?limit=0", alice)).body["robots"]) == 0


@pytest.mark.parametrize("query", ["limit=-1", "limit=abc", "limit=1.5", "limit=" + "9" * 5000, "permissions=maybe"])
async def test_bad_list_parameters_are_400(api, robots, alice, query):
    base, _ = robots
    assert_error(await api.get(f"{base}?{query}", alice), 400, "invalid_request")


async def test_last_accessed_shows_a_login(api, robots, alice, clock):
    base, ns = robots
    secret = (await api.put(f"{base}/ci", alice)).body["token"]
    clock.advance(5)
    assert (await api.token(f"{ns}+ci", secret)).status == 200
    reply = await api.get(f"{base}/ci", alice)
    assert RFC2822.fullmatch(reply.body["last_accessed"])


# -- regenerate and delete ---------------------------------------------------------------


async def test_regenerate_answers_exactly_quays_keys_and_replaces_the_secret(api, robots, alice):
    base, ns = robots
    old = (await api.put(f"{base}/ci", alice, json_body={"description": "d"})).body["token"]
    assert (await api.token(f"{ns}+ci", old)).status == 200
    reply = await api.post(f"{base}/ci/regenerate", alice)
    assert reply.status == 200
    assert set(reply.body) == QUAY_ROBOT_KEYS
    assert reply.body["name"] == f"{ns}+ci" and reply.body["description"] == "d"
    new = reply.body["token"]
    assert SECRET.fullmatch(new) and new != old
    # The old secret is refused from the very next token request on, even though it was
    # just verified (and is remembered by the credential cache).
    refused = await api.token(f"{ns}+ci", old)
    assert refused.status == 401
    assert (await api.token(f"{ns}+ci", new)).status == 200


async def test_delete_stops_the_robot_at_once(api, store, robots, alice):
    base, ns = robots
    secret = (await api.put(f"{base}/ci", alice)).body["token"]
    store.create_repository(f"{ns}/app")
    store.grant(f"{ns}+ci", f"{ns}/app", "write")
    assert granted(await api.token(f"{ns}+ci", secret, f"repository:{ns}/app:push")) == {f"{ns}/app": ["push"]}
    reply = await api.delete(f"{base}/ci", alice)
    assert reply.status == 204 and reply.body is None
    assert (await api.token(f"{ns}+ci", secret, f"repository:{ns}/app:push")).status == 401
    assert_error(await api.get(f"{base}/ci", alice), 404, "not_found")
    # A new robot of the same name inherits neither the secret nor the grant.
    fresh = (await api.put(f"{base}/ci", alice)).body["token"]
    assert (await api.token(f"{ns}+ci", secret)).status == 401
    assert granted(await api.token(f"{ns}+ci", fresh, f"repository:{ns}/app:push")) == {f"{ns}/app": []}


async def test_robot_permissions_lists_repository_and_namespace_roles(api, store, robots, alice):
    base, ns = robots
    await api.put(f"{base}/ci", alice)
    store.create_repository(f"{ns}/app")
    store.create_repository(f"{ns}/site", "public")
    store.grant(f"{ns}+ci", f"{ns}/app", "write")
    store.grant(f"{ns}+ci", f"{ns}/site", "read")
    reply = await api.get(f"{base}/ci/permissions", alice)
    assert reply.status == 200
    assert reply.body == {
        "permissions": [
            {"repository": {"name": "app", "is_public": False}, "role": "write"},
            {"repository": {"name": "site", "is_public": True}, "role": "read"},
        ],
        "namespace_permission": None,
    }
    store.grant(f"{ns}+ci", ns, "read")
    reply = await api.get(f"{base}/ci/permissions", alice)
    assert reply.body["namespace_permission"] == {"namespace": ns, "role": "read"}


async def test_secrets_appear_only_in_create_and_regenerate(api, robots, alice):
    base, ns = robots
    secrets = [(await api.put(f"{base}/ci", alice)).body["token"]]
    secrets.append((await api.post(f"{base}/ci/regenerate", alice)).body["token"])
    await api.token(f"{ns}+ci", secrets[0])
    await api.token(f"{ns}+ci", secrets[1])
    logs_path = "/api/v1/organization/acme/logs" if ns == "acme" else "/api/v1/user/logs"
    for path in (base, f"{base}?permissions=true", f"{base}/ci", f"{base}/ci/permissions", logs_path):
        text = json.dumps((await api.get(path, alice)).body)
        assert not any(secret in text for secret in secrets), path


# -- who may do what ---------------------------------------------------------------------

ORG = "/api/v1/organization/acme/robots"
ADMIN_ONLY = [
    ("GET", f"{ORG}/ci"),
    ("PUT", f"{ORG}/other"),
    ("DELETE", f"{ORG}/ci"),
    ("POST", f"{ORG}/ci/regenerate"),
    ("GET", f"{ORG}/ci/permissions"),
]


@pytest.fixture
async def acme_robot(api, alice, acme):
    return (await api.put(f"{ORG}/ci", alice)).body["token"]


@pytest.mark.parametrize(("method", "path"), ADMIN_ONLY)
async def test_members_may_not_manage_robots(api, bob, acme_robot, method, path):
    assert_error(await api.call(method, path, bob), 403, "insufficient_scope")


@pytest.mark.parametrize(("method", "path"), ADMIN_ONLY + [("GET", ORG)])
async def test_outsiders_may_do_nothing(api, mallory, acme_robot, method, path):
    assert_error(await api.call(method, path, mallory), 403, "insufficient_scope")


async def test_members_list_robots_but_never_permissions_or_secrets(api, store, bob, acme_robot):
    store.create_repository("acme/app")
    store.grant("acme+ci", "acme/app", "read")
    reply = await api.get(f"{ORG}?permissions=true", bob)
    assert reply.status == 200
    assert reply.body["robots"] == [
        {"name": "acme+ci", "created": reply.body["robots"][0]["created"], "last_accessed": None, "description": "",
         "enabled": True}
    ]
    assert acme_robot not in json.dumps(reply.body)


@pytest.mark.parametrize(("method", "path"), ADMIN_ONLY + [("GET", ORG)])
async def test_superusers_manage_every_organizations_robots(api, root, acme_robot, method, path):
    reply = await api.call(method, path, root)
    assert reply.status in (200, 201, 204), reply


async def test_an_unknown_organization_is_403_to_users_and_404_to_superusers(api, mallory, root):
    assert_error(await api.get("/api/v1/organization/nowhere/robots", mallory), 403, "insufficient_scope")
    assert_error(await api.get("/api/v1/organization/nowhere/robots", root), 404, "not_found")
    assert_error(await api.put("/api/v1/organization/nowhere/robots/ci", root), 404, "not_found")


async def test_a_users_namespace_is_not_an_organization(api, alice, root):
    assert_error(await api.get("/api/v1/organization/alice/robots", alice), 404, "not_found")
    assert_error(await api.get("/api/v1/organization/alice/robots", root), 404, "not_found")


async def test_user_robots_are_the_callers_own(api, alice, bob):
    created = await api.put("/api/v1/user/robots/ci", bob)
    assert created.body["name"] == "bob+ci"
    assert [r["name"] for r in (await api.get("/api/v1/user/robots", alice)).body["robots"]] == []
    assert_error(await api.get("/api/v1/user/robots/ci", alice), 404, "not_found")


async def test_a_users_robot_does_not_inherit_its_owners_rights(api, store, alice, acme):
    store.create_repository("acme/app")
    secret = (await api.put("/api/v1/user/robots/ci", alice)).body["token"]
    assert granted(await api.token("alice+ci", secret, "repository:acme/app:pull")) == {"acme/app": []}
