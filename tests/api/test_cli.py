"""The CLI's user, organization, token and gc commands, run in-process."""

import io
import json
import sqlite3
import sys

import pytest

import tokenstore.sqlite.database
from gateway.cli import main
from tokenstore import InvalidCredentials, Store

PASSWORD = "correct horse battery"


class Terminal(io.StringIO):
    """A stdin that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def cli(tmp_path, capsys, monkeypatch):
    """``cli(*args, stdin="") -> (status, parsed JSON or None, stderr)`` against a fresh data dir."""
    for name in [name for name in __import__("os").environ if name.startswith("REGAUTH_")]:
        monkeypatch.delenv(name)
    settings = ["--data-dir", str(tmp_path / "data"), "--bcrypt-cost", "4"]

    def run(*args, stdin: str = "", tty: bool = False):
        monkeypatch.setattr(sys, "stdin", (Terminal if tty else io.StringIO)(stdin))
        status = main([*args, *settings])
        captured = capsys.readouterr()
        return status, json.loads(captured.out) if captured.out.strip() else None, captured.err

    status, _, _ = run("init")
    assert status == 0
    run.store_path = tmp_path / "data" / "regauth.db"
    return run


def test_user_create_reads_the_password_from_stdin(cli):
    status, body, _ = cli("user", "create", "alice", stdin=PASSWORD + "\n")
    assert status == 0
    assert body["name"] == "alice" and body["superuser"] is False
    store = Store(cli.store_path, bcrypt_cost=4)
    assert store.check_password("alice", PASSWORD).username == "alice"
    store.close()
    status, body, _ = cli("user", "create", "root", "--superuser", stdin=PASSWORD + "\n")
    assert body["superuser"] is True
    assert [user["name"] for user in cli("user", "list")[1]] == ["alice", "root"]


def test_user_create_prompts_twice_on_a_terminal(cli, monkeypatch):
    answers = iter([PASSWORD, PASSWORD])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert cli("user", "create", "alice", tty=True)[0] == 0
    answers = iter([PASSWORD, "something else"])
    status, _, err = cli("user", "create", "bob", tty=True)
    assert status == 1 and "do not match" in err


@pytest.mark.parametrize("password", ["", "short", "x" * 73])
def test_bad_passwords_are_refused(cli, password):
    status, body, err = cli("user", "create", "alice", stdin=password + "\n")
    assert status == 1 and body is None and "password" in err


def test_the_password_is_never_an_argument(cli):
    with pytest.raises(SystemExit) as exc:
        cli("user", "create", "alice", "--password", PASSWORD)
    assert exc.value.code == 2


def test_org_create_with_an_admin_and_add_member(cli):
    cli("user", "create", "alice", stdin=PASSWORD)
    cli("user", "create", "bob", stdin=PASSWORD)
    status, body, _ = cli("org", "create", "acme", "--admin", "alice")
    assert status == 0 and body["name"] == "acme" and body["kind"] == "organization"
    assert cli("org", "create", "plain")[0] == 0
    status, body, _ = cli("org", "add-member", "acme", "bob")
    assert body == {"organization": "acme", "user": "bob", "role": "member"}
    status, body, _ = cli("org", "add-member", "acme", "bob", "--admin")
    assert body["role"] == "admin"
    store = Store(cli.store_path, bcrypt_cost=4)
    assert [(m.username, m.role) for m in store.list_members("acme")] == [("alice", "admin"), ("bob", "admin")]
    store.close()
    assert cli("org", "create", "other", "--admin", "nobody")[0] == 1
    assert cli("org", "add-member", "acme", "nobody")[0] == 1


def test_token_create_list_revoke(cli):
    cli("user", "create", "alice", stdin=PASSWORD)
    status, created, _ = cli("token", "create", "alice", "--expires", "30", "--description", "ci")
    assert status == 0
    token = created["token"]
    assert token.startswith("rgapi_") and created["prefix"] == token[:14] and created["live"] is True
    assert created["expires"] is not None and created["description"] == "ci"
    listed = cli("token", "list")[1]
    assert [entry["id"] for entry in listed] == [created["id"]]
    assert token not in json.dumps(listed) and all("token" not in entry for entry in listed)
    assert cli("token", "list", "alice")[1] == listed
    store = Store(cli.store_path, bcrypt_cost=4)
    assert store.authenticate_api_token(token).username == "alice"
    status, revoked, _ = cli("token", "revoke", created["prefix"])
    assert status == 0 and revoked["live"] is False and revoked["revoked"] is not None
    with pytest.raises(InvalidCredentials):
        store.authenticate_api_token(token)
    store.close()
    assert cli("token", "revoke", "999")[0] == 1
    assert cli("token", "create", "nobody")[0] == 1
    assert cli("token", "create", "alice", "--expires", "0")[0] == 1


def test_gc_removes_what_deletions_left(cli):
    cli("org", "create", "acme")
    cli("robot", "create", "acme+ci")
    cli("org", "delete", "acme")
    status, body, _ = cli("gc")
    assert status == 0
    assert body["removed"]["namespaces"] == 1 and body["removed"]["robots"] == 1
    assert cli("gc")[1] == {"removed": {}}


def test_gc_removes_audit_rows_older_than_the_retention(cli):
    cli("org", "create", "acme")
    store = Store(cli.store_path)
    try:
        # One row backdated past the default 90 days, one a day short of it.
        store.db.execute("UPDATE audit_log SET created = created - 91 * 86400")
        store.record_event("create_robot", "acme", performer="alice", performer_kind="user")
        store.db.execute("UPDATE audit_log SET created = created - 89 * 86400 WHERE kind = 'create_robot'")
        store.db.conn.commit()
    finally:
        store.close()
    assert cli("gc", "--audit-retention", "0")[1] == {"removed": {}}
    assert cli("gc")[1] == {"removed": {"audit_log": 1}}
    assert cli("gc", "--audit-retention", "1")[1] == {"removed": {"audit_log": 1}}


def test_a_database_locked_elsewhere_is_a_one_line_error(cli, monkeypatch):
    monkeypatch.setattr(tokenstore.sqlite.database, "BUSY_TIMEOUT_MS", 200)
    locker = sqlite3.connect(cli.store_path, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        status, body, err = cli("org", "create", "acme")
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert status == 1 and body is None
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "the database is busy with another writer; another process holds a long write, try again" in err
    assert cli("org", "create", "acme")[0] == 0


def test_user_delete(cli):
    cli("user", "create", "alice", stdin=PASSWORD)
    token = cli("token", "create", "alice")[1]["token"]
    assert cli("user", "delete", "alice")[1] == {"deleted": "alice"}
    store = Store(cli.store_path, bcrypt_cost=4)
    with pytest.raises(InvalidCredentials):
        store.authenticate_api_token(token)
    store.close()


def test_changes_made_with_the_cli_are_audited(cli):
    cli("org", "create", "acme")
    cli("repo", "create", "acme/app")
    secret = cli("robot", "create", "acme+ci")[1]["token"]
    cli("grant", "acme+ci", "acme/app", "write")
    cli("grant", "acme+ci", "acme", "read")
    cli("revoke", "acme+ci", "acme/app")
    cli("revoke", "acme+ci", "acme")
    cli("robot", "regenerate", "acme+ci")
    cli("robot", "delete", "acme+ci")
    cli("repo", "delete", "acme/app")
    store = Store(cli.store_path, bcrypt_cost=4)
    events, _ = store.list_events("acme", start=0, end=1e12, limit=100)
    store.close()
    assert [e.kind for e in reversed(events)] == [
        "org_create", "create_repo", "create_robot", "change_repo_permission", "change_namespace_permission",
        "delete_repo_permission", "delete_namespace_permission", "regenerate_robot_token", "delete_robot",
        "delete_repo",
    ]
    assert all(e.metadata["via"] == "cli" and e.performer is None for e in events)
    assert secret not in json.dumps([e.metadata for e in events])
