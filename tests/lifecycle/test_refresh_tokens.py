"""Refresh tokens for docker: issued on an offline login, redeemed by POST /token, bound to
the robot secret they came from, surviving restarts, never rotating."""

import time

import jwt
import pytest

from gateway.app import create_app
from tests.conftest import SERVICE
from tests.lifecycle.conftest import basic
from tokenstore import ANONYMOUS, InvalidCredentials, Principal
from tokenstore.federation import credential_hash
from tokenstore.refresh_tokens import MAX_REFRESH_TOKENS_PER_SECRET, REFRESH_TOKEN_PREFIX
from tests.stores import OtherWriter, reopen

PUSH = "repository:acme/app:pull,push"


async def docker_login(client, secret, user="acme+ci"):
    """What ``docker login`` sends (REGISTRY-FACTS.md)."""
    return await client.get(
        "/token", params={"account": user, "client_id": "docker", "offline_token": "true", "service": SERVICE},
        headers=basic(user, secret),
    )


async def docker_refresh(client, refresh_token, scope=PUSH):
    """What docker sends for every push and pull once it holds a refresh token."""
    return await client.post("/token", data={
        "grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": "docker",
        "scope": scope, "service": SERVICE,
    })


async def refresh_token_of(client, secret):
    response = await docker_login(client, secret)
    assert response.status == 200, await response.text()
    body = await response.json()
    return body["refresh_token"]


async def assert_login_again(response):
    assert response.status == 401, await response.text()
    body = await response.json()
    assert body["errors"][0]["code"] == "UNAUTHORIZED"
    assert "docker login" in body["details"] and "again" in body["details"]
    assert response.headers["WWW-Authenticate"].startswith("Basic")


# -- the model ---------------------------------------------------------------------------


def test_issue_and_redeem(store, robot):
    principal = store.authenticate("acme+ci", robot.secret)
    token = store.issue_refresh_token(principal, "docker")
    assert token.startswith(REFRESH_TOKEN_PREFIX) and len(token) >= 40
    redeemed = store.redeem_refresh_token(token)
    assert (redeemed.username, redeemed.robot_id, redeemed.secret_id) == ("acme+ci", robot.robot.id, robot.secret_id)
    assert store.count_refresh_tokens("acme+ci") == 1


def test_a_busy_database_never_fails_a_redemption(store, robot, clock):
    # Redeeming records when the token (and its robot and secret) were last used. That
    # bookkeeping waits for another process's write lock only briefly and is then skipped:
    # the redemption still answers, well within the busy timeout.
    principal = store.authenticate("acme+ci", robot.secret)
    token = store.issue_refresh_token(principal, "docker")
    store.redeem_refresh_token(token)
    clock.advance(120)  # every last-used record is due again
    with OtherWriter(store):
        began = time.monotonic()
        assert store.redeem_refresh_token(token).username == "acme+ci"
        assert time.monotonic() - began < 2


def test_only_the_hash_is_stored(store, robot):
    token = store.issue_refresh_token(store.authenticate("acme+ci", robot.secret))
    rows = store.db.execute("SELECT hash, client_id FROM refresh_tokens").fetchall()
    assert rows == [(credential_hash(token), "")]


def test_tokens_are_random(store, robot):
    principal = store.authenticate("acme+ci", robot.secret)
    assert len({store.issue_refresh_token(principal) for _ in range(20)}) == 20


@pytest.mark.parametrize("token", ["", "rgref_", "rgref_unknown", "ABC", "rgfed_x"])
def test_unknown_tokens(store, robot, token):
    with pytest.raises(InvalidCredentials) as caught:
        store.redeem_refresh_token(token)
    assert "no longer valid" in str(caught.value)


def test_no_refresh_token_without_a_secret(store, robot):
    with pytest.raises(InvalidCredentials):
        store.issue_refresh_token(ANONYMOUS)
    keyless = Principal(kind="robot", username="acme+ci", robot_id=robot.robot.id, namespace_id=1, secret_id=None)
    with pytest.raises(InvalidCredentials):
        store.issue_refresh_token(keyless)


