"""Copying a store into another, empty one (``tokenstore.sql.copy``,
``tokenstore.opening.copy_locations``, ``regauth store copy``), with a real PostgreSQL:
everything still works at the destination, the copy of a store being written to is one
snapshot, and a refused or failed copy writes nothing."""

import argparse
import json
import os
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass

import pytest

from gateway.config import Config
from gateway.cli.store_copy import add_store_command
from tests.conftest import FAST_BCRYPT_COST
from tests.stores import dangling_references
from tokenstore import InvalidCredentials, Resource, Store
from tokenstore.errors import (
    CopyError,
    CopyUnavailable,
    DestinationNotEmpty,
    SourceInvalid,
)
from tokenstore.opening import copy_locations
from tokenstore.postgres.schema import TABLES
from tokenstore.postgres.store import PostgresStore
from tokenstore.registry_activity import RepositoryEvent
from tokenstore.sql.copy import copy_store

PASSWORDS = {"alice": "correct horse battery staple", "bob": "tr0ub4dor&3 is not enough"}
JOIN_TIMEOUT = 30


@dataclass
class Cast:
    """The clear credentials handed out while populating a store."""

    secrets: dict[str, str]  # robot -> the secret that must work
    dead_secrets: dict[str, str]  # robot -> a secret that must not
    api_token: str
    refresh_token: str
    federated: str
    ui_session: str
    user_ids: dict[str, int]


def populate(store, clock) -> Cast:
    """Put one of everything in ``store``: organizations, users, members, robots with
    current, grace, replaced and expiring secrets, a deleted robot, grants of both kinds, a team,
    default permissions, tokens, federation, a UI session, sign-in failures, registry events and audit rows."""
    alice = store.create_user("alice", PASSWORDS["alice"], superuser=True)
    bob = store.create_user("bob", PASSWORDS["bob"])
    store.create_organization("acme", admin="alice")
    store.set_member("acme", "bob", "member")
    store.create_organization("empty")
    store.create_repository("acme/app")
    store.create_repository("acme/web", "public", "the site")
    store.create_repository("acme/old")
    store.delete_repository("acme/old")

    plain = store.create_robot_audited("acme+plain", "plain", {"team": "ci"}, via="cli")
    clock.advance(1.5)
    graced = store.create_robot_audited("acme+rotated", via="cli")
    rotated = store.regenerate_robot_audited("acme+rotated", grace_seconds=3600, via="cli")
    replaced = store.create_robot("acme+replaced")
    replacement = store.regenerate_secret("acme+replaced")
    expiring = store.create_robot_expiring("acme+expiring", expires_at=clock() + 600)
    gone = store.create_robot("acme+gone")
    store.delete_robot_audited("acme+gone", via="cli")
    own = store.create_robot("alice+own")

    store.grant_audited("acme+plain", "acme", "read", via="cli")
    store.grant_audited("acme+rotated", "acme/app", "write", via="cli")
    store.grant("acme+expiring", "acme/web", "admin")
    store.grant("alice+own", "alice", "admin")
    store.create_team("acme", "devs", "creator", "the developers")
    store.add_team_member("acme", "devs", "bob")
    store.add_team_member("acme", "devs", "acme+plain")
    store.set_team_permission("acme", "devs", "acme/app", "write")
    store.create_prototype("acme", "read", "team", "devs", activating="bob")
    store.create_prototype("acme", "write", "user", "acme+plain", activating="acme+rotated")

    api = store.create_api_token("alice", description="deploys")
    store.create_app_token("alice", "laptop", via="cli")
    refresh = store.issue_refresh_token(store.authenticate("acme+plain", plain.secret), "docker")
    federations = store.set_federations(
        "acme+plain", [{"issuer": "https://issuer.example", "subject": "repo:acme/app", "audience": "regauth"}]
    )
    federated = store.issue_federated_credential("acme+plain", federations[0].id)
    session = store.create_ui_session(alice.id)
    store.record_signin_failure("mallory", "192.0.2.66")
    store.record_repository_events([RepositoryEvent(
        "event-1", "push", "acme/app", "latest", "sha256:" + "a" * 64, "acme+plain", "192.0.2.7", "docker/27",
    )])
    store.record_event("org_create", "acme", metadata={"via": "cli"})
    store.record_robot_login("acme+plain", success=True, ip="192.0.2.7", scopes=["repository:acme/app:pull"])
    store.record_refusal("robot_login_failure", "acme", performer="acme+plain", ip="192.0.2.8",
                         reason="invalid", metadata={"why": "test"})
    return Cast(
        secrets={"acme+plain": plain.secret, "acme+rotated": rotated.secret, "acme+rotated (grace)": graced.secret,
                 "acme+replaced": replacement.secret, "acme+expiring": expiring.secret, "alice+own": own.secret},
        dead_secrets={"acme+replaced": replaced.secret, "acme+gone": gone.secret},
        api_token=api.token, refresh_token=refresh, federated=federated.credential,
        ui_session=session.session_id, user_ids={"alice": alice.id, "bob": bob.id},
    )


