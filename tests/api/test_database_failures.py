"""A database that cannot take a write (its disk full, read-only) answers 503 naming the
cause, on the API, the token endpoint and the web UI; reads go on, nothing is half-written,
and writes work again once the cause is gone."""

import html
import logging
import re

import pytest

from gateway.app import create_app
from tests.api.conftest import Api, assert_error
from tests.conftest import FAST_BCRYPT_COST, SERVICE
from tests.disks import fill, read_only_view, small_disk
from tokenstore import Store
from tokenstore.sqlite.database import WriterLock

FULL = "the database's disk is full"


@pytest.fixture
def disk(tmp_path):
    with small_disk(tmp_path / "disk") as mounted:
        yield mounted


@pytest.fixture
def store(disk, clock):
    """The store (and so the served app) on the small disk."""
    store = Store(disk / "regauth.db", bcrypt_cost=FAST_BCRYPT_COST, clock=clock)
    yield store
    store.close()


def assert_logged_without_traceback(caplog, fragment: str) -> None:
    lines = [r for r in caplog.records if r.levelno == logging.WARNING and fragment in r.getMessage()]
    assert lines, [r.getMessage() for r in caplog.records]
    assert all(r.exc_info is None for r in lines)


async def test_api_writes_on_a_full_disk_are_503_naming_it_reads_go_on(api, store, disk, alice, acme, caplog):
    filler = fill(disk)
    reply = await api.put("/api/v1/organization/acme/robots/ci", alice, json_body={"description": "CI"})
    assert_error(reply, 503, "service_unavailable")
    assert reply.body["detail"] == f"{FULL}: nothing was changed"
    assert reply.headers["Retry-After"].isdigit()
    assert_logged_without_traceback(caplog, FULL)
    # Reads still answer, and nothing of the refused write is there.
    listed = await api.get("/api/v1/organization/acme/robots", alice)
    assert listed.status == 200 and listed.body["robots"] == []
    filler.unlink()
    assert (await api.put("/api/v1/organization/acme/robots/ci", alice, json_body={})).status == 201


async def test_a_token_with_a_refresh_token_on_a_full_disk_is_503_and_no_token(api, store, disk, acme):
    issued = store.create_robot("acme+ci")
    store.grant("acme+ci", "acme", "read")
    form = {"grant_type": "password", "username": "acme+ci", "password": issued.secret, "access_type": "offline",
            "client_id": "docker", "service": SERVICE, "scope": "repository:acme/app:pull"}
    filler = fill(disk)
    async with api.client.post("/token", data=form) as resp:
        body = await resp.json()
    assert resp.status == 503 and resp.headers["Retry-After"].isdigit()
    assert body["errors"][0]["code"] == "UNAVAILABLE" and FULL in body["details"]
    assert "token" not in body and "refresh_token" not in body
    filler.unlink()
    async with api.client.post("/token", data=form) as resp:
        assert resp.status == 200 and "refresh_token" in await resp.json()


async def test_a_robot_token_on_a_full_disk_is_503_and_no_token(api, store, disk, acme):
    issued = store.create_robot("acme+ci")
    store.grant("acme+ci", "acme", "read")
    fill(disk)
    reply = await api.token("acme+ci", issued.secret, "repository:acme/app:pull")
    assert reply.status == 503 and FULL in reply.body["details"]
    assert "token" not in reply.body


async def test_a_sign_in_on_a_full_disk_is_a_503_page_naming_it(api, store, disk, alice):
    async with api.client.get("/signin") as resp:
        csrf_token = re.search(r'name="csrf_token" value="([^"]+)"', await resp.text()).group(1)
    fill(disk)
    async with api.client.post(
        "/signin", data={"username": "alice", "password": "correct horse battery staple", "csrf_token": csrf_token},
        allow_redirects=False,
    ) as resp:
        page = html.unescape(await resp.text())
    assert resp.status == 503 and resp.headers["Retry-After"].isdigit()
    assert f"Nothing was changed: {FULL}." in page and "Traceback" not in page


async def test_api_writes_to_a_read_only_database_are_503_naming_it(aiohttp_client, tmp_path, config, store, alice,
                                                                    acme):
    WriterLock(store.path).close()  # the server made it when it started, before the disk went read-only
    with read_only_view(store.path.parent, tmp_path / "read-only") as view:
        # The app opens the database through the read-only view while `store` keeps it open
        # for writing elsewhere (as after the file system was remounted read-only).
        served = Store(view / store.path.name, bcrypt_cost=FAST_BCRYPT_COST)
        try:
            api = Api(await aiohttp_client(create_app(config, store=served)))
            reply = await api.put("/api/v1/organization/acme/robots/ci", alice, json_body={})
            assert_error(reply, 503, "service_unavailable")
            assert reply.body["detail"] == "the database is read-only: nothing was changed"
            assert (await api.get("/api/v1/organization/acme/robots", alice)).status == 200
        finally:
            served.close()
