"""Rotating a robot's secret without an outage (grace period) and secrets that expire, in the
store, at /token and on the command line. Time moves only by the test clock."""

import datetime
import json

import pytest

from gateway import cli
from gateway.management.lifetimes import parse_api_expiration, parse_cli_expiry, parse_duration, parse_timestamp
from gateway.management.presenters import secrets_json
from tests.conftest import SERVICE
from tests.lifecycle.conftest import basic
from tokenstore import InvalidCredentials, Store
from tokenstore.secret_lifecycle import MAX_GRACE_SECONDS, LifetimeInvalid, check_grace_seconds


# -- grace period ------------------------------------------------------------------------


def test_default_is_at_once_as_quay(store, robot):
    new = store.rotate_secret("acme+ci")
    with pytest.raises(InvalidCredentials):
        store.authenticate("acme+ci", robot.secret)
    assert store.authenticate("acme+ci", new.secret).secret_id == new.secret_id
    assert [s.id for s in store.list_secrets("acme+ci")] == [new.secret_id]


def test_grace_window_closes(store, robot, clock):
    new = store.rotate_secret("acme+ci", grace_seconds=600)
    # Both work during the window...
    assert store.authenticate("acme+ci", robot.secret).secret_id == robot.secret_id
    assert store.authenticate("acme+ci", new.secret).secret_id == new.secret_id
    clock.advance(599)
    assert store.authenticate("acme+ci", robot.secret).secret_id == robot.secret_id
    # ... and the old one stops when it closes.
    clock.advance(1)
    with pytest.raises(InvalidCredentials) as caught:
        store.authenticate("acme+ci", robot.secret)
    assert caught.value.reason == "invalid"
    assert store.authenticate("acme+ci", new.secret).secret_id == new.secret_id


def test_overlap_is_listed(store, robot, clock):
    created = clock.now
    clock.advance(100)
    new = store.rotate_secret("acme+ci", grace_seconds=3600)
    secrets = store.list_secrets("acme+ci")
    assert [(s.id, s.created, s.expires_at) for s in secrets] == [
        (new.secret_id, created + 100, None),
        (robot.secret_id, created, created + 100 + 3600),
    ]
    shown = secrets_json(secrets)
    assert [s["current"] for s in shown] == [True, False]
    assert shown[0]["expiration"] is None
    assert shown[1]["expiration"].endswith("-0000")
    clock.advance(3600)
    assert [s.id for s in store.list_secrets("acme+ci")] == [new.secret_id]


def test_second_rotation_inside_the_window_does_not_extend_it(store, robot, clock):
    store.rotate_secret("acme+ci", grace_seconds=600)
    clock.advance(300)
    third = store.rotate_secret("acme+ci", grace_seconds=600)
    clock.advance(300)
    with pytest.raises(InvalidCredentials):
        store.authenticate("acme+ci", robot.secret)  # its own window ended at 600
    assert len(store.list_secrets("acme+ci")) == 2
    clock.advance(300)
    assert [s.id for s in store.list_secrets("acme+ci")] == [third.secret_id]


def test_rotation_at_once_ends_an_open_window(store, robot, clock):
    store.rotate_secret("acme+ci", grace_seconds=600)
    latest = store.rotate_secret("acme+ci")
    assert [s.id for s in store.list_secrets("acme+ci")] == [latest.secret_id]


@pytest.mark.parametrize("value,expected", [(0, 0), (600, 600), ("600", 600), (600.0, 600), (MAX_GRACE_SECONDS, MAX_GRACE_SECONDS)])
def test_grace_values(value, expected):
    assert check_grace_seconds(value) == expected


@pytest.mark.parametrize("value", [-1, MAX_GRACE_SECONDS + 1, "abc", "1.5", 1.5, True, None, [1]])
def test_bad_grace_values(store, robot, value):
    with pytest.raises(LifetimeInvalid):
        store.rotate_secret("acme+ci", grace_seconds=value)
    store.authenticate("acme+ci", robot.secret)  # nothing changed


