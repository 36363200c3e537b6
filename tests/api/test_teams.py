"""Organization teams: /api/v1/organization/{org}/team/... and
/api/v1/repository/{ns}/{repo}/permissions/team/..., in Quay's shapes and status codes."""

import pytest

from tests.api.conftest import assert_error

TEAM = "/api/v1/organization/acme/team/devs"
REPO_TEAMS = "/api/v1/repository/acme/app/permissions/team/"


@pytest.fixture
def devs(api, store, alice, acme):
    """Team ``devs`` (role member) of acme, repository ``acme/app`` and robot ``acme+ci``."""
    store.create_repository("acme/app")
    store.create_robot("acme+ci")
    store.create_team("acme", "devs")
    return "devs"


def kinds(store, namespace="acme") -> list[str]:
    events, _ = store.list_events(namespace, start=0, end=1e12)
    return [event.kind for event in reversed(events)]


def last_event(store, namespace="acme"):
    events, _ = store.list_events(namespace, start=0, end=1e12)
    return events[0]


# -- teams --------------------------------------------------------------------------------


async def test_put_creates_a_team_then_changes_it(api, store, alice, acme):
    reply = await api.put(TEAM, alice, json_body={"role": "creator", "description": "the developers"})
    assert reply.status == 200
    assert reply.body == {
        "name": "devs", "description": "the developers", "can_view": True, "role": "creator", "new_team": True,
    }
    reply = await api.put(TEAM, alice, json_body={"role": "admin"})
    assert reply.status == 200
    assert reply.body == {
        "name": "devs", "description": "the developers", "can_view": True, "role": "admin", "new_team": False,
    }
    reply = await api.put(TEAM, alice, json_body={"role": "admin", "description": "new"})
    assert reply.body["description"] == "new"
    assert kinds(store) == ["org_create_team", "org_set_team_role", "org_set_team_description"]
    event = last_event(store)
    assert event.performer == "alice" and event.metadata == {"team": "devs", "description": "new"}
    assert store.get_team("acme", "devs").role == "admin"


async def test_a_new_team_without_a_description_has_an_empty_one(api, alice, acme):
    reply = await api.put(TEAM, alice, json_body={"role": "member"})
    assert reply.body["description"] == "" and reply.body["role"] == "member"


@pytest.mark.parametrize("body", [
    {}, {"role": "owner"}, {"role": 3}, {"role": None}, {"role": "member", "description": 5},
    {"role": "member", "description": "x" * 4097}, ["member"], "member",
])
async def test_bad_team_bodies_are_400(api, alice, acme, body):
    assert_error(await api.put(TEAM, alice, json_body=body), 400, "invalid_request")


@pytest.mark.parametrize("name", ["A", "x", "bad%20name", "-dash", "a" * 256])
async def test_bad_team_names_are_400(api, alice, acme, name):
    reply = await api.put(f"/api/v1/organization/acme/team/{name}", alice, json_body={"role": "member"})
    assert_error(reply, 400, "invalid_request")


async def test_only_organization_admins_manage_teams(api, store, bob, mallory, root, acme):
    for account in (bob, mallory):
        assert_error(await api.put(TEAM, account, json_body={"role": "member"}), 403, "insufficient_scope")
        assert_error(await api.delete(TEAM, account), 403, "insufficient_scope")
    assert_error(await api.put(TEAM, None, json_body={"role": "member"}), 401, "invalid_token")
    # A superuser may, and learns that an organization does not exist.
    assert (await api.put(TEAM, root, json_body={"role": "member"})).status == 200
    reply = await api.put("/api/v1/organization/nowhere/team/devs", root, json_body={"role": "member"})
    assert_error(reply, 404, "not_found")
    assert_error(await api.put("/api/v1/organization/nowhere/team/devs", bob, json_body={"role": "member"}),
                 403, "insufficient_scope")
    assert_error(await api.put("/api/v1/organization/alice/team/devs", root, json_body={"role": "member"}),
                 404, "not_found")


async def test_delete_a_team_then_again_is_400_as_quay(api, store, alice, devs):
    assert (await api.delete(TEAM, alice)).status == 204
    assert store.list_teams("acme") == []
    assert kinds(store)[-1] == "org_delete_team"
    assert_error(await api.delete(TEAM, alice), 400, "invalid_request")


async def test_the_organization_lists_its_teams_to_its_members(api, store, alice, bob, mallory, devs):
    store.create_team("acme", "ops", "admin", "operators")
    store.add_team_member("acme", "ops", "bob")
    store.add_team_member("acme", "ops", "acme+ci")
    store.set_team_permission("acme", "ops", "acme/app", "write")
    reply = await api.get("/api/v1/organization/acme", alice)
    assert reply.body["ordered_teams"] == ["devs", "ops"]
    assert reply.body["teams"]["ops"] == {
        "name": "ops", "description": "operators", "role": "admin", "can_view": True,
        "repo_count": 1, "member_count": 2, "is_synced": False,
    }
    assert reply.body["teams"]["devs"]["member_count"] == 0
    # A plain member sees every team, and may view those they are in.
    teams = (await api.get("/api/v1/organization/acme", bob)).body["teams"]
    assert (teams["ops"]["can_view"], teams["devs"]["can_view"]) == (True, False)
    assert "teams" not in (await api.get("/api/v1/organization/acme", mallory)).body