def every_row(store) -> dict[str, list[tuple]]:
    """Every row of every table, in key order, with the destination's column order."""
    rows = {}
    for table in TABLES:
        cursor = store.db.execute(f"SELECT * FROM {table} ORDER BY 1")
        rows[table] = [tuple(row) for row in cursor.fetchall()]
    return rows


def robot_name(label: str) -> str:
    return label.split(" ")[0]


@pytest.fixture
def sqlite_store(tmp_path, clock):
    store = Store(tmp_path / "source.db", bcrypt_cost=FAST_BCRYPT_COST, clock=clock)
    yield store
    store.close()


@pytest.fixture
def postgres_store(postgres_url, clock):
    store = PostgresStore(postgres_url, bcrypt_cost=FAST_BCRYPT_COST, clock=clock)
    yield store
    store.close()


def test_sqlite_to_postgresql_keeps_every_credential_grant_and_row(sqlite_store, postgres_store, clock):
    cast = populate(sqlite_store, clock)
    before = every_row(sqlite_store)

    started = time.monotonic()
    counts = copy_store(sqlite_store, postgres_store)
    assert time.monotonic() - started < 10

    assert list(counts) == list(TABLES)
    assert counts == {table: len(rows) for table, rows in before.items()}
    assert all(counts[table] for table in TABLES), counts  # one of everything was copied
    # Ids, hashes, times, soft deletions: every value equal, before anything reads or writes.
    assert every_row(postgres_store) == before
    assert every_row(sqlite_store) == before

    for label, secret in cast.secrets.items():
        assert postgres_store.authenticate(robot_name(label), secret, record_use=False).username == robot_name(label)
    for name, secret in cast.dead_secrets.items():
        with pytest.raises(InvalidCredentials):
            postgres_store.authenticate(name, secret, record_use=False)
    for name, password in PASSWORDS.items():
        assert postgres_store.check_password(name, password).id == cast.user_ids[name]
    assert postgres_store.authenticate_api_token(cast.api_token).username == "alice"
    assert postgres_store.redeem_refresh_token(cast.refresh_token).username == "acme+plain"
    assert postgres_store.authenticate_federated("acme+plain", cast.federated).username == "acme+plain"
    assert postgres_store.get_ui_session(cast.ui_session).username == "alice"
    assert postgres_store.get_member("acme", "bob").role == "member"

    for name in ("acme+plain", "acme+rotated", "acme+expiring", "alice+own"):
        assert postgres_store.list_permissions(name) == sqlite_store.list_permissions(name)
        assert postgres_store.list_secrets(name) == sqlite_store.list_secrets(name)
    principal = postgres_store.authenticate("acme+rotated", cast.secrets["acme+rotated"], record_use=False)
    assert postgres_store.authorize(principal, Resource("repository", "acme/app"), ["pull", "push"]) == {"pull", "push"}
    assert postgres_store.authorize(principal, Resource("repository", "acme/web"), ["pull", "push"]) == {"pull"}
    window = {"start": 0, "end": clock() + 1}
    assert postgres_store.list_events("acme", **window) == sqlite_store.list_events("acme", **window)

    # The secret's expiry and the grace period end at the same moments as in the source.
    clock.advance(601)
    with pytest.raises(InvalidCredentials):
        postgres_store.authenticate("acme+expiring", cast.secrets["acme+expiring"])
    clock.advance(3600)
    with pytest.raises(InvalidCredentials):
        postgres_store.authenticate("acme+rotated", cast.secrets["acme+rotated (grace)"])

    # New rows take fresh ids after the copied ones, in every table written below.
    largest = {table: max((row[0] for row in before[table]), default=0) for table in TABLES if table != "registry_events_seen"}
    created = postgres_store.create_robot_audited("acme+new", via="cli")
    assert created.robot.id == largest["robots"] + 1
    assert created.secret_id == largest["robot_secrets"] + 1
    assert postgres_store.create_organization("beta").id == largest["namespaces"] + 1
    assert postgres_store.create_user("carol", PASSWORDS["bob"]).id == largest["users"] + 1
    assert postgres_store.create_repository("acme/more").id == largest["repositories"] + 1
    postgres_store.grant("acme+new", "acme/more", "read")
    assert postgres_store.db.execute("SELECT max(id) FROM permissions").fetchone()[0] == largest["permissions"] + 1
    assert postgres_store.create_api_token("bob").info.id == largest["api_tokens"] + 1