# -- expiry ------------------------------------------------------------------------------


def test_expiring_secret(store, clock):
    store.create_namespace("acme")
    issued = store.create_robot_expiring("acme+ci", expires_at=clock.now + 86400)
    assert [s.expires_at for s in store.list_secrets("acme+ci")] == [clock.now + 86400]
    clock.advance(86399)
    store.authenticate("acme+ci", issued.secret)
    clock.advance(1)
    with pytest.raises(InvalidCredentials) as caught:
        store.authenticate("acme+ci", issued.secret)
    assert caught.value.reason == "expired" and "expired" in str(caught.value)
    assert store.list_secrets("acme+ci") == []


def test_regenerate_with_expiry(store, robot, clock):
    new = store.rotate_secret("acme+ci", expires_at=clock.now + 60)
    clock.advance(60)
    with pytest.raises(InvalidCredentials) as caught:
        store.authenticate("acme+ci", new.secret)
    assert caught.value.reason == "expired"


@pytest.mark.parametrize("offset", [0, -1, -86400])
def test_expiry_must_be_in_the_future(store, clock, robot, offset):
    with pytest.raises(LifetimeInvalid):
        store.create_robot_expiring("acme+other", expires_at=clock.now + offset)
    with pytest.raises(LifetimeInvalid):
        store.rotate_secret("acme+ci", expires_at=clock.now + offset)
    store.authenticate("acme+ci", robot.secret)
    assert [r.shortname for r in store.list_robots("acme")] == ["ci"]


def test_create_without_expiry(store):
    store.create_namespace("acme")
    store.create_robot_expiring("acme+ci")
    assert [s.expires_at for s in store.list_secrets("acme+ci")] == [None]


# -- at /token -----------------------------------------------------------------------------


async def login(client, secret):
    return await client.get("/token", params={"service": SERVICE, "account": "acme+ci"}, headers=basic("acme+ci", secret))


async def test_token_endpoint_during_and_after_the_grace_window(client, store, robot, clock):
    assert (await login(client, robot.secret)).status == 200  # now in the credential cache
    new = store.rotate_secret("acme+ci", grace_seconds=120)
    assert (await login(client, robot.secret)).status == 200
    assert (await login(client, new.secret)).status == 200
    clock.advance(120)
    refused = await login(client, robot.secret)
    assert refused.status == 401
    assert (await login(client, new.secret)).status == 200


def last_used(store) -> list:
    return [secret.last_used for secret in store.list_secrets("acme+ci")]


def test_each_secret_records_its_own_last_use_to_the_minute(store, robot, clock):
    assert last_used(store) == [None]
    new = store.rotate_secret("acme+ci", grace_seconds=3600)
    assert last_used(store) == [None, None]
    started = clock.now
    principal = store.authenticate("acme+ci", robot.secret)
    # Only the old secret was used: whatever still logs in with it shows up here.
    assert last_used(store) == [None, started]
    clock.advance(30)
    assert store.confirm(principal)
    assert last_used(store) == [None, started]  # throttled: once a minute
    clock.advance(30)
    assert store.confirm(principal)
    assert last_used(store) == [None, started + 60]
    store.authenticate("acme+ci", new.secret)
    assert last_used(store) == [started + 60, started + 60]
    shown = secrets_json(store.list_secrets("acme+ci"))
    assert all(entry["last_used"].endswith("-0000") for entry in shown)


def test_redeeming_a_refresh_token_is_a_use_of_its_secret(store, robot, clock):
    token = store.issue_refresh_token(store.authenticate("acme+ci", robot.secret), "docker")
    clock.advance(120)
    store.redeem_refresh_token(token)
    assert last_used(store) == [clock.now]


