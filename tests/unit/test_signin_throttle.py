"""The web UI's sign-in throttle: in the model, and at ``POST /signin`` over HTTP.

Failures count per user name and client address; after MAX_FAILURES within the window the
pair is refused without a password check until the window moves on.
"""

import re

import pytest

from tokenstore.signin_throttle import MAX_FAILURES, WINDOW

PASSWORD = "correct horse battery staple"
HERE, THERE = "198.51.100.7", "203.0.113.9"


def fail(store, times: int, username: str = "alice", address: str = HERE) -> None:
    for _ in range(times):
        store.record_signin_failure(username, address)


def test_the_limit_is_per_name_and_address(store, clock):
    fail(store, MAX_FAILURES - 1)
    assert store.signin_wait("alice", HERE) == 0
    clock.advance(10)
    fail(store, 1)
    # The oldest of the five leaves the window WINDOW seconds after it was counted.
    assert store.signin_wait("alice", HERE) == pytest.approx(WINDOW - 10)
    assert store.signin_wait("alice", THERE) == 0  # alice can still sign in from elsewhere
    assert store.signin_wait("bob", HERE) == 0
    assert store.signin_wait("alice", None) == 0


def test_the_window_moves_on(store, clock):
    fail(store, 1)
    clock.advance(WINDOW / 2)
    fail(store, MAX_FAILURES - 1)
    assert store.signin_wait("alice", HERE) == pytest.approx(WINDOW / 2)
    clock.advance(WINDOW / 2)
    assert store.signin_wait("alice", HERE) == 0  # four left in the window
    fail(store, 1)
    assert store.signin_wait("alice", HERE) == pytest.approx(WINDOW / 2)


def test_a_success_clears_the_pair_and_the_collector_the_rest(store, clock):
    fail(store, MAX_FAILURES)
    fail(store, MAX_FAILURES, address=THERE)
    store.clear_signin_failures("alice", HERE)
    assert store.signin_wait("alice", HERE) == 0
    assert store.signin_wait("alice", THERE) > 0
    assert store.collect_garbage() == {}
    clock.advance(WINDOW)
    assert store.collect_garbage() == {"signin_failures": MAX_FAILURES}
    assert store.signin_wait("alice", THERE) == 0


def test_very_long_names_are_counted_under_a_bounded_key(store):
    fail(store, MAX_FAILURES, username="a" * 5000, address="x" * 5000)
    assert store.signin_wait("a" * 5000, "x" * 5000) > 0
    (longest,) = store.db.execute("SELECT max(length(username) + length(address)) FROM signin_failures").fetchone()
    assert longest <= 2 * 255


# -- POST /signin ----------------------------------------------------------------------------


async def sign_in(client, username: str, password: str, address: str = HERE):
    form = await client.get("/signin")
    token = re.search(r'name="csrf_token" value="([^"]+)"', await form.text()).group(1)
    return await client.post(
        "/signin", data={"username": username, "password": password, "csrf_token": token},
        headers={"X-Forwarded-For": address}, allow_redirects=False,
    )


async def test_signin_is_refused_after_too_many_failures_without_a_password_check(client, store, bcrypt_runs, clock):
    store.create_user("alice", PASSWORD)
    for _ in range(MAX_FAILURES):
        refused = await sign_in(client, "alice", "not the password")
        assert refused.status == 200 and "Incorrect username or password." in await refused.text()
    checks = len(bcrypt_runs)
    throttled = await sign_in(client, "alice", PASSWORD)  # even the right password waits
    assert throttled.status == 429
    assert int(throttled.headers["Retry-After"]) == WINDOW
    assert "Too many failed sign-ins for this user name from your address. Try again in 15 minutes." in await throttled.text()
    assert len(bcrypt_runs) == checks
    assert "regauth_session" not in throttled.cookies
    # From another address alice signs in, which clears nothing of the first address.
    assert (await sign_in(client, "alice", PASSWORD, THERE)).status == 303
    client.session.cookie_jar.clear()  # signed out again: a new browser
    assert (await sign_in(client, "alice", PASSWORD)).status == 429
    clock.advance(WINDOW)
    assert (await sign_in(client, "alice", PASSWORD)).status == 303
    assert store.signin_wait("alice", HERE) == 0


async def test_names_that_do_not_exist_are_throttled_alike(client, store):
    for _ in range(MAX_FAILURES):
        assert (await sign_in(client, "nobody", PASSWORD)).status == 200
    assert (await sign_in(client, "nobody", PASSWORD)).status == 429
