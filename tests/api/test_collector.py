"""The garbage collector: ``Store.collect_garbage``, ``regauth gc`` and the schedule in serve."""

import asyncio

import pytest

from gateway.app import create_app
from gateway.token import keys
from tests.api.conftest import PASSWORD
from tests.conftest import make_config
from tokenstore import InvalidCredentials
from tokenstore.collector import RETENTION
from tests.stores import dangling_references, integer_key, table_names


def count(store, table: str, where: str = "TRUE", params=()) -> int:
    return store.db.execute(f"SELECT count(*) FROM {table} WHERE {where}", list(params)).fetchone()[0]


def tables(store) -> list[str]:
    return table_names(store)


def populate(store, name: str) -> dict:
    """Give organization ``name`` one of everything; return the ids and secrets made."""
    store.create_organization(name, admin="alice")
    store.set_member(name, "bob", "member")
    store.create_repository(f"{name}/app")
    store.create_repository(f"{name}/site", "public")
    first = store.create_robot(f"{name}+ci")
    second = store.regenerate_secret(f"{name}+ci", grace_seconds=3600)
    store.create_robot(f"{name}+other")
    store.grant(f"{name}+ci", f"{name}/app", "write")
    store.grant(f"{name}+other", name, "read")
    store.set_federations(f"{name}+ci", [{"issuer": "https://issuer.example.com", "subject": "repo:x"}])
    principal = store.authenticate(f"{name}+ci", second.secret)
    store.issue_refresh_token(principal, "docker")
    store.record_robot_login(f"{name}+ci", success=True, scopes=["repository:x/y:pull"], access=[])
    store.record_event("create_robot", name, performer="alice", performer_kind="user")
    return {
        "namespace_id": store.get_namespace(name).id,
        "robot_ids": [first.robot.id, store.get_robot(f"{name}+other").id],
        "secrets": [first.secret, second.secret],
    }


@pytest.fixture
def people(store):
    store.create_user("alice", PASSWORD)
    store.create_user("bob", PASSWORD)


def test_nothing_of_a_deleted_namespace_survives_a_run(store, people):
    made = populate(store, "acme")
    kept = populate(store, "keep")
    before = {table: count(store, table) for table in tables(store)}
    for table in ("robot_federations", "refresh_tokens", "permissions", "org_members", "audit_log", "robot_secrets"):
        assert before[table] > 0, table

    store.delete_namespace("acme")
    # At once, before any collection: the robots' secrets no longer work.
    for secret in made["secrets"]:
        with pytest.raises(InvalidCredentials):
            store.authenticate("acme+ci", secret)

    removed = store.collect_garbage()
    assert removed["namespaces"] == 1 and removed["robots"] == 2 and removed["repositories"] == 2

    ns_id, robot_ids = made["namespace_id"], made["robot_ids"]
    marks = ",".join("?" * len(robot_ids))
    assert count(store, "namespaces", "id = ?", [ns_id]) == 0
    for table in ("robots", "repositories", "permissions", "org_members", "audit_log"):
        assert count(store, table, "namespace_id = ?", [ns_id]) == 0, table
    for table in ("robot_secrets", "permissions", "robot_federations", "refresh_tokens", "federated_credentials"):
        if table in tables(store):
            assert count(store, table, f"robot_id IN ({marks})", robot_ids) == 0, table
    # Nothing points at a row that is gone, in any table (including ones added later).
    assert dangling_references(store) == []
    # The other organization is untouched.
    assert store.get_robot("keep+ci") and store.list_permissions("keep+ci")
    store.authenticate("keep+ci", kept["secrets"][1])
    assert count(store, "users") == 2


def test_a_namespace_recreated_with_the_same_name_inherits_nothing(store, people):
    made = populate(store, "acme")
    store.delete_namespace("acme")
    store.collect_garbage()
    store.create_organization("acme", admin="bob")
    assert store.list_robots("acme") == []
    assert store.list_repositories("acme") == []
    assert [m.username for m in store.list_members("acme")] == ["bob"]
    assert store.list_namespace_grants("acme") == []
    assert store.list_events("acme", start=0, end=1e12) == ([], None)
    # A robot re-created under the old name gets a new secret and no grants.
    store.create_robot("acme+ci")
    for secret in made["secrets"]:
        with pytest.raises(InvalidCredentials):
            store.authenticate("acme+ci", secret)
    assert store.list_permissions("acme+ci") == []
    assert store.list_federations("acme+ci") == []


