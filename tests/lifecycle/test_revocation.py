"""A credential taken away through the API (its 2xx sent) is refused by every token request
still in flight: a cold login whose bcrypt check is running, a warm (cached) login, a refresh
token and a keyless credential waiting for the writer. A grant revoked meanwhile is missing
from the token. And a token is issued only with its audit row, else 503.

The interleavings are made exact, never by sleeping: a gate holds the bcrypt check of the
login until the change has answered, or the test holds the writers' lock (the flock through
which the writer thread takes its turn) while the change is made.
"""

import asyncio
import threading

import jwt
import pytest

from gateway.appkeys import OFFLOAD
from tests.conftest import SERVICE
from tests.lifecycle.conftest import basic
from tests.lifecycle.test_lifecycle_api import ORG_ROBOT, PASSWORD, call
from tokenstore import hashing
from tests.stores import OtherWriter, shorten_lock_waits

PUSH = "repository:acme/app:pull,push"
PERMISSION = "/api/v1/repository/acme/app/permissions/user/acme+ci"
GITHUB = "https://token.actions.githubusercontent.com"
WAIT = 10  # seconds any step may take before the test fails instead of hanging


@pytest.fixture
def people(store):
    """``acme`` (repository ``acme/app``) with its admin alice; returns her API token."""
    store.create_user("alice", PASSWORD)
    token = store.create_api_token("alice").token
    store.create_organization("acme", admin="alice")
    store.create_repository("acme/app")
    return token


@pytest.fixture
async def robot_secret(client, store, people):
    """``acme+ci``, created through the API, with write on ``acme/app``; returns its secret."""
    status, body = await call(client, "PUT", ORG_ROBOT, people)
    assert status == 201, body
    store.grant("acme+ci", "acme/app", "write")
    return body["token"]


class BcryptGate:
    """Holds the next bcrypt check of a given secret until ``release``; the test waits for
    it with ``started``."""

    def __init__(self, monkeypatch, secret: str):
        self._started = threading.Event()
        self._release = threading.Event()
        real = hashing.verify_secret

        def gated(presented, hashed, cost):
            if presented == secret and not self._started.is_set():
                self._started.set()
                self._release.wait(WAIT)
            return real(presented, hashed, cost)

        monkeypatch.setattr(hashing, "verify_secret", gated)

    async def started(self) -> None:
        assert await asyncio.to_thread(self._started.wait, WAIT), "the bcrypt check never began"

    def release(self) -> None:
        self._release.set()


class HeldWriters:
    """The writer thread, held by the test before it begins its next transaction, as when
    another process holds the write lock: token requests queue their final check behind it.
    ``queued`` waits until a token request has handed its job to the writer."""

    def __init__(self, client, store):
        self._released = threading.Event()
        self._queued = asyncio.Event()
        writer = client.app[OFFLOAD]._writer
        real_submit, real_batch = writer.submit_reading, writer._run_in_transaction

        def submit_reading(*args, **kwargs):  # every submit comes here
            self._queued.set()
            return real_submit(*args, **kwargs)

        def held_batch(jobs, reads):
            self._released.wait(WAIT)
            return real_batch(jobs, reads)

        writer.submit_reading = submit_reading
        writer._run_in_transaction = held_batch

    async def queued(self) -> None:
        await asyncio.wait_for(self._queued.wait(), WAIT)

    def release(self) -> None:
        self._released.set()


async def get_token(client, user, password, scope=PUSH, **params):
    async with client.get("/token", params={"service": SERVICE, "scope": scope, **params},
                          headers=basic(user, password)) as response:
        return response.status, await response.json()


def actions(body) -> list[str]:
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    return [action for entry in claims["access"] for action in entry["actions"]]


CHANGES = {
    "delete": lambda client, people: call(client, "DELETE", ORG_ROBOT, people),
    "regenerate": lambda client, people: call(client, "POST", ORG_ROBOT + "/regenerate", people),
    "disable": lambda client, people: call(client, "POST", ORG_ROBOT + "/disable", people),
}
EXPECTED = {"delete": 204, "regenerate": 200, "disable": 200}


# -- a cold login whose bcrypt check is running -------------------------------------------------


@pytest.mark.parametrize("change", sorted(CHANGES))
async def test_cold_login_in_flight_is_refused_after_the_change(client, people, robot_secret, monkeypatch, change):
    gate = BcryptGate(monkeypatch, robot_secret)
    login = asyncio.ensure_future(get_token(client, "acme+ci", robot_secret))
    await gate.started()
    status, _ = await CHANGES[change](client, people)
    assert status == EXPECTED[change]
    gate.release()
    status, body = await asyncio.wait_for(login, WAIT)
    assert status == 401, body
    assert "token" not in body


