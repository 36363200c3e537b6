"""Default permissions: /api/v1/organization/{org}/prototypes in Quay's shapes and status
codes, and the roles they give when a repository is created through the API, the command
line or a push at /token."""

import pytest

from tests.api.conftest import assert_error, granted
from tests.api.test_cli import PASSWORD, cli  # noqa: F401 - the cli fixture
from tokenstore import Store
from tokenstore.errors import PrototypeInvalid

PROTOTYPES = "/api/v1/organization/acme/prototypes"
PULL_PUSH = "pull,push"


@pytest.fixture
def org(store, acme):
    """acme (alice admin, bob member) with robots ``acme+ci`` and ``acme+deploy`` and team
    ``devs`` (role member). Returns the robots' secrets by name."""
    secrets = {name: store.create_robot(name).secret for name in ("acme+ci", "acme+deploy")}
    store.create_team("acme", "devs")
    return secrets


def events(store, kind_prefix="") -> list:
    found, _ = store.list_events("acme", start=0, end=1e12)
    return [event for event in reversed(found) if event.kind.startswith(kind_prefix)]


def robot_role(store, robot: str, repository: str) -> str | None:
    permissions = {p.robot: p.role.value for p in store.list_repository_permissions(repository)}
    return permissions.get(robot)


def team_roles(store, repository: str) -> dict:
    return {p.team: p.role.value for p in store.list_repository_team_permissions(repository)}


# -- the endpoints ------------------------------------------------------------------------


async def test_create_list_update_delete_with_quay_shapes_and_audit_rows(api, store, alice, org):
    reply = await api.post(PROTOTYPES, alice, json_body={
        "role": "read", "delegate": {"kind": "user", "name": "acme+deploy"}, "activating_user": {"name": "acme+ci"},
    })
    assert reply.status == 200, reply
    robot_id = reply.body["id"]
    assert reply.body == {
        "activating_user": {"name": "acme+ci", "is_robot": True, "kind": "user", "is_org_member": True},
        "delegate": {"name": "acme+deploy", "is_robot": True, "kind": "user", "is_org_member": True},
        "role": "read", "id": robot_id,
    }
    reply = await api.post(PROTOTYPES, alice, json_body={
        "role": "write", "delegate": {"kind": "team", "name": "devs"}, "activating_user": None,
    })
    assert reply.status == 200, reply
    team_id = reply.body["id"]
    assert reply.body == {"activating_user": None, "delegate": {"name": "devs", "kind": "team"}, "role": "write",
                          "id": team_id}
    listed = await api.get(PROTOTYPES, alice)
    assert listed.status == 200
    assert [(p["id"], p["role"]) for p in listed.body["prototypes"]] == [(robot_id, "read"), (team_id, "write")]

    reply = await api.put(f"{PROTOTYPES}/{robot_id}", alice, json_body={"role": "admin"})
    assert reply.status == 200 and reply.body["role"] == "admin" and reply.body["id"] == robot_id
    assert (await api.delete(f"{PROTOTYPES}/{team_id}", alice)).status == 204
    assert [p["id"] for p in (await api.get(PROTOTYPES, alice)).body["prototypes"]] == [robot_id]

    logged = events(store, "")
    logged = [e for e in logged if "prototype" in e.kind]
    assert [e.kind for e in logged] == [
        "create_prototype_permission", "create_prototype_permission", "modify_prototype_permission",
        "delete_prototype_permission",
    ]
    assert logged[0].performer == "alice"
    assert logged[0].metadata == {
        "prototypeid": robot_id, "username": "alice", "activating_username": "acme+ci", "role": "read",
        "delegate_user": "acme+deploy",
    }
    assert logged[2].metadata["original_role"] == "read" and logged[2].metadata["role"] == "admin"
    assert logged[3].metadata["delegate_team"] == "devs"


async def test_an_activating_person_is_shown_with_their_membership(api, store, alice, mallory, org):
    for name, member in (("bob", True), ("mallory", False)):
        reply = await api.post(PROTOTYPES, alice, json_body={
            "role": "read", "delegate": {"kind": "team", "name": "devs"}, "activating_user": {"name": name},
        })
        assert reply.status == 200, reply
        assert reply.body["activating_user"] == {"name": name, "is_robot": False, "kind": "user",
                                                 "is_org_member": member}