def test_recreated_before_collection_still_inherits_nothing(store, people):
    made = populate(store, "acme")
    store.delete_namespace("acme")
    store.create_organization("acme", admin="bob")
    store.create_robot("acme+ci")
    assert store.list_permissions("acme+ci") == []
    assert [m.username for m in store.list_members("acme")] == ["bob"]
    with pytest.raises(InvalidCredentials):
        store.authenticate("acme+ci", made["secrets"][1])
    store.collect_garbage()
    assert [r.shortname for r in store.list_robots("acme")] == ["ci"]


def test_deleted_robots_and_repositories_are_collected_alone(store, people):
    populate(store, "acme")
    ci = store.get_robot("acme+ci")
    store.delete_robot("acme+ci")
    store.delete_repository("acme/site")
    removed = store.collect_garbage()
    assert removed["robots"] == 1 and removed["repositories"] == 1
    assert count(store, "robot_secrets", "robot_id = ?", [ci.id]) == 0
    assert count(store, "robot_federations", "robot_id = ?", [ci.id]) == 0
    assert [r.name for r in store.list_repositories("acme")] == ["app"]
    assert store.list_namespace_grants("acme")[0].robot == "acme+other"
    assert dangling_references(store) == []


def test_a_deleted_user_goes_with_tokens_memberships_and_namespace(store, people):
    store.create_organization("acme", admin="alice")
    store.set_member("acme", "bob", "member")
    store.create_api_token("bob")
    store.create_robot("bob+own")
    store.delete_user("bob")
    removed = store.collect_garbage()
    assert removed["users"] == 1 and removed["api_tokens"] == 1 and removed["org_members"] == 1
    assert removed["robots"] == 1
    assert [m.username for m in store.list_members("acme")] == ["alice"]
    store.create_user("bob", PASSWORD)
    assert store.list_api_tokens("bob") == [] and store.list_robots("bob") == []


def test_old_revoked_and_expired_secrets_and_tokens_go_after_the_retention(store, clock, people):
    store.create_organization("acme", admin="alice")
    store.create_robot("acme+ci")
    store.regenerate_secret("acme+ci")
    store.create_api_token("alice", expires_at=clock() + 60)
    live_token = store.create_api_token("alice")
    live_secret = store.regenerate_secret("acme+ci")
    assert store.collect_garbage() == {}
    clock.advance(RETENTION + 61)
    removed = store.collect_garbage()
    assert removed == {"robot_secrets": 2, "api_tokens": 1}
    store.authenticate("acme+ci", live_secret.secret)
    assert store.authenticate_api_token(live_token.token).username == "alice"


def test_a_table_added_later_is_collected_through_its_foreign_key(store, people):
    store.db.execute(f"CREATE TABLE robot_notes (id {integer_key(store)}, robot_id INTEGER NOT NULL REFERENCES robots(id),"
                     " note TEXT)")
    store.create_organization("acme", admin="alice")
    robot = store.create_robot("acme+ci").robot
    try:
        store.db.execute("INSERT INTO robot_notes (robot_id, note) VALUES (?, 'x')", [robot.id])
        store.delete_namespace("acme")
        assert store.collect_garbage()["robot_notes"] == 1
    finally:
        store.db.execute("DROP TABLE robot_notes")  # PostgreSQL's test database outlives the test


def test_collection_runs_in_batches_until_done(store):
    for number in range(7):
        store.create_namespace(f"ns{number}")
        store.create_robot(f"ns{number}+ci")
        store.delete_namespace(f"ns{number}")
    assert store.collect_garbage(batch_size=2) == {"namespaces": 7, "robots": 7, "robot_secrets": 7}
    assert count(store, "namespaces") == 0


def test_a_second_run_finds_nothing(store, people):
    populate(store, "acme")
    store.delete_namespace("acme")
    assert store.collect_garbage()
    assert store.collect_garbage() == {}


async def test_serve_collects_on_its_schedule(aiohttp_client, tmp_path, store, people):
    config = make_config(tmp_path, gc_interval=1)
    keys.generate(config.key_path, config.certificate_path, config.signing_alg)
    await aiohttp_client(create_app(config, store=store))
    populate(store, "acme")
    store.delete_namespace("acme")
    for _ in range(100):
        if count(store, "namespaces", "name = 'acme'") == 0:
            break
        await asyncio.sleep(0.05)
    assert count(store, "namespaces", "name = 'acme'") == 0
    assert dangling_references(store) == []