@pytest.mark.parametrize("end", [
    lambda store, clock: store.regenerate_secret("acme+ci"),
    lambda store, clock: store.delete_robot("acme+ci"),
    lambda store, clock: store.delete_namespace("acme"),
], ids=["regenerated", "robot-deleted", "namespace-deleted"])
def test_revoked_with_its_secret(store, robot, clock, end):
    token = store.issue_refresh_token(store.authenticate("acme+ci", robot.secret))
    end(store, clock)
    with pytest.raises(InvalidCredentials):
        store.redeem_refresh_token(token)


def test_expires_with_its_secret(store, clock):
    store.create_namespace("acme")
    issued = store.create_robot_expiring("acme+ci", expires_at=clock.now + 100)
    token = store.issue_refresh_token(store.authenticate("acme+ci", issued.secret))
    clock.advance(99)
    store.redeem_refresh_token(token)
    clock.advance(1)
    with pytest.raises(InvalidCredentials):
        store.redeem_refresh_token(token)


def test_lives_through_the_grace_period_of_its_secret(store, robot, clock):
    token = store.issue_refresh_token(store.authenticate("acme+ci", robot.secret))
    new = store.regenerate_secret("acme+ci", grace_seconds=600)
    clock.advance(599)
    assert store.redeem_refresh_token(token).secret_id == robot.secret_id
    # A login with the new secret gets a token bound to the new secret.
    newer = store.issue_refresh_token(store.authenticate("acme+ci", new.secret))
    clock.advance(1)
    with pytest.raises(InvalidCredentials):
        store.redeem_refresh_token(token)
    assert store.redeem_refresh_token(newer).secret_id == new.secret_id


def test_issuing_sweeps_dead_tokens_and_caps_live_ones(store, robot, monkeypatch):
    import tokenstore.refresh_tokens as module

    old = store.issue_refresh_token(store.authenticate("acme+ci", robot.secret))
    new = store.regenerate_secret("acme+ci")
    principal = store.authenticate("acme+ci", new.secret)
    monkeypatch.setattr(module, "MAX_REFRESH_TOKENS_PER_SECRET", 3)
    tokens = [store.issue_refresh_token(principal) for _ in range(5)]
    hashes = {row[0] for row in store.db.execute("SELECT hash FROM refresh_tokens")}
    assert hashes == {credential_hash(t) for t in tokens[-3:]}
    assert credential_hash(old) not in hashes
    assert MAX_REFRESH_TOKENS_PER_SECRET >= 100


def test_survives_a_new_store_on_the_same_file(store, robot, tmp_path, clock):
    token = store.issue_refresh_token(store.authenticate("acme+ci", robot.secret))
    store.close()
    reopened = reopen(store, clock)
    try:
        assert reopened.redeem_refresh_token(token).username == "acme+ci"
    finally:
        reopened.close()


# -- over HTTP ---------------------------------------------------------------------------


async def test_docker_login_gets_a_refresh_token(client, robot):
    response = await docker_login(client, robot.secret)
    body = await response.json()
    assert body["refresh_token"].startswith(REFRESH_TOKEN_PREFIX)
    assert body["token"] == body["access_token"]


async def test_no_refresh_token_unless_asked(client, robot):
    response = await client.get("/token", params={"account": "acme+ci", "service": SERVICE},
                                headers=basic("acme+ci", robot.secret))
    assert "refresh_token" not in await response.json()
    anonymous = await client.get("/token", params={"service": SERVICE, "offline_token": "true", "scope": "repository:acme/app:pull"})
    assert anonymous.status == 200 and "refresh_token" not in await anonymous.json()


async def test_refresh_grant(client, robot):
    refresh_token = await refresh_token_of(client, robot.secret)
    response = await docker_refresh(client, refresh_token)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["access_token"] == body["token"]
    assert body["scope"] == PUSH
    assert type(body["expires_in"]) is int and body["issued_at"].endswith("Z")
    assert "refresh_token" not in body  # never rotates
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "acme+ci" and claims["aud"] == SERVICE
    assert claims["access"] == [{"type": "repository", "name": "acme/app", "actions": ["pull", "push"]}]
    # The same token again, and again.
    for _ in range(3):
        assert (await docker_refresh(client, refresh_token)).status == 200


async def test_refresh_grant_downscopes(client, robot, store):
    store.create_repository("acme/secret")
    refresh_token = await refresh_token_of(client, robot.secret)
    response = await docker_refresh(client, refresh_token, "repository:acme/secret:pull repository:acme/app:pull")
    body = await response.json()
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["access"] == [
        {"type": "repository", "name": "acme/secret", "actions": []},
        {"type": "repository", "name": "acme/app", "actions": ["pull"]},
    ]
    assert body["scope"] == "repository:acme/app:pull"