def test_postgresql_back_to_an_sqlite_file_is_the_same_store(sqlite_store, postgres_store, clock, tmp_path):
    """SQLite -> PostgreSQL -> a new SQLite file (a backup): every row survives both trips, and
    the file works as a store."""
    cast = populate(sqlite_store, clock)
    before = every_row(sqlite_store)
    copy_store(sqlite_store, postgres_store)

    backup_path = tmp_path / "backup" / "regauth.db"
    backup_path.parent.mkdir()
    counts = copy_locations(postgres_store.url, backup_path, bcrypt_cost=FAST_BCRYPT_COST)
    assert counts == {table: len(rows) for table, rows in before.items()}
    assert backup_path.stat().st_mode & 0o077 == 0  # it holds secret hashes: its owner's alone

    backup = Store(backup_path, bcrypt_cost=FAST_BCRYPT_COST, clock=clock)
    try:
        assert every_row(backup) == before
        assert dangling_references(backup) == []
        assert backup.authenticate("acme+plain", cast.secrets["acme+plain"]).username == "acme+plain"
        assert backup.create_robot("acme+later").robot.id == max(row[0] for row in before["robots"]) + 1
    finally:
        backup.close()


class SourceWriter:
    """A thread creating robots (each with its secret and audit row, in one transaction) in
    the source until stopped, at most ``limit`` of them and for at most ``seconds``."""

    def __init__(self, store, limit: int = 2000, seconds: float = 20.0):
        self.store, self.limit, self.seconds = store, limit, seconds
        self.created = 0
        self.failure: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="source_writer", daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + self.seconds
        try:
            for number in range(self.limit):
                if self._stop.is_set() or time.monotonic() > deadline:
                    break
                self.store.create_robot_audited(f"acme+r{number:05d}", via="cli")
                self.created = number + 1
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.failure = exc
        finally:
            self.store.close()

    def start(self) -> "SourceWriter":
        self._thread.start()
        return self

    def wait_for(self, count: int, seconds: float = 10.0) -> None:
        """Return once ``count`` robots were created; fails the test after ``seconds``."""
        deadline = time.monotonic() + seconds
        while self.created < count and self.failure is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert self.failure is None, self.failure
        assert self.created >= count, f"the writer made {self.created} robots in {seconds} s, not {count}"

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(JOIN_TIMEOUT)
        assert not self._thread.is_alive()
        assert self.failure is None, self.failure


