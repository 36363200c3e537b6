"""Failed logins cost the guesser: 429 per address and per robot name without a bcrypt run,
503 beyond the bound of pending checks, and verified credentials never throttled."""

import asyncio
import base64
import os
import secrets
import threading

import pytest

from gateway.app import create_app
from gateway.token import keys
from tests.conftest import SERVICE, make_config
from tokenstore import hashing

ADDRESS_A, ADDRESS_B = "203.0.113.10", "198.51.100.20"


def login_headers(user: str, secret: str, address: str) -> dict:
    # The test client connects from 127.0.0.1, a trusted proxy by default: its
    # X-Forwarded-For is the client address the throttle counts.
    token = base64.b64encode(f"{user}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}", "X-Forwarded-For": address}


async def login(client, user: str, secret: str, address: str):
    return await client.get("/token", params={"service": SERVICE}, headers=login_headers(user, secret, address))


def wrong() -> str:
    return secrets.token_hex(32).upper()


@pytest.fixture
def robots(store):
    """Three robots of ``myorg``: name -> secret."""
    store.create_namespace("myorg")
    return {name: store.create_robot(name).secret for name in ("myorg+ci", "myorg+other", "myorg+fresh")}


@pytest.fixture
def throttled_client(aiohttp_client, tmp_path, store):
    """Return ``make(**settings)``: a test client of an app with those settings."""

    async def make(**settings):
        config = make_config(tmp_path, **settings)
        keys.generate(config.key_path, config.certificate_path, config.signing_alg)
        return await aiohttp_client(create_app(config, store=store))

    return make


async def assert_throttled(response, fragment: str) -> int:
    """Assert a 429 in the registry's error shape; returns its Retry-After in seconds."""
    assert response.status == 429, await response.text()
    body = await response.json()
    assert body["errors"][0]["code"] == "TOOMANYREQUESTS"
    assert fragment in body["details"] and "try again in" in body["details"], body
    wait = int(response.headers["Retry-After"])
    assert 1 <= wait <= 60
    return wait


async def test_failures_from_one_address_throttle_its_cold_checks_only(throttled_client, robots, bcrypt_runs):
    client = await throttled_client(login_failures_per_address="3/minute", login_failures_per_robot="1000/minute")
    assert (await login(client, "myorg+ci", robots["myorg+ci"], ADDRESS_A)).status == 200  # now verified
    for _ in range(3):
        assert (await login(client, "myorg+ci", wrong(), ADDRESS_A)).status == 401
    checks = len(bcrypt_runs)

    await assert_throttled(await login(client, "myorg+ci", wrong(), ADDRESS_A), ADDRESS_A)
    assert len(bcrypt_runs) == checks  # refused without a check
    # Another robot's first login from that address is checked (in its turn) and succeeds.
    assert (await login(client, "myorg+other", robots["myorg+other"], ADDRESS_A)).status == 200
    checks += 1
    assert len(bcrypt_runs) == checks
    # ... and once a name has failed from there, it is refused too.
    assert (await login(client, "myorg+fresh", wrong(), ADDRESS_A)).status == 401
    await assert_throttled(await login(client, "myorg+fresh", robots["myorg+fresh"], ADDRESS_A), ADDRESS_A)
    checks += 1
    assert len(bcrypt_runs) == checks

    # A verified credential needs no check: never throttled, even from the guessing address.
    assert (await login(client, "myorg+ci", robots["myorg+ci"], ADDRESS_A)).status == 200
    # Another address is not held back by this one's failures.
    assert (await login(client, "myorg+fresh", robots["myorg+fresh"], ADDRESS_B)).status == 200
    assert len(bcrypt_runs) == checks + 1


async def test_failures_for_one_name_throttle_it_from_every_address(throttled_client, robots, bcrypt_runs):
    client = await throttled_client(login_failures_per_address="1000/minute", login_failures_per_robot="3/minute")
    for n in range(3):
        assert (await login(client, "myorg+ci", wrong(), f"192.0.2.{n + 1}")).status == 401
    checks = len(bcrypt_runs)
    await assert_throttled(await login(client, "myorg+ci", robots["myorg+ci"], "192.0.2.99"), "myorg+ci")
    assert len(bcrypt_runs) == checks
    assert (await login(client, "myorg+other", robots["myorg+other"], "192.0.2.99")).status == 200


async def test_refused_keyless_credentials_count_against_the_address(throttled_client, robots, bcrypt_runs):
    client = await throttled_client(login_failures_per_address="3/minute")
    for _ in range(3):
        assert (await login(client, "myorg+ci", "rgfed_" + wrong(), ADDRESS_A)).status == 401
    await assert_throttled(await login(client, "myorg+ci", "rgfed_" + wrong(), ADDRESS_A), ADDRESS_A)
    assert bcrypt_runs == []
    # Keyless refusals count against the address, not the name: the robot's own secret from
    # there is still checked, and accepted.
    assert (await login(client, "myorg+ci", robots["myorg+ci"], ADDRESS_A)).status == 200
    assert len(bcrypt_runs) == 1


