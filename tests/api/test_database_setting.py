"""``--database`` / REGAUTH_DATABASE_URL: the CLI on a PostgreSQL store, and its errors."""

import io
import json
import sys

import pytest

from gateway.cli import main
from tests.postgres_server import free_port
from tokenstore.postgres.store import PostgresStore


@pytest.fixture
def run(tmp_path, capsys, monkeypatch):
    """``run(*args, database=URL) -> (status, parsed JSON or None, stderr)`` with a fresh data dir."""
    for name in [name for name in __import__("os").environ if name.startswith("REGAUTH_")]:
        monkeypatch.delenv(name)

    def call(*args, database: str):
        monkeypatch.setattr(sys, "stdin", io.StringIO(""))
        status = main([*args, "--data-dir", str(tmp_path / "data"), "--bcrypt-cost", "4", "--database", database])
        captured = capsys.readouterr()
        return status, json.loads(captured.out) if captured.out.strip() else None, captured.err

    return call


def test_init_with_a_url_writes_the_key_and_no_sqlite_file(run, tmp_path, postgres_url):
    status, body, _ = run("init", database=postgres_url)
    assert status == 0 and body["created"] is True and body["database"] == postgres_url
    files = sorted(path.name for path in (tmp_path / "data").iterdir())
    assert files == ["jwks.json", "signing-cert.pem", "signing-key.pem"]


def test_commands_write_to_postgresql(run, postgres_url):
    assert run("init", database=postgres_url)[0] == 0
    assert run("org", "create", "acme", database=postgres_url)[0] == 0
    status, body, _ = run("robot", "create", "acme+ci", database=postgres_url)
    assert status == 0
    store = PostgresStore(postgres_url, bcrypt_cost=4)
    try:
        assert store.authenticate("acme+ci", body["token"]).username == "acme+ci"
    finally:
        store.close()


def test_a_url_that_is_not_postgresql_names_the_setting(run):
    status, _, err = run("org", "list", database="mysql://db/regauth")
    assert status == 1
    assert "--database / REGAUTH_DATABASE_URL" in err and "postgresql://" in err


def test_an_unreachable_database_is_one_line_without_the_password(run, tmp_path):
    url = f"postgresql://regauth:hunter2-secret@127.0.0.1:{free_port()}/regauth"
    status, _, err = run("org", "list", database=url)
    assert status == 1
    assert err.count("\n") == 1 and "hunter2-secret" not in err
    assert "PostgreSQL cannot be reached" in err and ":***@127.0.0.1" in err



def test_store_copy_through_the_command_line(tmp_path, postgres_url, capsys, monkeypatch):
    for name in [name for name in __import__("os").environ if name.startswith("REGAUTH_")]:
        monkeypatch.delenv(name)
    flags = ["--data-dir", str(tmp_path / "sqlite"), "--bcrypt-cost", "4"]

    def call(*args) -> dict:
        assert main([*args, *flags]) == 0
        return json.loads(capsys.readouterr().out)

    call("init")
    call("org", "create", "acme")
    secret = call("robot", "create", "acme+ci")["token"]
    copied = call("store", "copy", "--from", str(tmp_path / "sqlite" / "regauth.db"), "--to", postgres_url)
    assert copied["rows"]["robots"] == 1
    store = PostgresStore(postgres_url, bcrypt_cost=4)
    try:
        assert store.authenticate("acme+ci", secret).username == "acme+ci"
    finally:
        store.close()
    # A second copy into the same database is refused: it is no longer empty.
    assert main(["store", "copy", "--from", str(tmp_path / "sqlite" / "regauth.db"), "--to", postgres_url, *flags]) == 1
    assert "already holds rows" in capsys.readouterr().err
