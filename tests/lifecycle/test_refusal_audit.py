"""Refused logins and keyless exchanges are counted in the audit log, not listed: one row per
name, address and reason per interval, with the client's text cut short; the usage log shows
them as refused."""

import jwt
import pytest

from gateway.app import create_app
from gateway.token import keys
from gateway.ui.usage_logs import describe
from tests.conftest import SERVICE, make_config
from tests.lifecycle.conftest import basic
from tokenstore.audit import MAX_REFUSED_TEXT, REFUSAL_INTERVAL

EXCHANGE = "/oauth2/federation/robot/token"
ATTEMPTS = 200


@pytest.fixture
async def client(aiohttp_client, tmp_path, store):
    """An app whose login throttle lets every attempt of these tests through."""
    config = make_config(tmp_path, login_failures_per_address="100000/minute", login_failures_per_robot="100000/minute")
    keys.generate(config.key_path, config.certificate_path, config.signing_alg)
    return await aiohttp_client(create_app(config, store=store))


def from_address(headers: dict, address: str) -> dict:
    return {**headers, "X-Forwarded-For": address, "User-Agent": "guesser/1.0"}


def unknown_issuer_token(issuer: str = "https://ci.example", subject: str = "repo:x") -> str:
    # Refused before any key is fetched: the robot trusts no such issuer.
    return jwt.encode({"iss": issuer, "sub": subject}, "k" * 32, algorithm="HS256")


async def keyless_login(client, name: str, address: str):
    headers = from_address(basic(name, "rgfed_" + "A" * 43), address)
    return await client.get("/token", params={"service": SERVICE}, headers=headers)


async def exchange(client, name: str, token: str, address: str):
    return await client.get(EXCHANGE, headers=from_address(basic(name, token), address))


def events(store, kind: str):
    found, _ = store.list_events("acme", start=0, end=float("inf"), kinds=[kind], limit=1000)
    return found


async def test_repeated_refused_keyless_logins_are_one_row_with_a_count(client, store, robot):
    for _ in range(ATTEMPTS):
        assert (await keyless_login(client, "acme+ci", "203.0.113.7")).status == 401
    [row] = events(store, "login_failure")
    assert row.metadata["count"] == ATTEMPTS and row.metadata["reason"] == "invalid"
    assert (row.performer, row.ip) == ("acme+ci", "203.0.113.7")


async def test_repeated_refused_exchanges_are_one_row_with_a_count(client, store, robot):
    for _ in range(ATTEMPTS):
        assert (await exchange(client, "acme+ci", unknown_issuer_token(), "203.0.113.7")).status == 401
    [row] = events(store, "federated_robot_token_exchange")
    assert row.metadata["count"] == ATTEMPTS and row.metadata["success"] is False
    assert "no federation setting" in row.metadata["reason"]

    shown = describe(row)
    assert shown.refused and shown.label == "Keyless login refused"
    assert f"({ATTEMPTS} times)" in shown.details


async def test_another_address_reason_or_interval_starts_a_new_row(client, store, robot, clock):
    for address in ("203.0.113.7", "203.0.113.7", "203.0.113.8"):
        assert (await keyless_login(client, "acme+ci", address)).status == 401
    assert (await exchange(client, "acme+ci", "not a jwt", "203.0.113.7")).status == 401
    assert (await exchange(client, "acme+ci", unknown_issuer_token(), "203.0.113.7")).status == 401
    clock.advance(REFUSAL_INTERVAL + 1)
    assert (await keyless_login(client, "acme+ci", "203.0.113.7")).status == 401
    counts = sorted((e.kind, e.ip, e.metadata["count"]) for e in events(store, "login_failure"))
    assert counts == [("login_failure", "203.0.113.7", 1), ("login_failure", "203.0.113.7", 2),
                      ("login_failure", "203.0.113.8", 1)]
    assert len(events(store, "federated_robot_token_exchange")) == 2


async def test_a_successful_login_still_writes_its_own_rows(client, store, robot):
    headers = from_address(basic("acme+ci", robot.secret), "203.0.113.7")
    for _ in range(2):
        assert (await client.get("/token", params={"service": SERVICE}, headers=headers)).status == 200
    assert len(events(store, "login_success")) == 2 and "count" not in events(store, "login_success")[0].metadata


def assert_cut(row) -> None:
    assert len(row.performer) <= MAX_REFUSED_TEXT + 3 and row.performer.startswith("acme+xxx")
    for value in row.metadata.values():
        assert not isinstance(value, str) or len(value) <= MAX_REFUSED_TEXT + 3


async def test_long_names_issuers_and_subjects_are_stored_cut(client, store, robot):
    # As long as fits in aiohttp's 8 KB header limit, twice encoded in base64.
    long_name = "acme+" + "x" * 5_000
    assert (await keyless_login(client, long_name, "203.0.113.7")).status == 401
    long = "h" * 1_500
    assert (await exchange(client, long_name[:1_500], unknown_issuer_token(long, long), "203.0.113.7")).status == 401
    rows = events(store, "login_failure") + events(store, "federated_robot_token_exchange")
    assert len(rows) == 2
    for row in rows:
        assert_cut(row)


def test_a_ten_kilobyte_name_and_user_agent_are_stored_cut(store, robot):
    huge = "x" * 10_000
    store.record_robot_login(f"acme+{huge}", success=False, reason=huge, ip=huge, user_agent=huge)
    [row] = events(store, "login_failure")
    assert_cut(row)
    assert len(row.ip) <= MAX_REFUSED_TEXT + 3
    stored = store.db.execute("SELECT length(metadata) + length(performer) + length(ip) FROM audit_log").fetchone()[0]
    assert stored < 2_000
