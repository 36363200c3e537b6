"""Robot permissions on repositories (Quay's /permissions/user/) and on namespaces (ours)."""

import pytest

from tests.api.conftest import assert_error, granted

REPO_PERMS = "/api/v1/repository/acme/app/permissions/user/"
NS_PERMS = "/api/v1/namespace/acme/permissions/user/"


@pytest.fixture
def ci(store, acme):
    """``acme+ci`` (its secret) and repository ``acme/app``."""
    store.create_repository("acme/app")
    return store.create_robot("acme+ci").secret


async def test_put_grants_a_role_the_token_endpoint_honours(api, alice, ci):
    assert granted(await api.token("acme+ci", ci, "repository:acme/app:pull,push")) == {"acme/app": []}
    reply = await api.put(REPO_PERMS + "acme+ci", alice, json_body={"role": "write"})
    assert reply.status == 200
    assert reply.body == {"role": "write", "name": "acme+ci", "is_robot": True, "is_org_member": True}
    assert granted(await api.token("acme+ci", ci, "repository:acme/app:pull,push")) == {"acme/app": ["pull", "push"]}
    reply = await api.put(REPO_PERMS + "acme+ci", alice, json_body={"role": "read"})
    assert reply.body["role"] == "read"
    assert granted(await api.token("acme+ci", ci, "repository:acme/app:pull,push")) == {"acme/app": ["pull"]}


async def test_get_and_list(api, store, alice, ci):
    store.create_robot("acme+other")
    await api.put(REPO_PERMS + "acme+ci", alice, json_body={"role": "admin"})
    await api.put(REPO_PERMS + "acme+other", alice, json_body={"role": "read"})
    reply = await api.get(REPO_PERMS, alice)
    assert reply.status == 200
    assert reply.body == {"permissions": {
        "acme+ci": {"role": "admin", "name": "acme+ci", "is_robot": True, "is_org_member": True},
        "acme+other": {"role": "read", "name": "acme+other", "is_robot": True, "is_org_member": True},
    }}
    assert (await api.get(REPO_PERMS + "acme+ci", alice)).body["role"] == "admin"


async def test_user_namespace_permissions_have_no_org_member_flag(api, store, alice):
    store.create_repository("alice/app")
    store.create_robot("alice+ci")
    reply = await api.put("/api/v1/repository/alice/app/permissions/user/alice+ci", alice, json_body={"role": "read"})
    assert reply.body == {"role": "read", "name": "alice+ci", "is_robot": True}


async def test_delete_revokes_at_once(api, alice, ci):
    await api.put(REPO_PERMS + "acme+ci", alice, json_body={"role": "write"})
    assert (await api.delete(REPO_PERMS + "acme+ci", alice)).status == 204
    assert granted(await api.token("acme+ci", ci, "repository:acme/app:pull")) == {"acme/app": []}
    assert_error(await api.delete(REPO_PERMS + "acme+ci", alice), 404, "not_found")
    assert_error(await api.get(REPO_PERMS + "acme+ci", alice), 404, "not_found")


async def test_unknown_robot_repository_or_permission_is_404(api, alice, ci):
    assert_error(await api.put(REPO_PERMS + "acme+ghost", alice, json_body={"role": "read"}), 404, "not_found")
    assert_error(await api.put("/api/v1/repository/acme/ghost/permissions/user/acme+ci", alice,
                               json_body={"role": "read"}), 404, "not_found")
    assert_error(await api.get(REPO_PERMS + "acme+ci", alice), 404, "not_found")
    assert_error(await api.get("/api/v1/repository/acme/ghost/permissions/user/", alice), 404, "not_found")


async def test_people_and_other_namespaces_robots_cannot_be_granted(api, store, alice, ci):
    store.create_user("zed", "correct horse battery")
    store.create_robot("zed+bot")
    assert_error(await api.put(REPO_PERMS + "bob", alice, json_body={"role": "read"}), 400, "invalid_request")
    assert_error(await api.put(REPO_PERMS + "zed+bot", alice, json_body={"role": "read"}), 400, "invalid_request")
    assert_error(await api.get(REPO_PERMS + "bob", alice), 404, "not_found")
    assert_error(await api.get(REPO_PERMS + "zed+bot", alice), 404, "not_found")
    assert_error(await api.delete(REPO_PERMS + "zed+bot", alice), 404, "not_found")


@pytest.mark.parametrize("body", [{"role": "owner"}, {"role": "READ "}, {"role": 1}, {}, ["read"], "read", None])
async def test_bad_roles_are_400(api, alice, ci, body):
    assert_error(await api.put(REPO_PERMS + "acme+ci", alice, json_body=body), 400, "invalid_request")