async def test_ipv6_addresses_are_counted_by_their_64(throttled_client, robots):
    client = await throttled_client(login_failures_per_address="2/minute")
    for host in ("1", "2"):
        assert (await login(client, "myorg+ci", wrong(), f"2001:db8:1:2::{host}")).status == 401
    await assert_throttled(await login(client, "myorg+ci", wrong(), "2001:db8:1:2::ffff"), "2001:db8:1:2::ffff")
    assert (await login(client, "myorg+ci", robots["myorg+ci"], "2001:db8:1:3::1")).status == 200


async def test_the_window_moving_on_lets_logins_through_again(throttled_client, robots):
    client = await throttled_client(login_failures_per_address="2 per 2 seconds")
    for _ in range(2):
        assert (await login(client, "myorg+ci", wrong(), ADDRESS_A)).status == 401
    wait = await assert_throttled(await login(client, "myorg+ci", wrong(), ADDRESS_A), ADDRESS_A)
    assert wait <= 2
    await asyncio.sleep(wait + 0.2)  # the throttle's clock is the real one
    assert (await login(client, "myorg+ci", robots["myorg+ci"], ADDRESS_A)).status == 200


@pytest.fixture
def held_bcrypt(monkeypatch):
    """bcrypt checks wait for ``release`` (at most 30 s) before running; ``entered`` holds
    the password of each check that reached bcrypt."""

    class Held:
        release = threading.Event()
        entered: list = []

    real = hashing.bcrypt.checkpw

    def held(password, hashed):
        Held.entered.append(password)
        Held.release.wait(30)
        return real(password, hashed)

    monkeypatch.setattr(hashing.bcrypt, "checkpw", held)
    yield Held
    Held.release.set()


async def test_checks_beyond_the_bound_are_refused_at_once(throttled_client, robots, held_bcrypt):
    client = await throttled_client(max_pending_bcrypt=1)
    held_bcrypt.release.set()
    assert (await login(client, "myorg+ci", robots["myorg+ci"], ADDRESS_A)).status == 200  # now verified
    held_bcrypt.release.clear()

    pending = asyncio.ensure_future(login(client, "myorg+other", robots["myorg+other"], ADDRESS_A))
    for _ in range(500):  # until its check is on the bcrypt pool: at most 5 s
        if len(held_bcrypt.entered) == 2:
            break
        await asyncio.sleep(0.01)
    assert len(held_bcrypt.entered) == 2

    refused = await login(client, "myorg+fresh", robots["myorg+fresh"], ADDRESS_B)
    assert refused.status == 503, await refused.text()
    body = await refused.json()
    assert body["errors"][0]["code"] == "UNAVAILABLE" and "try again in" in body["details"]
    assert int(refused.headers["Retry-After"]) >= 1
    assert len(held_bcrypt.entered) == 2  # not queued
    # Verified credentials need no check and keep working meanwhile.
    assert (await login(client, "myorg+ci", robots["myorg+ci"], ADDRESS_B)).status == 200

    held_bcrypt.release.set()
    assert (await pending).status == 200
    assert (await login(client, "myorg+fresh", robots["myorg+fresh"], ADDRESS_B)).status == 200


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two bcrypt threads to hold two checks at once")
async def test_checks_running_count_against_the_limit(throttled_client, robots, held_bcrypt):
    client = await throttled_client(login_failures_per_robot="2/minute", login_failures_per_address="1000/minute")
    guesses = [asyncio.ensure_future(login(client, "myorg+ci", wrong(), f"192.0.2.{n}")) for n in (1, 2)]
    for _ in range(500):  # until both checks are running: at most 5 s
        if len(held_bcrypt.entered) == 2:
            break
        await asyncio.sleep(0.01)
    assert len(held_bcrypt.entered) == 2
    # Two checks of the name are running, none has failed yet: a third would exceed the limit.
    refused = await login(client, "myorg+ci", wrong(), "192.0.2.9")
    await assert_throttled(refused, "myorg+ci")
    assert refused.headers["Retry-After"] == "1"
    held_bcrypt.release.set()
    assert [(await guess).status for guess in guesses] == [401, 401]
    assert len(held_bcrypt.entered) == 2


async def test_suspect_checks_take_turns_and_leave_the_pool_to_others(throttled_client, robots, held_bcrypt):
    client = await throttled_client(login_failures_per_address="100/minute")
    held_bcrypt.release.set()
    assert (await login(client, "myorg+ci", wrong(), ADDRESS_A)).status == 401  # ADDRESS_A is now suspect
    held_bcrypt.release.clear()
    held_bcrypt.entered.clear()

    guesses = [asyncio.ensure_future(login(client, f"myorg+guess{n}", wrong(), ADDRESS_A)) for n in range(3)]
    fresh = asyncio.ensure_future(login(client, "myorg+fresh", robots["myorg+fresh"], ADDRESS_B))
    for _ in range(500):  # until the fresh robot's check runs: at most 5 s
        if robots["myorg+fresh"].encode() in held_bcrypt.entered:
            break
        await asyncio.sleep(0.01)
    # One of the guesses runs; the others wait for their turn instead of taking the other thread.
    assert robots["myorg+fresh"].encode() in held_bcrypt.entered
    assert len(held_bcrypt.entered) == 2
    held_bcrypt.release.set()
    assert (await fresh).status == 200
    assert sorted([(await guess).status for guess in guesses]) == [401, 401, 401]
    assert len(held_bcrypt.entered) == 4