async def test_a_person_as_delegate_is_refused_with_a_pointer_to_teams(api, store, alice, org):
    reply = await api.post(PROTOTYPES, alice, json_body={"role": "read", "delegate": {"kind": "user", "name": "bob"}})
    assert_error(reply, 400, "invalid_request")
    assert "team" in reply.body["detail"] and "bob" in reply.body["detail"]
    assert store.list_prototypes("acme") == []


@pytest.mark.parametrize("body", [
    {}, {"role": "read"}, {"role": "owner", "delegate": {"kind": "team", "name": "devs"}},
    {"role": "read", "delegate": "devs"}, {"role": "read", "delegate": {"name": "devs"}},
    {"role": "read", "delegate": {"kind": "robot", "name": "acme+ci"}},
    {"role": "read", "delegate": {"kind": "team", "name": 5}},
    {"role": "read", "delegate": {"kind": "team"}},
    {"role": "read", "delegate": {"kind": "team", "name": "nosuchteam"}},
    {"role": "read", "delegate": {"kind": "team", "name": "Bad Name"}},
    {"role": "read", "delegate": {"kind": "user", "name": "acme+nobody"}},
    {"role": "read", "delegate": {"kind": "user", "name": "other+ci"}},
    {"role": "read", "delegate": {"kind": "user", "name": "acme+bad+name"}},
    {"role": "read", "delegate": {"kind": "team", "name": "devs"}, "activating_user": {"name": "nobody"}},
    {"role": "read", "delegate": {"kind": "team", "name": "devs"}, "activating_user": {"name": "acme+nobody"}},
    {"role": "read", "delegate": {"kind": "team", "name": "devs"}, "activating_user": {"name": "other+ci"}},
    {"role": "read", "delegate": {"kind": "team", "name": "devs"}, "activating_user": "bob"},
    {"role": "read", "delegate": {"kind": "team", "name": "devs"}, "activating_user": {"name": 3}},
    {"role": "read", "delegate": {"kind": "team", "name": "devs"}, "activating_user": {}},
    ["read"],
])
async def test_bad_bodies_are_400(api, store, alice, org, body):
    assert_error(await api.post(PROTOTYPES, alice, json_body=body), 400, "invalid_request")
    assert store.list_prototypes("acme") == []


async def test_only_organization_admins(api, store, alice, bob, mallory, root, org):
    made = store.create_prototype("acme", "read", "team", "devs")
    body = {"role": "read", "delegate": {"kind": "team", "name": "devs"}}
    for who in (bob, mallory):
        assert_error(await api.get(PROTOTYPES, who), 403, "insufficient_scope")
        assert_error(await api.post(PROTOTYPES, who, json_body=body), 403, "insufficient_scope")
        assert_error(await api.put(f"{PROTOTYPES}/{made.uuid}", who, json_body={"role": "admin"}), 403,
                     "insufficient_scope")
        assert_error(await api.delete(f"{PROTOTYPES}/{made.uuid}", who), 403, "insufficient_scope")
    assert_error(await api.get(PROTOTYPES), 401, "invalid_token")
    # A user's own namespace has no default permissions; an unknown organization is a 404
    # for a superuser (others cannot tell it from one they may not see).
    assert_error(await api.get("/api/v1/organization/alice/prototypes", alice), 404, "not_found")
    assert_error(await api.get("/api/v1/organization/nosuch/prototypes", root), 404, "not_found")
    assert store.get_prototype("acme", made.uuid).role.value == "read"


async def test_unknown_prototype_is_404(api, store, alice, org):
    for uuid in ("00000000-0000-0000-0000-000000000000", "not-a-uuid"):
        assert_error(await api.put(f"{PROTOTYPES}/{uuid}", alice, json_body={"role": "read"}), 404, "not_found")
        assert_error(await api.delete(f"{PROTOTYPES}/{uuid}", alice), 404, "not_found")
    # Another organization's prototype is not found through this one.
    store.create_organization("other", admin="alice")
    store.create_team("other", "ops")
    theirs = store.create_prototype("other", "read", "team", "ops")
    assert_error(await api.delete(f"{PROTOTYPES}/{theirs.uuid}", alice), 404, "not_found")
    made = store.create_prototype("acme", "read", "team", "devs")
    assert_error(await api.put(f"{PROTOTYPES}/{made.uuid}", alice, json_body={"role": "owner"}), 400,
                 "invalid_request")