# -- members ------------------------------------------------------------------------------


async def test_add_people_and_robots_then_list_them(api, store, alice, devs):
    reply = await api.put(TEAM + "/members/bob", alice)
    assert reply.status == 200
    assert reply.body == {"name": "bob", "kind": "user", "is_robot": False, "invited": False}
    reply = await api.put(TEAM + "/members/acme+ci", alice)
    assert reply.body == {"name": "acme+ci", "kind": "user", "is_robot": True, "invited": False}
    assert (await api.put(TEAM + "/members/bob", alice)).status == 200  # again: no change
    reply = await api.get(TEAM + "/members", alice)
    assert reply.status == 200
    assert reply.body == {
        "name": "devs",
        "members": [
            {"name": "bob", "kind": "user", "is_robot": False, "invited": False},
            {"name": "acme+ci", "kind": "user", "is_robot": True, "invited": False},
        ],
        "can_edit": True,
    }
    assert kinds(store).count("org_add_team_member") == 3
    assert last_event(store).metadata == {"member": "bob", "team": "devs"}


async def test_team_members_see_the_list_other_members_do_not(api, store, alice, bob, mallory, devs):
    assert_error(await api.get(TEAM + "/members", bob), 403, "insufficient_scope")
    assert_error(await api.get(TEAM + "/members", mallory), 403, "insufficient_scope")
    store.add_team_member("acme", "devs", "bob")
    reply = await api.get(TEAM + "/members", bob)
    assert reply.status == 200 and reply.body["can_edit"] is False
    assert_error(await api.put(TEAM + "/members/acme+ci", bob), 403, "insufficient_scope")


async def test_unknown_or_outside_members_are_400(api, store, alice, mallory, devs):
    store.create_organization("other", admin="alice")
    store.create_robot("other+bot")
    for member in ("nobody", "acme+nobody", "mallory", "other+bot", "Bad Name", "a+b+c"):
        reply = await api.put(TEAM + f"/members/{member}", alice)
        assert_error(reply, 400, "invalid_request")
    assert (await api.put(TEAM + "/members/nobody", alice)).body["detail"] == "Unknown user"


async def test_members_of_an_unknown_team_are_404(api, alice, devs):
    for call in (api.get, api.put, api.delete):
        path = "/api/v1/organization/acme/team/nope/members" + ("" if call == api.get else "/bob")
        assert_error(await call(path, alice), 404, "not_found")
    assert_error(await api.get("/api/v1/organization/acme/team/nope/permissions", alice), 404, "not_found")


async def test_remove_a_member(api, store, alice, devs):
    store.add_team_member("acme", "devs", "bob")
    store.add_team_member("acme", "devs", "acme+ci")
    assert (await api.delete(TEAM + "/members/acme+ci", alice)).status == 204
    assert (await api.delete(TEAM + "/members/bob", alice)).status == 204
    assert store.list_team_members("acme", "devs") == []
    assert last_event(store).kind == "org_remove_team_member"
    # Not in the team: 400, as Quay; no such user or robot: 404.
    assert_error(await api.delete(TEAM + "/members/bob", alice), 400, "invalid_request")
    assert_error(await api.delete(TEAM + "/members/nobody", alice), 404, "not_found")
    assert_error(await api.delete(TEAM + "/members/acme+nobody", alice), 404, "not_found")


async def test_a_deleted_robot_or_user_leaves_the_list(api, store, alice, devs):
    store.add_team_member("acme", "devs", "bob")
    store.add_team_member("acme", "devs", "acme+ci")
    store.delete_robot("acme+ci")
    store.delete_user("bob")
    assert (await api.get(TEAM + "/members", alice)).body["members"] == []


# -- the team's repositories ---------------------------------------------------------------


async def test_team_permissions_list(api, store, alice, bob, devs):
    store.create_repository("acme/web", "public")
    assert (await api.get(TEAM + "/permissions", alice)).body == {"permissions": []}
    store.set_team_permission("acme", "devs", "acme/app", "write")
    store.set_team_permission("acme", "devs", "acme/web", "read")
    reply = await api.get(TEAM + "/permissions", alice)
    assert reply.status == 200
    assert reply.body == {"permissions": [
        {"repository": {"name": "app", "is_public": False}, "role": "write"},
        {"repository": {"name": "web", "is_public": True}, "role": "read"},
    ]}
    assert_error(await api.get(TEAM + "/permissions", bob), 403, "insufficient_scope")
    store.delete_repository("acme/web")
    assert len((await api.get(TEAM + "/permissions", alice)).body["permissions"]) == 1


