"""Organizations and members: /api/v1/organization/..."""

import pytest

from tests.api.conftest import assert_error


async def test_any_user_creates_an_organization_and_becomes_its_admin(api, store, mallory):
    reply = await api.post("/api/v1/organization/", mallory, json_body={"name": "newco", "email": "ops@example.com"})
    assert reply.status == 201 and reply.body == "Created"
    assert store.get_member("newco", "mallory").role == "admin"
    assert (await api.put("/api/v1/organization/newco/robots/ci", mallory)).status == 201
    events, _ = store.list_events("newco", start=0, end=1e12)
    assert [e.kind for e in events] == ["create_robot", "org_create"]


async def test_the_path_without_a_trailing_slash_works_too(api, mallory):
    assert (await api.post("/api/v1/organization", mallory, json_body={"name": "newco"})).status == 201


@pytest.mark.parametrize("name", ["acme", "alice"])
async def test_a_taken_name_is_400(api, mallory, acme, name):
    reply = await api.post("/api/v1/organization/", mallory, json_body={"name": name})
    assert_error(reply, 400, "invalid_request")


@pytest.mark.parametrize("body", [
    {}, {"name": ""}, {"name": "A"}, {"name": "bad name"}, {"name": 7}, {"name": None}, {"name": ["x"]},
    {"name": "okname", "email": 5}, ["okname"], "okname",
])
async def test_bad_organization_bodies_are_400(api, mallory, body):
    assert_error(await api.post("/api/v1/organization/", mallory, json_body=body), 400, "invalid_request")


async def test_create_needs_a_body(api, mallory):
    assert_error(await api.post("/api/v1/organization/", mallory), 400, "invalid_request")


async def test_get_shows_the_callers_standing(api, alice, bob, mallory, root, acme):
    for account, admin, member in ((alice, True, True), (bob, False, True), (mallory, False, False), (root, True, True)):
        reply = await api.get("/api/v1/organization/acme", account)
        assert reply.status == 200
        teams = {"teams": {}, "ordered_teams": []} if member else {}
        assert reply.body == {"name": "acme", "email": "", "is_admin": admin, "is_member": member, **teams}


async def test_get_of_an_unknown_organization_or_a_user_is_404(api, alice):
    assert_error(await api.get("/api/v1/organization/nowhere", alice), 404, "not_found")
    assert_error(await api.get("/api/v1/organization/alice", alice), 404, "not_found")


async def test_delete_stops_every_robot_of_the_organization_at_once(api, store, alice, acme):
    secret = (await api.put("/api/v1/organization/acme/robots/ci", alice)).body["token"]
    assert (await api.token("acme+ci", secret)).status == 200
    assert (await api.delete("/api/v1/organization/acme", alice)).status == 204
    assert (await api.token("acme+ci", secret)).status == 401
    assert_error(await api.get("/api/v1/organization/acme", alice), 404, "not_found")
    # Re-created with the same name, it inherits nothing: no robots, no members but its creator.
    assert (await api.post("/api/v1/organization/", alice, json_body={"name": "acme"})).status == 201
    assert (await api.get("/api/v1/organization/acme/robots", alice)).body == {"robots": []}
    assert [m["name"] for m in (await api.get("/api/v1/organization/acme/members", alice)).body["members"]] == ["alice"]
    assert (await api.get("/api/v1/organization/acme/logs", alice)).body["logs"][0]["kind"] == "org_create"
    assert len((await api.get("/api/v1/organization/acme/logs", alice)).body["logs"]) == 1


@pytest.mark.parametrize("who", ["bob", "mallory"])
async def test_only_admins_delete_an_organization(api, request, acme, who):
    assert_error(await api.delete("/api/v1/organization/acme", request.getfixturevalue(who)), 403, "insufficient_scope")


async def test_superusers_delete_any_organization(api, root, acme):
    assert (await api.delete("/api/v1/organization/acme", root)).status == 204
    assert_error(await api.delete("/api/v1/organization/acme", root), 404, "not_found")