async def test_refresh_after_regenerate_says_log_in_again(client, robot, store):
    refresh_token = await refresh_token_of(client, robot.secret)
    store.regenerate_secret("acme+ci")
    await assert_login_again(await docker_refresh(client, refresh_token))


async def test_refresh_after_grace_closes(client, robot, store, clock):
    refresh_token = await refresh_token_of(client, robot.secret)
    store.regenerate_secret("acme+ci", grace_seconds=300)
    clock.advance(299)
    assert (await docker_refresh(client, refresh_token)).status == 200
    clock.advance(1)
    await assert_login_again(await docker_refresh(client, refresh_token))


async def test_refresh_after_robot_deleted(client, robot, store):
    refresh_token = await refresh_token_of(client, robot.secret)
    store.delete_robot("acme+ci")
    await assert_login_again(await docker_refresh(client, refresh_token))


async def test_refresh_token_survives_a_restart(aiohttp_client, config, robot, store, clock):
    first = await aiohttp_client(create_app(config, store=store))
    refresh_token = await refresh_token_of(first, robot.secret)
    await first.close()
    reopened = reopen(store, clock)
    try:
        second = await aiohttp_client(create_app(config, store=reopened))
        assert (await docker_refresh(second, refresh_token)).status == 200
    finally:
        reopened.close()


async def test_refresh_token_is_no_password(client, robot):
    refresh_token = await refresh_token_of(client, robot.secret)
    response = await client.get("/token", params={"service": SERVICE}, headers=basic("acme+ci", refresh_token))
    assert response.status == 401


async def test_password_grant(client, robot):
    response = await client.post("/token", data={
        "grant_type": "password", "username": "acme+ci", "password": robot.secret, "service": SERVICE,
        "client_id": "containerd", "scope": "repository:acme/app:pull",
    })
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["scope"] == "repository:acme/app:pull" and "refresh_token" not in body
    offline = await client.post("/token", data={
        "grant_type": "password", "username": "acme+ci", "password": robot.secret, "service": SERVICE,
        "access_type": "offline",
    })
    refresh_token = (await offline.json())["refresh_token"]
    assert (await docker_refresh(client, refresh_token)).status == 200


async def test_password_grant_wrong_secret(client, robot):
    response = await client.post("/token", data={
        "grant_type": "password", "username": "acme+ci", "password": "WRONG", "service": SERVICE,
    })
    assert response.status == 401
    assert "invalid username or secret" in (await response.json())["details"]


async def test_password_grant_expired_secret(client, store, clock):
    store.create_namespace("acme")
    issued = store.create_robot_expiring("acme+ci", expires_at=clock.now + 10)
    clock.advance(10)
    response = await client.post("/token", data={
        "grant_type": "password", "username": "acme+ci", "password": issued.secret, "service": SERVICE,
    })
    assert response.status == 401
    assert "expired" in (await response.json())["details"]


@pytest.mark.parametrize("form,message", [
    ({"service": SERVICE}, "missing grant_type"),
    ({"service": SERVICE, "grant_type": "client_credentials"}, "unsupported grant_type"),
    ({"service": SERVICE, "grant_type": "refresh_token"}, "needs a refresh_token"),
    ({"service": SERVICE, "grant_type": "password", "username": "acme+ci"}, "needs username and password"),
    ({"grant_type": "refresh_token", "refresh_token": "x"}, "missing service"),
    ({"service": "other", "grant_type": "refresh_token", "refresh_token": "x"}, "unknown service"),
    ({"service": SERVICE, "grant_type": "refresh_token", "refresh_token": "x", "scope": "bad"}, "malformed scope"),
])
async def test_bad_forms(client, robot, form, message):
    response = await client.post("/token", data=form)
    assert response.status == 400, await response.text()
    assert message in (await response.json())["details"]


async def test_json_body_is_refused(client, robot):
    response = await client.post("/token", json={"grant_type": "refresh_token"})
    assert response.status == 400


async def test_unknown_refresh_token(client, robot):
    await assert_login_again(await docker_refresh(client, "rgref_" + "A" * 43))