async def test_cold_login_in_flight_lacks_a_grant_revoked_meanwhile(client, people, robot_secret, monkeypatch):
    gate = BcryptGate(monkeypatch, robot_secret)
    login = asyncio.ensure_future(get_token(client, "acme+ci", robot_secret))
    await gate.started()
    assert (await call(client, "DELETE", PERMISSION, people))[0] == 204
    gate.release()
    status, body = await asyncio.wait_for(login, WAIT)
    assert status == 200 and actions(body) == []


# -- requests waiting for the writer: warm, refresh token, keyless -----------------------------------


@pytest.mark.parametrize("change", sorted(CHANGES))
async def test_warm_login_waiting_for_the_writer_is_refused_after_the_change(client, store, people, robot_secret, change):
    assert (await get_token(client, "acme+ci", robot_secret))[0] == 200  # now cached
    held = HeldWriters(client, store)
    try:
        login = asyncio.ensure_future(get_token(client, "acme+ci", robot_secret))
        await held.queued()
        status, _ = await CHANGES[change](client, people)
        assert status == EXPECTED[change]
    finally:
        held.release()
    status, body = await asyncio.wait_for(login, WAIT)
    assert status == 401, body


async def test_warm_login_waiting_for_the_writer_lacks_a_grant_revoked_meanwhile(client, store, people, robot_secret):
    assert actions((await get_token(client, "acme+ci", robot_secret))[1]) == ["pull", "push"]
    held = HeldWriters(client, store)
    try:
        login = asyncio.ensure_future(get_token(client, "acme+ci", robot_secret))
        await held.queued()
        assert (await call(client, "DELETE", PERMISSION, people))[0] == 204
    finally:
        held.release()
    status, body = await asyncio.wait_for(login, WAIT)
    assert status == 200 and actions(body) == []


@pytest.mark.parametrize("change", sorted(CHANGES))
async def test_refresh_token_waiting_for_the_writer_is_refused_after_the_change(client, store, people, robot_secret, change):
    status, body = await get_token(client, "acme+ci", robot_secret, offline_token="true", client_id="docker")
    refresh_token = body["refresh_token"]
    held = HeldWriters(client, store)
    try:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": "docker",
                "service": SERVICE, "scope": PUSH}
        redeem = asyncio.ensure_future(client.post("/token", data=form))
        await held.queued()
        status, _ = await CHANGES[change](client, people)
        assert status == EXPECTED[change]
    finally:
        held.release()
    response = await asyncio.wait_for(redeem, WAIT)
    assert response.status == 401, await response.text()


async def test_keyless_credential_waiting_for_the_writer_is_refused_after_its_federation_is_removed(
    client, store, people, robot_secret,
):
    status, body = await call(client, "POST", ORG_ROBOT + "/federation", people, [{"issuer": GITHUB, "subject": "main"}])
    assert status == 200, body
    (federation,) = store.list_federations("acme+ci")
    credential = store.issue_federated_credential("acme+ci", federation.id).credential
    assert (await get_token(client, "acme+ci", credential))[0] == 200
    held = HeldWriters(client, store)
    try:
        login = asyncio.ensure_future(get_token(client, "acme+ci", credential))
        await held.queued()
        assert (await call(client, "DELETE", ORG_ROBOT + "/federation", people))[0] == 204
    finally:
        held.release()
    status, body = await asyncio.wait_for(login, WAIT)
    assert status == 401, body


# -- no audit row, no token ------------------------------------------------------------------------------


async def test_no_token_when_its_audit_row_cannot_be_written(client, store, people, robot_secret, monkeypatch):
    # The writer thread opens its connection at its first job: give it a short busy timeout.
    shorten_lock_waits(monkeypatch, store)
    with OtherWriter(store):  # another process's long write
        status, body = await get_token(client, "acme+ci", robot_secret)
        assert status == 503, body
        assert "token" not in body and "access_token" not in body
    issued = store.db.execute("SELECT count(*) FROM audit_log WHERE kind = 'issue_token'").fetchone()[0]
    assert issued == 0
    status, body = await get_token(client, "acme+ci", robot_secret)
    assert status == 200 and actions(body) == ["pull", "push"]
    assert store.db.execute("SELECT count(*) FROM audit_log WHERE kind = 'issue_token'").fetchone()[0] == 1