# -- the grant on creation ------------------------------------------------------------------


async def test_creating_through_the_api_grants_at_once(api, store, alice, org):
    store.create_prototype("acme", "write", "user", "acme+deploy")
    store.create_prototype("acme", "read", "team", "devs")
    reply = await api.post("/api/v1/repository", alice, json_body={
        "namespace": "acme", "repository": "app", "visibility": "private",
    })
    assert reply.status == 201, reply
    assert robot_role(store, "acme+deploy", "acme/app") == "write"
    assert team_roles(store, "acme/app") == {"devs": "read"}
    reply = await api.token("acme+deploy", org["acme+deploy"], "repository:acme/app:pull,push")
    assert granted(reply) == {"acme/app": ["pull", "push"]}


async def test_activating_user_matches_only_its_creator(api, store, alice, bob, org):
    store.set_member("acme", "bob", "admin")
    store.create_prototype("acme", "read", "user", "acme+deploy", activating="bob")
    store.create_prototype("acme", "admin", "team", "devs", activating="alice")
    for who, repository in ((alice, "by-alice"), (bob, "by-bob")):
        reply = await api.post("/api/v1/repository", who, json_body={
            "namespace": "acme", "repository": repository, "visibility": "private",
        })
        assert reply.status == 201, reply
    assert (robot_role(store, "acme+deploy", "acme/by-alice"), team_roles(store, "acme/by-alice")) == (
        None, {"devs": "admin"})
    assert (robot_role(store, "acme+deploy", "acme/by-bob"), team_roles(store, "acme/by-bob")) == ("read", {})


async def test_existing_repositories_are_untouched_and_the_strongest_role_wins(api, store, org):
    store.create_repository("acme/old")
    store.create_prototype("acme", "read", "user", "acme+deploy")
    store.create_prototype("acme", "write", "user", "acme+deploy")
    store.create_prototype("acme", "read", "team", "devs")
    assert robot_role(store, "acme+deploy", "acme/old") is None and team_roles(store, "acme/old") == {}
    store.create_repository("acme/new")
    assert robot_role(store, "acme+deploy", "acme/new") == "write" and team_roles(store, "acme/new") == {"devs": "read"}
    # Other organizations' creations are not touched either.
    store.create_organization("other", admin="alice")
    store.create_repository("other/new")
    assert store.list_repository_permissions("other/new") == []


async def test_a_push_by_a_robot_with_a_namespace_grant_applies_them(api, store, org):
    store.grant("acme+ci", "acme", "write")
    store.create_prototype("acme", "read", "user", "acme+deploy", activating="acme+ci")
    store.create_prototype("acme", "write", "team", "devs")
    store.create_prototype("acme", "admin", "team", "devs", activating="acme+deploy")  # not the creator
    reply = await api.token("acme+ci", org["acme+ci"], f"repository:acme/pushed:{PULL_PUSH}")
    assert granted(reply) == {"acme/pushed": ["pull", "push"]}
    assert robot_role(store, "acme+deploy", "acme/pushed") == "read"
    assert team_roles(store, "acme/pushed") == {"devs": "write"}
    reply = await api.token("acme+deploy", org["acme+deploy"], "repository:acme/pushed:pull")
    assert granted(reply) == {"acme/pushed": ["pull"]}
    # A pull creates nothing, so it applies nothing.
    await api.token("acme+ci", org["acme+ci"], "repository:acme/pulled:pull")
    assert [r.name for r in store.list_repositories("acme")] == ["pushed"]


async def test_a_push_by_a_creator_team_member_applies_them(api, store, org):
    store.update_team("acme", "devs", role="creator")
    store.add_team_member("acme", "devs", "acme+ci")
    store.create_team("acme", "readers")
    store.create_prototype("acme", "read", "user", "acme+deploy", activating="acme+ci")
    store.create_prototype("acme", "read", "user", "acme+ci")  # below the creator's admin: never lowers it
    store.create_prototype("acme", "read", "team", "readers")
    reply = await api.token("acme+ci", org["acme+ci"], f"repository:acme/made:{PULL_PUSH}")
    assert granted(reply) == {"acme/made": ["pull", "push"]}
    assert robot_role(store, "acme+ci", "acme/made") == "admin"
    assert robot_role(store, "acme+deploy", "acme/made") == "read"
    assert team_roles(store, "acme/made") == {"readers": "read"}