async def test_the_token_endpoint_records_the_old_secrets_use_during_the_grace_window(client, store, robot, clock):
    assert (await login(client, robot.secret)).status == 200  # now in the credential cache
    new = store.rotate_secret("acme+ci", grace_seconds=600)
    clock.advance(60)
    assert (await login(client, robot.secret)).status == 200  # a cache hit: confirmed, recorded
    assert last_used(store) == [None, clock.now]
    assert (await login(client, new.secret)).status == 200
    assert last_used(store) == [clock.now, clock.now]


async def test_expired_secret_says_so(client, store, clock):
    store.create_namespace("acme")
    issued = store.create_robot_expiring("acme+ci", expires_at=clock.now + 30)
    assert (await login(client, issued.secret)).status == 200
    clock.advance(30)
    response = await login(client, issued.secret)
    assert response.status == 401
    body = await response.json()
    assert "expired" in body["details"] and "regenerate" in body["details"]


# -- parsing lifetimes ---------------------------------------------------------------------


@pytest.mark.parametrize("text,seconds", [("0", 0), ("300", 300), ("90s", 90), ("15m", 900), ("2h", 7200), ("7d", 604800), ("1w", 604800), (" 5M ", 300)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "-5", "1.5h", "5y", "h", "10 minutes"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_expiry_forms():
    now = 1_800_000_000.0
    assert parse_cli_expiry("90d", now) == now + 90 * 86400
    assert parse_cli_expiry("2030-01-31T12:00:00Z", now) == datetime.datetime(2030, 1, 31, 12, tzinfo=datetime.timezone.utc).timestamp()
    assert parse_cli_expiry("2030-01-31", now) == datetime.datetime(2030, 1, 31, tzinfo=datetime.timezone.utc).timestamp()
    assert parse_timestamp("2030-01-31T14:00:00+02:00") == parse_timestamp("2030-01-31T12:00:00Z")
    assert parse_api_expiration(1900000000) == 1900000000.0
    assert parse_api_expiration("2030-01-31T12:00:00Z") == parse_timestamp("2030-01-31T12:00:00Z")
    assert parse_api_expiration(None) is None


@pytest.mark.parametrize("text", ["tomorrow", "2030-01-31T12:00:00", "2030-13-01", "99999999999d"])
def test_bad_cli_expiry(text):
    with pytest.raises(ValueError):
        parse_cli_expiry(text, 1_800_000_000.0)


@pytest.mark.parametrize("value", [True, -5, 0, 2**41, "soon", [], {}])
def test_bad_api_expiration(value):
    with pytest.raises(ValueError):
        parse_api_expiration(value)


# -- the command line ------------------------------------------------------------------------


def run(capsys, *argv):
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture
def cli_dir(tmp_path, capsys):
    # Issuers are not resolved here (no DNS in the tests): the setting lets any through.
    d = ["--data-dir", str(tmp_path / "data"), "--bcrypt-cost", "4", "--allow-private-issuers", "true"]
    assert run(capsys, "init", *d)[0] == 0
    assert run(capsys, "org", "create", "acme", *d)[0] == 0
    return d


def test_cli_regenerate_with_grace(capsys, cli_dir):
    _, out, _ = run(capsys, "robot", "create", "acme+ci", *cli_dir)
    first = json.loads(out)["token"]
    status, out, err = run(capsys, "robot", "regenerate", "acme+ci", "--grace", "1h", *cli_dir)
    assert status == 0, err
    body = json.loads(out)
    assert body["token"] != first
    assert [s["current"] for s in body["secrets"]] == [True, False]
    assert body["secrets"][0]["expiration"] is None and body["secrets"][1]["expiration"] is not None
    _, out, _ = run(capsys, "robot", "show", "acme+ci", *cli_dir)
    assert len(json.loads(out)["secrets"]) == 2
    # Without --grace the previous secrets stop at once.
    _, out, _ = run(capsys, "robot", "regenerate", "acme+ci", *cli_dir)
    assert len(json.loads(out)["secrets"]) == 1


def test_cli_expires(capsys, cli_dir):
    status, out, err = run(capsys, "robot", "create", "acme+ci", "--expires", "30d", *cli_dir)
    assert status == 0, err
    assert "token" in json.loads(out)
    _, out, _ = run(capsys, "robot", "show", "acme+ci", *cli_dir)
    (secret,) = json.loads(out)["secrets"]
    assert secret["expiration"] is not None
    _, out, _ = run(capsys, "robot", "regenerate", "acme+ci", "--expires", "2099-01-01T00:00:00Z", *cli_dir)
    assert json.loads(out)["secrets"][0]["expiration"] == "Thu, 01 Jan 2099 00:00:00 -0000"


@pytest.mark.parametrize("argv,fragment", [
    (["robot", "regenerate", "acme+ci", "--grace", "forever"], "not a duration"),
    (["robot", "regenerate", "acme+ci", "--grace", "365d"], "grace_seconds must be between"),
    (["robot", "regenerate", "acme+ci", "--expires", "2001-01-01T00:00:00Z"], "must be in the future"),
    (["robot", "create", "acme+new", "--expires", "someday"], "neither a duration"),
    (["robot", "federation", "acme+ci", "--set", "{"], "not valid JSON"),
    (["robot", "federation", "acme+ci", "--set", '[{"issuer": "http://ci.example.com", "subject": "x"}]'], "must use https"),
])
def test_cli_errors(capsys, cli_dir, argv, fragment):
    assert run(capsys, "robot", "create", "acme+ci", *cli_dir)[0] == 0
    status, out, err = run(capsys, *argv, *cli_dir)
    assert status == 1 and out == ""
    assert fragment in err and "Traceback" not in err


def test_cli_federation(capsys, cli_dir):
    run(capsys, "robot", "create", "acme+ci", *cli_dir)
    setting = [{"issuer": "https://token.actions.githubusercontent.com", "subject": "repo:acme/app:ref:refs/heads/main",
                "audience": "https://github.com/acme"}]
    status, out, err = run(capsys, "robot", "federation", "acme+ci", "--set", json.dumps(setting), *cli_dir)
    assert status == 0, err
    assert json.loads(out) == setting
    assert json.loads(run(capsys, "robot", "federation", "acme+ci", *cli_dir)[1]) == setting
    assert json.loads(run(capsys, "robot", "show", "acme+ci", *cli_dir)[1])["federation"] == setting
    assert json.loads(run(capsys, "robot", "federation", "acme+ci", "--clear", *cli_dir)[1]) == []


@pytest.mark.parametrize("issuer", ["http://127.0.0.1:8000", "https://10.0.0.5"])
def test_cli_refuses_a_private_issuer_without_the_setting(capsys, cli_dir, issuer):
    strict = [arg for arg in cli_dir if arg not in ("--allow-private-issuers", "true")]
    run(capsys, "robot", "create", "acme+ci", *strict)
    setting = [{"issuer": issuer, "subject": "x"}]
    status, _, err = run(capsys, "robot", "federation", "acme+ci", "--set", json.dumps(setting), *strict)
    assert status == 1 and "entry 0: issuer" in err
    assert json.loads(run(capsys, "robot", "federation", "acme+ci", *strict)[1]) == []


def test_cli_federation_changes_are_audited(capsys, cli_dir, tmp_path):
    run(capsys, "robot", "create", "acme+ci", *cli_dir)
    setting = [{"issuer": "https://gitlab.com", "subject": "project_path:acme/app:ref_type:branch:ref:main"}]
    run(capsys, "robot", "federation", "acme+ci", "--set", json.dumps(setting), *cli_dir)
    run(capsys, "robot", "federation", "acme+ci", "--clear", *cli_dir)
    store = Store(tmp_path / "data" / "regauth.db", bcrypt_cost=4)
    try:
        events, _ = store.list_events("acme", start=0, end=float("inf"),
                                      kinds=["create_robot_federation", "delete_robot_federation"])
    finally:
        store.close()
    assert [e.kind for e in events] == ["delete_robot_federation", "create_robot_federation"]
    assert events[1].metadata["config"] == [{**setting[0], "audience": None}]