@pytest.mark.parametrize("direction", ["sqlite_to_postgresql", "postgresql_to_sqlite"])
def test_a_store_being_written_is_copied_as_one_snapshot(direction, tmp_path, postgres_url, clock):
    """While a thread keeps creating robots in the source, the copy holds exactly the first
    n of them for some n, each with its secret and audit row, and no reference dangles."""
    if direction == "sqlite_to_postgresql":
        source_location, destination_location = tmp_path / "source.db", postgres_url
    else:
        source_location, destination_location = postgres_url, tmp_path / "copy.db"

    def opened(location):
        if isinstance(location, str):
            return PostgresStore(location, bcrypt_cost=FAST_BCRYPT_COST)
        return Store(location, bcrypt_cost=FAST_BCRYPT_COST)

    source, destination = opened(source_location), opened(destination_location)
    source.create_organization("acme")
    writer = SourceWriter(opened(source_location)).start()
    seen_during_copy = []

    def on_batch(table: str, rows: int) -> None:
        # After the first batch, let the writer commit more robots: the copy must not see them.
        if not seen_during_copy:
            seen_during_copy.append(writer.created)
            writer.wait_for(writer.created + 5)

    try:
        writer.wait_for(10)
        counts = copy_store(source, destination, batch_rows=3, on_batch=on_batch)
    finally:
        writer.stop()
    try:
        copied = sorted(robot.shortname for robot in destination.list_robots("acme"))
        assert copied == [f"r{number:05d}" for number in range(len(copied))]  # a prefix of the writes
        assert 10 <= len(copied) <= seen_during_copy[0] + 1 < writer.created
        assert counts["robots"] == counts["robot_secrets"] == len(copied)
        created_rows = destination.db.execute("SELECT count(*) FROM audit_log WHERE kind = 'create_robot'").fetchone()
        assert created_rows[0] == len(copied)
        assert dangling_references(destination) == []
        assert destination.db.execute(
            "SELECT count(*) FROM robots r LEFT JOIN robot_secrets s ON s.robot_id = r.id WHERE s.id IS NULL"
        ).fetchone()[0] == 0
    finally:
        source.close()
        destination.close()


@pytest.mark.parametrize("holding", ["namespaces", "signin_failures"])
def test_a_destination_holding_rows_is_refused_and_left_untouched(holding, sqlite_store, postgres_store, clock):
    populate(sqlite_store, clock)
    if holding == "namespaces":
        postgres_store.create_organization("already")
    else:
        postgres_store.record_signin_failure("someone", "192.0.2.9")
    before = every_row(postgres_store)

    with pytest.raises(DestinationNotEmpty) as refused:
        copy_store(sqlite_store, postgres_store)
    assert holding in str(refused.value) and "empty" in str(refused.value)
    assert every_row(postgres_store) == before
    # The write lock was let go: the destination takes writes again at once.
    postgres_store.create_organization("after")


def test_a_source_with_dangling_references_is_refused_and_nothing_is_written(tmp_path, postgres_store, clock):
    """Rows written with SQLite's foreign keys off (by hand, or an old tool): the copy stops
    at the first broken reference, and the tables copied before it are rolled back."""
    source = Store(tmp_path / "source.db", bcrypt_cost=FAST_BCRYPT_COST, clock=clock)
    source.create_organization("acme")
    source.create_robot("acme+ci")
    source.close()
    with sqlite3.connect(tmp_path / "source.db") as conn:
        conn.execute("INSERT INTO robot_secrets (robot_id, hash, created) VALUES (999, 'h', 1)")
    source = Store(tmp_path / "source.db", bcrypt_cost=FAST_BCRYPT_COST, clock=clock)
    try:
        with pytest.raises(SourceInvalid) as refused:
            copy_store(source, postgres_store)
    finally:
        source.close()
    assert "robot_secrets" in str(refused.value) and "foreign key" in str(refused.value)
    assert every_row(postgres_store) == {table: [] for table in TABLES}


def test_a_store_is_not_copied_onto_itself(sqlite_store, clock, tmp_path):
    (tmp_path / "link").symlink_to(tmp_path)
    same = Store(tmp_path / "link" / "source.db", bcrypt_cost=FAST_BCRYPT_COST, clock=clock)
    try:
        with pytest.raises(CopyError, match="same database"):
            copy_store(sqlite_store, same)
    finally:
        same.close()


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (just let go of)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_database_is_named_without_its_password(sqlite_store, tmp_path):
    url = f"postgresql://regauth:hunter2secret@127.0.0.1:{closed_port()}/regauth"
    with pytest.raises(CopyUnavailable) as failed:
        copy_locations(sqlite_store.path, url, bcrypt_cost=FAST_BCRYPT_COST)
    assert failed.value.side == "destination"
    assert failed.value.location == f"postgresql://regauth:***@127.0.0.1:{url.rsplit(':', 1)[1].split('/')[0]}/regauth"
    assert "cannot be reached" in failed.value.cause
    assert "hunter2secret" not in str(failed.value)