async def test_repository_team_permission_put_get_list_delete(api, store, alice, devs):
    reply = await api.put(REPO_TEAMS + "devs", alice, json_body={"role": "write"})
    assert reply.status == 200 and reply.body == {"role": "write", "name": "devs"}
    event = last_event(store)
    assert (event.kind, event.repository) == ("change_repo_permission", "app")
    assert event.metadata == {"team": "devs", "repo": "app", "role": "write"}
    assert (await api.put(REPO_TEAMS + "devs", alice, json_body={"role": "admin"})).body["role"] == "admin"
    assert (await api.get(REPO_TEAMS + "devs", alice)).body == {"role": "admin", "name": "devs"}
    assert (await api.get(REPO_TEAMS, alice)).body == {"permissions": {"devs": {"role": "admin", "name": "devs"}}}
    assert (await api.delete(REPO_TEAMS + "devs", alice)).status == 204
    assert last_event(store).kind == "delete_repo_permission"
    assert last_event(store).metadata == {"team": "devs", "repo": "app"}
    assert (await api.get(REPO_TEAMS, alice)).body == {"permissions": {}}
    # Gone: 404 to read, 400 to delete (as Quay).
    assert_error(await api.get(REPO_TEAMS + "devs", alice), 404, "not_found")
    assert_error(await api.delete(REPO_TEAMS + "devs", alice), 400, "invalid_request")


async def test_repository_team_permission_errors(api, store, alice, bob, mallory, devs):
    assert_error(await api.put(REPO_TEAMS + "nope", alice, json_body={"role": "read"}), 400, "invalid_request")
    assert_error(await api.get(REPO_TEAMS + "nope", alice), 404, "not_found")
    assert_error(await api.delete(REPO_TEAMS + "nope", alice), 400, "invalid_request")
    for body in ({}, {"role": "owner"}, {"role": 1}, ["read"]):
        assert_error(await api.put(REPO_TEAMS + "devs", alice, json_body=body), 400, "invalid_request")
    assert_error(await api.put(REPO_TEAMS + "Bad", alice, json_body={"role": "read"}), 400, "invalid_request")
    missing = "/api/v1/repository/acme/missing/permissions/team/devs"
    assert_error(await api.put(missing, alice, json_body={"role": "read"}), 404, "not_found")
    for account in (bob, mallory):
        assert_error(await api.put(REPO_TEAMS + "devs", account, json_body={"role": "read"}),
                     403, "insufficient_scope")
        assert_error(await api.get(REPO_TEAMS, account), 403, "insufficient_scope")
    assert_error(await api.get(REPO_TEAMS, None), 401, "invalid_token")


async def test_a_users_namespace_has_no_teams(api, store, alice):
    store.create_repository("alice/own")
    reply = await api.put("/api/v1/repository/alice/own/permissions/team/devs", alice, json_body={"role": "read"})
    assert_error(reply, 400, "invalid_request")
    assert (await api.get("/api/v1/repository/alice/own/permissions/team/", alice)).body == {"permissions": {}}


async def test_a_team_holds_roles_only_in_its_organization(store, devs):
    from tokenstore.errors import NotInOrganization

    store.create_organization("other", admin="alice")
    store.create_repository("other/app")
    with pytest.raises(NotInOrganization):
        store.set_team_permission("acme", "devs", "other/app", "read")


async def test_deleting_a_team_removes_its_roles(api, store, alice, devs):
    await api.put(REPO_TEAMS + "devs", alice, json_body={"role": "read"})
    await api.put(TEAM + "/members/acme+ci", alice)
    assert (await api.delete(TEAM, alice)).status == 204
    # Re-created under the same name, it inherits nothing.
    assert (await api.put(TEAM, alice, json_body={"role": "member"})).body["new_team"] is True
    assert (await api.get(TEAM + "/members", alice)).body["members"] == []
    assert (await api.get(REPO_TEAMS, alice)).body == {"permissions": {}}


def test_the_collector_takes_a_deleted_organizations_teams(store, devs):
    store.add_team_member("acme", "devs", "bob")
    store.add_team_member("acme", "devs", "acme+ci")
    store.set_team_permission("acme", "devs", "acme/app", "read")
    store.delete_namespace("acme")
    removed = store.collect_garbage(retention=0)
    assert (removed["teams"], removed["team_members"], removed["team_permissions"]) == (1, 2, 1)


def test_member_teams_names_a_members_teams_only(store, devs):
    store.add_team_member("acme", "devs", "acme+ci")
    store.create_organization("other", admin="alice")
    store.create_robot("other+ci")
    assert store.member_teams("acme", "acme+ci") == ["devs"]
    assert store.member_teams("acme", "other+ci") == []  # the same shortname elsewhere
    assert store.member_teams("acme", "bob") == []
