"""Repositories: /api/v1/repository..."""

import pytest

from tests.api.conftest import assert_error

NEW = {"namespace": "acme", "repository": "app", "visibility": "private", "description": "the app"}


async def test_create_answers_201_as_quay(api, store, alice, acme):
    reply = await api.post("/api/v1/repository", alice, json_body=NEW)
    assert reply.status == 201
    assert reply.body == {"namespace": "acme", "name": "app", "kind": "image"}
    repository = store.get_repository("acme/app")
    assert (repository.visibility, repository.description) == ("private", "the app")


async def test_create_in_the_callers_own_namespace_by_default(api, store, mallory):
    reply = await api.post("/api/v1/repository", mallory, json_body={"repository": "tools", "visibility": "public"})
    assert reply.status == 201 and reply.body["namespace"] == "mallory"
    assert store.get_repository("mallory/tools").is_public


async def test_nested_repository_names(api, alice, acme):
    body = {**NEW, "repository": "team/app"}
    assert (await api.post("/api/v1/repository", alice, json_body=body)).status == 201
    reply = await api.get("/api/v1/repository/acme/team/app", alice)
    assert reply.status == 200 and reply.body["name"] == "team/app"
    assert (await api.post("/api/v1/repository/acme/team/app/changevisibility", alice,
                           json_body={"visibility": "public"})).status == 200
    assert (await api.delete("/api/v1/repository/acme/team/app", alice)).status == 204


async def test_create_of_an_existing_repository_is_400(api, alice, acme):
    await api.post("/api/v1/repository", alice, json_body=NEW)
    assert_error(await api.post("/api/v1/repository", alice, json_body=NEW), 400, "invalid_request")


@pytest.mark.parametrize("change", [
    {"repository": None}, {"repository": "Bad Name"}, {"repository": ""}, {"repository": 3},
    {"visibility": "secret"}, {"visibility": None}, {"description": 5}, {"description": "x" * 5000},
    {"namespace": "Bad"}, {"namespace": 1}, {"repo_kind": "application"},
])
async def test_bad_create_bodies_are_400(api, alice, acme, change):
    # None stands for "left out".
    body = {key: value for key, value in {**NEW, **change}.items() if value is not None}
    assert_error(await api.post("/api/v1/repository", alice, json_body=body), 400, "invalid_request")


@pytest.mark.parametrize("who", ["bob", "mallory"])
async def test_only_admins_create_repositories(api, request, acme, who):
    assert_error(await api.post("/api/v1/repository", request.getfixturevalue(who), json_body=NEW), 403,
                 "insufficient_scope")


async def test_create_in_an_unknown_namespace(api, mallory, root):
    body = {**NEW, "namespace": "nowhere"}
    assert_error(await api.post("/api/v1/repository", mallory, json_body=body), 403, "insufficient_scope")
    assert_error(await api.post("/api/v1/repository", root, json_body=body), 404, "not_found")


async def test_get_a_repository(api, store, alice, bob, mallory, root, acme):
    store.create_repository("acme/app", "private", "d")
    reply = await api.get("/api/v1/repository/acme/app", alice)
    assert reply.status == 200
    assert reply.body["namespace"] == "acme" and reply.body["name"] == "app"
    assert reply.body["is_public"] is False and reply.body["is_organization"] is True
    assert reply.body["can_admin"] is True and reply.body["description"] == "d"
    member = await api.get("/api/v1/repository/acme/app", bob)
    assert member.status == 200 and member.body["can_admin"] is False
    assert (await api.get("/api/v1/repository/acme/app", root)).status == 200
    assert_error(await api.get("/api/v1/repository/acme/app", mallory), 403, "insufficient_scope")


async def test_public_repositories_are_visible_to_every_signed_in_user(api, store, mallory, acme):
    store.create_repository("acme/site", "public")
    reply = await api.get("/api/v1/repository/acme/site", mallory)
    assert reply.status == 200 and reply.body["can_admin"] is False


async def test_a_missing_repository_is_404_to_members_and_403_to_outsiders(api, bob, mallory, acme):
    assert_error(await api.get("/api/v1/repository/acme/ghost", bob), 404, "not_found")
    assert_error(await api.get("/api/v1/repository/acme/ghost", mallory), 403, "insufficient_scope")


@pytest.mark.parametrize("path", ["/api/v1/repository/acme/Bad", "/api/v1/repository/BAD/app", "/api/v1/repository/acme/a//b"])
async def test_bad_repository_paths_are_400(api, alice, acme, path):
    assert_error(await api.get(path, alice), 400, "invalid_request")


async def test_list_repositories(api, store, alice, mallory, acme):
    store.create_repository("acme/app")
    store.create_repository("acme/site", "public")
    names = [r["name"] for r in (await api.get("/api/v1/repository?namespace=acme", alice)).body["repositories"]]
    assert names == ["app", "site"]
    names = [r["name"] for r in (await api.get("/api/v1/repository?namespace=acme", mallory)).body["repositories"]]
    assert names == ["site"]
    assert (await api.get("/api/v1/repository?namespace=nowhere", mallory)).body == {"repositories": []}
    assert_error(await api.get("/api/v1/repository", alice), 400, "invalid_request")
    assert_error(await api.get("/api/v1/repository?namespace=NOPE", alice), 400, "invalid_request")


async def test_delete_a_repository_ends_its_grants(api, store, alice, acme):
    store.create_repository("acme/app")
    issued = store.create_robot("acme+ci")
    store.grant("acme+ci", "acme/app", "read")
    assert (await api.delete("/api/v1/repository/acme/app", alice)).status == 204
    assert_error(await api.get("/api/v1/repository/acme/app", alice), 404, "not_found")
    assert_error(await api.delete("/api/v1/repository/acme/app", alice), 404, "not_found")
    assert store.list_permissions(issued.robot.username) == []


@pytest.mark.parametrize("who", ["bob", "mallory"])
async def test_only_admins_delete_or_change_visibility(api, store, request, acme, who):
    store.create_repository("acme/app")
    account = request.getfixturevalue(who)
    assert_error(await api.delete("/api/v1/repository/acme/app", account), 403, "insufficient_scope")
    assert_error(await api.post("/api/v1/repository/acme/app/changevisibility", account,
                                json_body={"visibility": "public"}), 403, "insufficient_scope")


async def test_change_visibility(api, store, alice, acme):
    store.create_repository("acme/app")
    reply = await api.post("/api/v1/repository/acme/app/changevisibility", alice, json_body={"visibility": "public"})
    assert reply.status == 200 and reply.body == {"success": True}
    assert store.get_repository("acme/app").is_public
    # Anonymous pulls follow the visibility at once.
    async with api.client.get("/token", params={"service": "regauth-test", "scope": "repository:acme/app:pull"}) as resp:
        assert resp.status == 200
    for body in ({"visibility": "hidden"}, {}, {"visibility": True}, None):
        reply = await api.post("/api/v1/repository/acme/app/changevisibility", alice, json_body=body)
        assert_error(reply, 400, "invalid_request")
    assert_error(await api.post("/api/v1/repository/acme/ghost/changevisibility", alice,
                                json_body={"visibility": "public"}), 404, "not_found")
