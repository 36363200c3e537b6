"""``regauth team ...``, run in-process on a fresh data directory."""

from tests.api.test_cli import PASSWORD, cli  # noqa: F401 - the cli fixture
from tokenstore import Store


def test_team_commands_manage_a_team_with_audit_rows(cli):  # noqa: F811 - the fixture
    cli("user", "create", "alice", stdin=PASSWORD + "\n")
    cli("user", "create", "bob", stdin=PASSWORD + "\n")
    cli("org", "create", "acme", "--admin", "alice")
    cli("org", "add-member", "acme", "bob")
    cli("robot", "create", "acme+ci")
    cli("repo", "create", "acme/app")

    status, body, _ = cli("team", "create", "acme/devs", "--role", "creator", "--description", "developers")
    assert status == 0 and body["new_team"] is True and body["role"] == "creator"
    assert cli("team", "create", "acme/devs", "--role", "admin")[1]["new_team"] is False
    assert cli("team", "add-member", "acme/devs", "bob")[1]["is_robot"] is False
    assert cli("team", "add-member", "acme/devs", "acme+ci")[1]["is_robot"] is True
    assert cli("team", "grant", "acme/devs", "acme/app", "write")[1]["role"] == "write"
    status, body, _ = cli("team", "show", "acme/devs")
    assert [m["name"] for m in body["members"]] == ["bob", "acme+ci"]
    assert body["permissions"] == [{"repository": {"name": "app", "is_public": False}, "role": "write"}]
    listed = cli("team", "list", "acme")[1]
    assert [(t["name"], t["role"], t["member_count"], t["repo_count"]) for t in listed] == [("devs", "admin", 2, 1)]

    assert cli("team", "revoke", "acme/devs", "acme/app")[0] == 0
    assert cli("team", "remove-member", "acme/devs", "bob")[0] == 0
    # Errors: status 1 and a message, nothing changed.
    for args in (("team", "grant", "acme/devs", "other/app", "read"), ("team", "add-member", "acme/devs", "nobody"),
                 ("team", "create", "acme"), ("team", "remove-member", "acme/devs", "bob")):
        status, body, err = cli(*args)
        assert status == 1 and body is None and err.strip(), args
    assert cli("team", "delete", "acme/devs")[1] == {"deleted": "acme/devs"}
    assert cli("team", "list", "acme")[1] == []

    store = Store(cli.store_path, bcrypt_cost=4)
    events, _ = store.list_events("acme", start=0, end=1e12)
    kinds = [e.kind for e in reversed(events) if e.metadata.get("via") == "cli" and "team" in e.metadata]
    assert kinds == [
        "org_create_team", "org_set_team_role", "org_add_team_member", "org_add_team_member",
        "change_repo_permission", "delete_repo_permission", "org_remove_team_member", "org_delete_team",
    ]
    store.close()