async def test_a_push_with_an_app_token_counts_the_person_as_creator(api, store, alice, org):
    token = store.create_app_token("alice", "laptop").token
    store.create_prototype("acme", "write", "user", "acme+deploy", activating="alice")
    store.create_prototype("acme", "read", "team", "devs", activating="bob")
    reply = await api.token("alice", token, f"repository:acme/hers:{PULL_PUSH}")
    assert granted(reply) == {"acme/hers": ["pull", "push"]}
    assert robot_role(store, "acme+deploy", "acme/hers") == "write" and team_roles(store, "acme/hers") == {}


async def test_a_deleted_delegate_or_team_stops_the_prototype(api, store, alice, org):
    by_robot = store.create_prototype("acme", "read", "user", "acme+deploy")
    store.create_prototype("acme", "read", "team", "devs")
    store.create_prototype("acme", "read", "team", "devs", activating="acme+ci")
    store.delete_robot("acme+deploy")
    store.delete_team("acme", "devs")  # its prototypes go with it
    assert store.list_prototypes("acme") == []
    store.create_robot("acme+deploy")  # the same name again inherits nothing
    store.create_team("acme", "devs")
    store.create_repository("acme/after")
    assert store.list_repository_permissions("acme/after") == [] and team_roles(store, "acme/after") == {}
    assert_error(await api.delete(f"{PROTOTYPES}/{by_robot.uuid}", alice), 404, "not_found")
    removed = store.collect_garbage(retention=0)
    assert removed["prototypes"] == 1  # the robot's, with the robot's row


async def test_a_deleted_activating_robot_stops_the_prototype(store, org):
    store.create_prototype("acme", "read", "team", "devs", activating="acme+ci")
    store.delete_robot("acme+ci")
    assert store.list_prototypes("acme") == []
    with pytest.raises(PrototypeInvalid):
        store.create_prototype("acme", "read", "team", "devs", activating="acme+ci")


# -- the command line ----------------------------------------------------------------------


def test_prototype_commands_and_repo_create(cli):  # noqa: F811 - the fixture
    cli("user", "create", "alice", stdin=PASSWORD + "\n")
    cli("org", "create", "acme", "--admin", "alice")
    cli("robot", "create", "acme+deploy")
    cli("team", "create", "acme/devs")

    status, made, _ = cli("prototype", "create", "acme", "write", "--robot", "acme+deploy")
    assert status == 0 and made["delegate"]["name"] == "acme+deploy" and made["role"] == "write"
    status, by_alice, _ = cli("prototype", "create", "acme", "read", "--team", "devs", "--activating-user", "alice")
    assert status == 0 and by_alice["activating_user"]["name"] == "alice"
    listed = cli("prototype", "list", "acme")[1]
    assert [p["id"] for p in listed] == [made["id"], by_alice["id"]] and all(p["created"] for p in listed)
    for args in (("prototype", "create", "acme", "read", "--robot", "alice"),
                 ("prototype", "create", "acme", "read", "--team", "nosuch"),
                 ("prototype", "delete", "acme", "nosuch")):
        status, body, err = cli(*args)
        assert status == 1 and body is None and err.strip(), args

    # The command line names no creator: only prototypes without an activating user apply.
    assert cli("repo", "create", "acme/app")[0] == 0
    assert cli("prototype", "delete", "acme", made["id"])[1] == {"deleted": made["id"]}
    store = Store(cli.store_path, bcrypt_cost=4)
    assert [(p.robot, p.role.value) for p in store.list_repository_permissions("acme/app")] == [
        ("acme+deploy", "write")]
    assert store.list_repository_team_permissions("acme/app") == []
    events, _ = store.list_events("acme", start=0, end=1e12)
    kinds = [e.kind for e in reversed(events) if "prototype" in e.kind]
    assert kinds == ["create_prototype_permission", "create_prototype_permission", "delete_prototype_permission"]
    assert all(e.metadata.get("via") == "cli" for e in events if "prototype" in e.kind)
    store.close()