# -- the command's handler, through its own argument parser -------------------------------------


@pytest.fixture
def store_copy(capsys, tmp_path):
    """``store_copy(--from, --to) -> (status, JSON or None, stderr)``, as ``regauth store copy``
    runs it."""
    parser = argparse.ArgumentParser(prog="regauth")
    add_store_command(parser.add_subparsers(dest="command", required=True), argparse.ArgumentParser(add_help=False))
    config = Config.load({"data_dir": str(tmp_path / "data"), "bcrypt_cost": str(FAST_BCRYPT_COST)}, environ={})

    def run(source, destination):
        args = parser.parse_args(["store", "copy", "--from", str(source), "--to", str(destination)])
        status = args.handler(config, args)
        out, err = capsys.readouterr()
        return status, json.loads(out) if out.strip() else None, err

    return run


def test_command_copies_and_prints_rows_and_seconds(store_copy, sqlite_store, postgres_url, clock):
    populate(sqlite_store, clock)
    before = every_row(sqlite_store)
    status, body, err = store_copy(sqlite_store.path, postgres_url)
    assert (status, err) == (0, "")
    assert body["rows"] == {table: len(rows) for table, rows in before.items()}
    assert body["source"] == str(sqlite_store.path) and body["destination"] == postgres_url
    assert 0 <= body["seconds"] < 10
    copied = PostgresStore(postgres_url, bcrypt_cost=FAST_BCRYPT_COST)
    try:
        assert every_row(copied) == before
    finally:
        copied.close()


def test_command_refuses_a_non_empty_destination(store_copy, sqlite_store, postgres_store, postgres_url, clock):
    populate(sqlite_store, clock)
    postgres_store.create_user("someone", PASSWORDS["bob"])
    status, body, err = store_copy(sqlite_store.path, postgres_url)
    assert (status, body) == (1, None)
    assert err.count("\n") == 1 and err.startswith("regauth: error: the destination (")
    assert "already holds rows" in err and "empty database" in err and "nothing was copied" in err


def test_command_names_a_missing_source_and_makes_nothing(store_copy, tmp_path):
    missing, destination = tmp_path / "nowhere.db", tmp_path / "copy.db"
    status, body, err = store_copy(missing, destination)
    assert (status, body) == (1, None)
    assert err == f"regauth: error: the source {missing} does not exist; nothing was copied\n"
    assert not missing.exists() and not destination.exists()


def test_command_names_an_unreachable_database_without_its_password(store_copy, sqlite_store, tmp_path):
    port = closed_port()
    status, body, err = store_copy(f"postgresql://admin:s3cr3t-pw@127.0.0.1:{port}/regauth", tmp_path / "copy.db")
    assert (status, body) == (1, None)
    assert err.count("\n") == 1
    assert err.startswith(f"regauth: error: the source database (postgresql://admin:***@127.0.0.1:{port}/regauth):"
                          " PostgreSQL cannot be reached")
    assert "s3cr3t-pw" not in err
    assert not (tmp_path / "copy.db").exists()


def test_command_removes_the_file_it_made_when_the_copy_fails(store_copy, tmp_path, postgres_url, clock):
    """A copy into a new file that fails (here: a broken reference in the source) leaves no file."""
    source = Store(tmp_path / "source.db", bcrypt_cost=FAST_BCRYPT_COST, clock=clock)
    source.create_organization("acme")
    source.close()
    with sqlite3.connect(tmp_path / "source.db") as conn:
        conn.execute("INSERT INTO robots (namespace_id, shortname, created) VALUES (999, 'orphan', 1)")
    destination = tmp_path / "copy.db"
    status, _, err = store_copy(tmp_path / "source.db", destination)
    assert status == 1 and "cannot be copied as they are (table robots)" in err
    assert not [name for name in os.listdir(tmp_path) if name.startswith("copy.db")]


def test_command_names_a_missing_destination_folder(store_copy, sqlite_store, tmp_path):
    status, body, err = store_copy(sqlite_store.path, tmp_path / "nowhere" / "copy.db")
    assert (status, body) == (1, None)
    assert err == f"regauth: error: the destination's folder {tmp_path / 'nowhere'} does not exist; nothing was copied\n"