async def test_a_schedule_of_zero_collects_nothing(aiohttp_client, tmp_path, store):
    config = make_config(tmp_path, gc_interval=0)
    keys.generate(config.key_path, config.certificate_path, config.signing_alg)
    client = await aiohttp_client(create_app(config, store=store))
    store.create_namespace("acme")
    store.delete_namespace("acme")
    await asyncio.sleep(1.2)
    assert (await client.get("/healthz")).status == 200
    assert count(store, "namespaces", "name = 'acme'") == 1


def test_lapsed_keyless_credentials_and_ui_sessions_are_collected(store, people, clock):
    store.create_organization("acme", admin="alice")
    settings = [{"issuer": "https://issuer.example.com", "subject": "repo:x"}]
    federations = {}
    for robot in ("acme+ci", "acme+cd"):
        store.create_robot(robot)
        [federations[robot]] = store.set_federations(robot, settings)
    lapsing = store.issue_federated_credential("acme+ci", federations["acme+ci"].id)
    alice, bob = store.get_user("alice"), store.get_user("bob")
    short = store.create_ui_session(alice.id, lifetime=60)
    idle = store.create_ui_session(bob.id)
    clock.advance(3700)
    live = store.issue_federated_credential("acme+cd", federations["acme+cd"].id)
    # acme+ci's credential lapsed after its hour, alice's session after a minute; bob's
    # session has been idle for an hour, under the idle timeout.
    assert store.collect_garbage() == {"ui_sessions": 1, "federated_credentials": 1}
    assert count(store, "federated_credentials") == 1
    assert store.get_ui_session(idle.session_id) is not None
    assert store.get_ui_session(short.session_id) is None
    with pytest.raises(InvalidCredentials):
        store.authenticate_federated("acme+ci", lapsing.credential)
    assert store.authenticate_federated("acme+cd", live.credential).username == "acme+cd"
    clock.advance(3 * 3600)
    assert store.collect_garbage() == {"ui_sessions": 1, "federated_credentials": 1}
    assert count(store, "ui_sessions") == count(store, "federated_credentials") == 0


def audit_kinds(store) -> list[str]:
    return [row[0] for row in store.db.execute("SELECT kind FROM audit_log ORDER BY id")]


def test_audit_rows_older_than_the_retention_go(store, clock):
    store.create_namespace("acme")
    store.record_event("old_one", "acme")
    store.record_event("old_two", "acme")
    clock.advance(10 * 86400)
    store.record_event("recent", "acme")
    assert store.collect_garbage() == {}, "no retention given: every row stays"
    assert store.collect_garbage(audit_retention=5 * 86400) == {"audit_log": 2}
    assert audit_kinds(store) == ["recent"]
    assert store.collect_garbage(audit_retention=5 * 86400) == {}
    clock.advance(5 * 86400)
    assert store.collect_garbage(audit_retention=5 * 86400) == {"audit_log": 1}


def test_audit_rows_go_in_batches(store, clock):
    store.create_namespace("acme")
    for number in range(7):
        store.record_event(f"old{number}", "acme")
    clock.advance(2 * 86400)
    store.record_event("recent", "acme")
    assert store.collect_garbage(batch_size=2, audit_retention=86400) == {"audit_log": 7}
    assert audit_kinds(store) == ["recent"]


def test_an_audit_row_written_out_of_order_waits_for_the_rows_before_it(store, clock):
    # Rows are removed from the oldest id up to the first one inside the retention, so a
    # row that is older than a row written before it goes once that row has aged out too.
    store.create_namespace("acme")
    store.record_event("old", "acme")
    clock.advance(3 * 86400)
    store.record_event("recent", "acme")
    clock.advance(-3 * 86400)
    store.record_event("late_old", "acme")
    clock.advance(3 * 86400)
    assert store.collect_garbage(audit_retention=86400) == {"audit_log": 1}
    assert audit_kinds(store) == ["recent", "late_old"]
    clock.advance(2 * 86400)
    assert store.collect_garbage(audit_retention=86400) == {"audit_log": 2}


async def test_serve_applies_the_audit_retention(aiohttp_client, tmp_path, store, clock):
    config = make_config(tmp_path, gc_interval=1, audit_retention=1)
    keys.generate(config.key_path, config.certificate_path, config.signing_alg)
    store.create_namespace("acme")
    store.record_event("old", "acme")
    clock.advance(2 * 86400)
    store.record_event("recent", "acme")
    await aiohttp_client(create_app(config, store=store))
    for _ in range(100):
        if audit_kinds(store) == ["recent"]:
            break
        await asyncio.sleep(0.05)
    assert audit_kinds(store) == ["recent"]