# -- members ---------------------------------------------------------------------------------


async def test_admins_list_members(api, alice, acme):
    reply = await api.get("/api/v1/organization/acme/members", alice)
    assert reply.status == 200
    assert reply.body == {"members": [
        {"name": "alice", "kind": "user", "role": "admin", "teams": [{"name": "owners"}], "repositories": []},
        {"name": "bob", "kind": "user", "role": "member", "teams": [], "repositories": []},
    ]}


async def test_get_one_member(api, alice, mallory, acme):
    reply = await api.get("/api/v1/organization/acme/members/bob", alice)
    assert reply.status == 200 and reply.body["role"] == "member"
    assert_error(await api.get("/api/v1/organization/acme/members/mallory", alice), 404, "not_found")
    assert_error(await api.get("/api/v1/organization/acme/members/nobody", alice), 404, "not_found")
    assert_error(await api.get("/api/v1/organization/acme/members/BAD", alice), 400, "invalid_request")


async def test_put_adds_a_member_and_changes_roles(api, store, alice, mallory, acme):
    reply = await api.put("/api/v1/organization/acme/members/mallory", alice)
    assert reply.status == 200 and reply.body["role"] == "member"
    assert (await api.get("/api/v1/organization/acme/robots", mallory)).status == 200
    assert_error(await api.put("/api/v1/organization/acme/robots/ci", mallory), 403, "insufficient_scope")
    reply = await api.put("/api/v1/organization/acme/members/mallory", alice, json_body={"role": "admin"})
    assert reply.body["role"] == "admin"
    assert (await api.put("/api/v1/organization/acme/robots/ci", mallory)).status == 201
    kinds = [e.kind for e in store.list_events("acme", start=0, end=1e12)[0]]
    assert kinds.count("org_set_member") == 2


@pytest.mark.parametrize("body", [{"role": "owner"}, {"role": 1}, {"role": None}, ["admin"]])
async def test_put_member_refuses_bad_roles(api, alice, mallory, acme, body):
    reply = await api.put("/api/v1/organization/acme/members/mallory", alice, json_body=body)
    assert_error(reply, 400, "invalid_request")


async def test_put_of_an_unknown_user_is_404(api, alice, acme):
    assert_error(await api.put("/api/v1/organization/acme/members/nobody", alice), 404, "not_found")


async def test_delete_removes_a_member_and_their_rights(api, alice, bob, acme):
    assert (await api.delete("/api/v1/organization/acme/members/bob", alice)).status == 204
    assert_error(await api.get("/api/v1/organization/acme/robots", bob), 403, "insufficient_scope")
    assert_error(await api.delete("/api/v1/organization/acme/members/bob", alice), 404, "not_found")


async def test_the_last_admin_cannot_leave_or_be_demoted(api, alice, bob, acme):
    assert_error(await api.delete("/api/v1/organization/acme/members/alice", alice), 400, "invalid_request")
    reply = await api.put("/api/v1/organization/acme/members/alice", alice, json_body={"role": "member"})
    assert_error(reply, 400, "invalid_request")
    await api.put("/api/v1/organization/acme/members/bob", alice, json_body={"role": "admin"})
    assert (await api.delete("/api/v1/organization/acme/members/alice", alice)).status == 204


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/v1/organization/acme/members"),
    ("GET", "/api/v1/organization/acme/members/alice"),
    ("PUT", "/api/v1/organization/acme/members/mallory"),
    ("DELETE", "/api/v1/organization/acme/members/alice"),
])
@pytest.mark.parametrize("who", ["bob", "mallory"])
async def test_only_admins_manage_members(api, request, acme, mallory, who, method, path):
    assert_error(await api.call(method, path, request.getfixturevalue(who)), 403, "insufficient_scope")


async def test_superusers_manage_members_anywhere(api, root, mallory, acme):
    assert (await api.put("/api/v1/organization/acme/members/mallory", root)).status == 200
    assert (await api.get("/api/v1/organization/acme/members", root)).status == 200