@pytest.mark.parametrize("username", ["acme+", "+ci", "acme+ci+x", "acme+C", "ACME+ci"])
async def test_malformed_robot_names_are_400(api, alice, ci, username):
    assert_error(await api.put(REPO_PERMS + username, alice, json_body={"role": "read"}), 400, "invalid_request")


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", REPO_PERMS, None),
    ("GET", REPO_PERMS + "acme+ci", None),
    ("PUT", REPO_PERMS + "acme+ci", {"role": "read"}),
    ("DELETE", REPO_PERMS + "acme+ci", None),
    ("GET", NS_PERMS, None),
    ("GET", NS_PERMS + "acme+ci", None),
    ("PUT", NS_PERMS + "acme+ci", {"role": "read"}),
    ("DELETE", NS_PERMS + "acme+ci", None),
])
@pytest.mark.parametrize("who", ["bob", "mallory"])
async def test_only_admins_manage_permissions(api, request, ci, who, method, path, body):
    reply = await api.call(method, path, request.getfixturevalue(who), json_body=body)
    assert_error(reply, 403, "insufficient_scope")


async def test_superusers_manage_permissions(api, root, ci):
    assert (await api.put(REPO_PERMS + "acme+ci", root, json_body={"role": "read"})).status == 200
    assert (await api.put(NS_PERMS + "acme+ci", root, json_body={"role": "read"})).status == 200


async def test_permission_changes_are_audited(api, store, alice, ci):
    await api.put(REPO_PERMS + "acme+ci", alice, json_body={"role": "write"})
    await api.delete(REPO_PERMS + "acme+ci", alice)
    await api.put(NS_PERMS + "acme+ci", alice, json_body={"role": "read"})
    await api.delete(NS_PERMS + "acme+ci", alice)
    events, _ = store.list_events("acme", start=0, end=1e12)
    assert [(e.kind, e.performer, e.metadata.get("role")) for e in reversed(events)] == [
        ("change_repo_permission", "alice", "write"),
        ("delete_repo_permission", "alice", None),
        ("change_namespace_permission", "alice", "read"),
        ("delete_namespace_permission", "alice", None),
    ]
    assert events[-1].metadata == {"username": "acme+ci", "repo": "app", "namespace": "acme", "role": "write"}


# -- namespace-wide grants (ours) ------------------------------------------------------------


async def test_a_namespace_grant_covers_every_repository_present_and_future(api, store, alice, ci):
    reply = await api.put(NS_PERMS + "acme+ci", alice, json_body={"role": "write"})
    assert reply.status == 200
    assert reply.body == {"role": "write", "name": "acme+ci", "is_robot": True, "is_org_member": True}
    assert granted(await api.token("acme+ci", ci, "repository:acme/app:push")) == {"acme/app": ["push"]}
    # A push to a repository that does not exist yet creates it.
    assert granted(await api.token("acme+ci", ci, "repository:acme/new:push")) == {"acme/new": ["push"]}
    assert store.get_repository("acme/new")
    assert (await api.get(NS_PERMS, alice)).body == {"permissions": {"acme+ci": reply.body}}
    assert (await api.get(NS_PERMS + "acme+ci", alice)).body == reply.body
    assert (await api.delete(NS_PERMS + "acme+ci", alice)).status == 204
    assert granted(await api.token("acme+ci", ci, "repository:acme/app:push")) == {"acme/app": []}
    assert_error(await api.get(NS_PERMS + "acme+ci", alice), 404, "not_found")
    assert_error(await api.delete(NS_PERMS + "acme+ci", alice), 404, "not_found")


async def test_namespace_grants_refuse_people_and_strangers(api, store, alice, root, ci):
    store.create_namespace("other")
    store.create_robot("other+bot")
    assert_error(await api.put(NS_PERMS + "bob", alice, json_body={"role": "read"}), 400, "invalid_request")
    assert_error(await api.put(NS_PERMS + "other+bot", alice, json_body={"role": "read"}), 400, "invalid_request")
    assert_error(await api.get(NS_PERMS + "other+bot", alice), 404, "not_found")
    assert_error(await api.get("/api/v1/namespace/nowhere/permissions/user/", root), 404, "not_found")


async def test_namespace_grants_in_a_users_own_namespace(api, store, alice):
    secret = (await api.put("/api/v1/user/robots/ci", alice)).body["token"]
    reply = await api.put("/api/v1/namespace/alice/permissions/user/alice+ci", alice, json_body={"role": "read"})
    assert reply.status == 200 and "is_org_member" not in reply.body
    store.create_repository("alice/tool")
    assert granted(await api.token("alice+ci", secret, "repository:alice/tool:pull")) == {"alice/tool": ["pull"]}
