"""Disabling and enabling robots, robots created with an existing secret, a robot
regenerating its own secret, and the namespace setting that allows it."""

import asyncio
import contextlib
import json
import sqlite3

import psycopg
import pytest

from tests.api.conftest import QUAY_ROBOT_KEYS, assert_error
from tests.api.test_robots import SECRET, robots  # noqa: F401 - the fixture: acme's robots, or alice's own
from tests.conftest import SERVICE
from tests.lifecycle.conftest import basic
from tokenstore.postgres.schema import WRITE_LOCK_KEY

MIGRATED = "QUAYSECRET" + "0123456789" * 5 + "ABCD"  # 64 characters from [A-Z0-9]


def audit_kinds(store, namespace: str, clock) -> list[str]:
    events, _ = store.list_events(namespace, start=0, end=clock() + 1)
    return [event.kind for event in events]


# -- disable and enable ---------------------------------------------------------------------


async def test_disable_refuses_the_next_token_request_and_enable_lets_it_in_again(api, store, robots, alice, clock):
    base, ns = robots
    secret = (await api.put(f"{base}/ci", alice)).body["token"]
    store.create_repository(f"{ns}/app")
    store.grant(f"{ns}+ci", f"{ns}/app", "write")
    assert (await api.token(f"{ns}+ci", secret, f"repository:{ns}/app:pull")).status == 200  # now cached

    reply = await api.post(f"{base}/ci/disable", alice)
    assert reply.status == 200, reply
    assert reply.body["name"] == f"{ns}+ci" and reply.body["enabled"] is False
    assert "token" not in reply.body
    refused = await api.token(f"{ns}+ci", secret, f"repository:{ns}/app:pull")
    assert refused.status == 401
    assert "disabled" in refused.body["details"]  # said to the holder of the right secret only

    reply = await api.post(f"{base}/ci/enable", alice)
    assert reply.status == 200 and reply.body["enabled"] is True
    again = await api.token(f"{ns}+ci", secret, f"repository:{ns}/app:pull")
    assert again.status == 200
    kinds = audit_kinds(store, ns, clock)  # newest first
    assert kinds.index("enable_robot") < kinds.index("disable_robot")


async def test_a_wrong_secret_for_a_disabled_robot_is_told_nothing_more(api, robots, alice):
    base, ns = robots
    await api.put(f"{base}/ci", alice)
    await api.post(f"{base}/ci/disable", alice)
    refused = await api.token(f"{ns}+ci", "A" * 64)
    assert refused.status == 401 and "disabled" not in json.dumps(refused.body)


async def test_list_and_get_show_enabled(api, robots, alice):
    base, ns = robots
    await api.put(f"{base}/on", alice)
    await api.put(f"{base}/off", alice)
    await api.post(f"{base}/off/disable", alice)
    listed = {robot["name"]: robot["enabled"] for robot in (await api.get(base, alice)).body["robots"]}
    assert listed == {f"{ns}+off": False, f"{ns}+on": True}
    assert (await api.get(f"{base}/off", alice)).body["enabled"] is False
    assert (await api.get(f"{base}/on", alice)).body["enabled"] is True


async def test_disabling_twice_logs_once_and_keeps_the_robot_disabled(api, store, robots, alice, clock):
    base, ns = robots
    await api.put(f"{base}/ci", alice)
    assert (await api.post(f"{base}/ci/disable", alice)).status == 200
    clock.advance(10)
    assert (await api.post(f"{base}/ci/disable", alice)).body["enabled"] is False
    assert audit_kinds(store, ns, clock).count("disable_robot") == 1
    assert (await api.post(f"{base}/ci/enable", alice)).status == 200
    assert (await api.post(f"{base}/ci/enable", alice)).status == 200
    assert audit_kinds(store, ns, clock).count("enable_robot") == 1


async def test_a_refresh_token_stops_while_its_robot_is_disabled(api, client, robots, alice):
    base, ns = robots
    secret = (await api.put(f"{base}/ci", alice)).body["token"]
    login = await api.call("GET", f"/token?service={SERVICE}&offline_token=true&client_id=docker",
                           headers=basic(f"{ns}+ci", secret))
    form = {"grant_type": "refresh_token", "refresh_token": login.body["refresh_token"], "client_id": "docker",
            "service": SERVICE}
    await api.post(f"{base}/ci/disable", alice)
    async with client.post("/token", data=form) as response:
        assert response.status == 401
    await api.post(f"{base}/ci/enable", alice)
    async with client.post("/token", data=form) as response:
        assert response.status == 200


async def test_only_admins_disable(api, acme, alice, bob, mallory):
    await api.put("/api/v1/organization/acme/robots/ci", alice)
    for who in (bob, mallory):
        for action in ("disable", "enable"):
            assert_error(await api.post(f"/api/v1/organization/acme/robots/ci/{action}", who), 403, "insufficient_scope")
    assert_error(await api.post("/api/v1/organization/acme/robots/ci/disable"), 401, "invalid_token")


async def test_disabling_an_unknown_robot_is_404(api, robots, alice):
    base, _ = robots
    assert_error(await api.post(f"{base}/ghost/disable", alice), 404, "not_found")
    assert_error(await api.post(f"{base}/Bad..Name/enable", alice), 400, "invalid_request")


# -- an existing secret ---------------------------------------------------------------------


async def test_a_superuser_creates_a_robot_with_an_existing_secret_which_is_not_echoed(api, store, acme, root, clock):
    base, ns = "/api/v1/organization/acme/robots", "acme"
    reply = await api.put(f"{base}/migrated", root, json_body={"token": MIGRATED, "description": "from quay"})
    assert reply.status == 201, reply
    assert "token" not in reply.body and MIGRATED not in json.dumps(reply.body)
    assert reply.body["description"] == "from quay"
    assert (await api.token(f"{ns}+migrated", MIGRATED)).status == 200
    events, _ = store.list_events(ns, start=0, end=clock() + 1)
    assert MIGRATED not in json.dumps([event.metadata for event in events])


async def test_a_superuser_gives_their_own_robot_an_existing_secret(api, root):
    reply = await api.put("/api/v1/user/robots/migrated", root, json_body={"token": MIGRATED})
    assert reply.status == 201 and "token" not in reply.body
    assert (await api.token("root+migrated", MIGRATED)).status == 200


@pytest.mark.parametrize("given", [
    MIGRATED[:-1], MIGRATED + "A", MIGRATED.lower(), MIGRATED[:-1] + "-", MIGRATED[:-1] + "É", "", 12, ["A"], {"a": 1},
])
async def test_an_existing_secret_of_another_format_is_400_without_repeating_it(api, acme, root, given):
    reply = await api.put("/api/v1/organization/acme/robots/migrated", root, json_body={"token": given})
    assert_error(reply, 400, "invalid_request")
    assert "64 characters" in reply.body["detail"] or "text" in reply.body["detail"]
    if isinstance(given, str) and given:
        assert given not in reply.body["detail"]
    assert_error(await api.get("/api/v1/organization/acme/robots/migrated", root), 404, "not_found")


async def test_only_a_superuser_may_give_an_existing_secret(api, robots, alice):
    base, _ = robots
    reply = await api.put(f"{base}/migrated", alice, json_body={"token": MIGRATED})
    assert_error(reply, 403, "insufficient_scope")
    assert MIGRATED not in reply.body["detail"]
    assert_error(await api.get(f"{base}/migrated", alice), 404, "not_found")


async def test_a_null_token_is_an_ordinary_create(api, robots, alice):
    base, _ = robots
    reply = await api.put(f"{base}/ci", alice, json_body={"token": None})
    assert reply.status == 201 and SECRET.fullmatch(reply.body["token"])


# -- robot settings -------------------------------------------------------------------------


async def test_robot_settings_default_off_and_change_with_an_audit_row(api, store, robots, alice, clock):
    _, ns = robots
    path = f"/api/v1/namespace/{ns}/robotsettings"
    assert (await api.get(path, alice)).body == {"namespace": ns, "self_regenerate": False}
    reply = await api.put(path, alice, json_body={"self_regenerate": True})
    assert reply.status == 200 and reply.body == {"namespace": ns, "self_regenerate": True}
    assert (await api.get(path, alice)).body["self_regenerate"] is True
    assert audit_kinds(store, ns, clock)[0] == "change_robot_settings"


@pytest.mark.parametrize("body", [{}, {"self_regenerate": "yes"}, {"self_regenerate": 1}, {"other": True}, [], None])
async def test_bad_robot_settings_are_400(api, acme, alice, body):
    reply = await api.call("PUT", "/api/v1/namespace/acme/robotsettings", alice,
                           data=json.dumps(body) if body is not None else b"")
    assert_error(reply, 400, "invalid_request")


async def test_only_admins_see_and_change_robot_settings(api, acme, bob, mallory):
    for who in (bob, mallory):
        assert_error(await api.get("/api/v1/namespace/acme/robotsettings", who), 403, "insufficient_scope")
        assert_error(await api.put("/api/v1/namespace/acme/robotsettings", who, json_body={"self_regenerate": True}),
                     403, "insufficient_scope")


# -- a robot regenerates its own secret -----------------------------------------------------


async def test_self_regenerate_is_refused_by_default_with_a_clear_403(api, robots, alice):
    base, ns = robots
    secret = (await api.put(f"{base}/ci", alice)).body["token"]
    reply = await api.post(f"{base}/ci/regenerate", headers=basic(f"{ns}+ci", secret))
    assert_error(reply, 403, "insufficient_scope")
    assert "self_regenerate" in reply.body["detail"]
    assert (await api.token(f"{ns}+ci", secret)).status == 200  # unchanged


async def test_a_robot_regenerates_its_own_secret_when_allowed(api, store, robots, alice, clock):
    base, ns = robots
    old = (await api.put(f"{base}/ci", alice)).body["token"]
    await api.put(f"/api/v1/namespace/{ns}/robotsettings", alice, json_body={"self_regenerate": True})
    reply = await api.post(f"{base}/ci/regenerate", headers=basic(f"{ns}+ci", old))
    assert reply.status == 200, reply
    new = reply.body["token"]
    assert SECRET.fullmatch(new) and new != old and reply.body["name"] == f"{ns}+ci"
    assert set(reply.body) == QUAY_ROBOT_KEYS  # as an admin's regeneration answers
    assert (await api.token(f"{ns}+ci", old)).status == 401
    assert (await api.token(f"{ns}+ci", new)).status == 200
    events, _ = store.list_events(ns, start=0, end=clock() + 1, kinds=["regenerate_robot_token"])
    assert [(e.performer, e.performer_kind) for e in events] == [(f"{ns}+ci", "robot")]


@contextlib.contextmanager
def another_processes_token_batch(store):
    """Hold the write lock as another process's writer does while its batch of token
    issuances runs: shared on PostgreSQL, SQLite's one write transaction on SQLite."""
    if store.backend == "postgresql":
        with psycopg.connect(store.url, autocommit=True) as conn:
            conn.execute(f"BEGIN; SELECT pg_advisory_xact_lock_shared({WRITE_LOCK_KEY})")
            yield
            conn.execute("COMMIT")
        return
    conn = sqlite3.connect(store.path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
        conn.execute("COMMIT")
    finally:
        conn.close()


async def test_a_self_regeneration_waits_for_token_batches_under_way_elsewhere(api, store, robots, alice):
    """Taking a secret away, a robot's own regeneration holds the write lock alone, as an
    admin's does: it waits for another process's batch under way, which may have confirmed
    the old secret, so no token of the old secret is issued after it answered."""
    base, ns = robots
    old = (await api.put(f"{base}/ci", alice)).body["token"]
    await api.put(f"/api/v1/namespace/{ns}/robotsettings", alice, json_body={"self_regenerate": True})
    with another_processes_token_batch(store):
        regenerating = asyncio.ensure_future(api.post(f"{base}/ci/regenerate", headers=basic(f"{ns}+ci", old)))
        await asyncio.sleep(0.5)
        assert not regenerating.done()
    reply = await asyncio.wait_for(regenerating, 10)
    assert reply.status == 200, reply
    assert (await api.token(f"{ns}+ci", old)).status == 401


async def test_self_regenerate_with_grace_keeps_the_old_secret_a_while(api, robots, alice, clock):
    base, ns = robots
    old = (await api.put(f"{base}/ci", alice)).body["token"]
    await api.put(f"/api/v1/namespace/{ns}/robotsettings", alice, json_body={"self_regenerate": True})
    reply = await api.post(f"{base}/ci/regenerate?grace_seconds=60", headers=basic(f"{ns}+ci", old))
    assert reply.status == 200
    assert (await api.token(f"{ns}+ci", old)).status == 200
    clock.advance(61)
    assert (await api.token(f"{ns}+ci", old)).status == 401


async def test_self_regenerate_stops_when_the_setting_is_switched_off(api, robots, alice):
    base, ns = robots
    secret = (await api.put(f"{base}/ci", alice)).body["token"]
    settings = f"/api/v1/namespace/{ns}/robotsettings"
    await api.put(settings, alice, json_body={"self_regenerate": True})
    secret = (await api.post(f"{base}/ci/regenerate", headers=basic(f"{ns}+ci", secret))).body["token"]
    await api.put(settings, alice, json_body={"self_regenerate": False})
    assert_error(await api.post(f"{base}/ci/regenerate", headers=basic(f"{ns}+ci", secret)), 403, "insufficient_scope")


async def test_self_regenerate_refuses_wrong_disabled_and_other_robots(api, robots, alice):
    base, ns = robots
    secret = (await api.put(f"{base}/ci", alice)).body["token"]
    other = (await api.put(f"{base}/other", alice)).body["token"]
    await api.put(f"/api/v1/namespace/{ns}/robotsettings", alice, json_body={"self_regenerate": True})

    wrong = await api.post(f"{base}/ci/regenerate", headers=basic(f"{ns}+ci", "B" * 64))
    assert_error(wrong, 401, "invalid_token")
    assert wrong.headers["WWW-Authenticate"].startswith("Basic")
    assert_error(await api.post(f"{base}/ci/regenerate", headers=basic(f"{ns}+other", other)), 403, "insufficient_scope")
    assert_error(await api.post(f"{base}/ci/regenerate", headers=basic("ci", secret)), 400, "invalid_request")
    assert_error(await api.post(f"{base}/ci/regenerate", headers={"Authorization": "Basic !!"}), 400, "invalid_request")

    await api.post(f"{base}/ci/disable", alice)
    disabled = await api.post(f"{base}/ci/regenerate", headers=basic(f"{ns}+ci", secret))
    assert_error(disabled, 401, "invalid_token")
    assert "disabled" in disabled.body["detail"]
    await api.post(f"{base}/ci/enable", alice)
    assert (await api.token(f"{ns}+ci", secret)).status == 200  # nothing was regenerated


async def test_self_regenerate_of_another_namespace_robot_is_403(api, acme, alice, make_user):
    carol = make_user("carol")
    secret = (await api.put("/api/v1/user/robots/ci", carol)).body["token"]
    await api.put("/api/v1/namespace/carol/robotsettings", carol, json_body={"self_regenerate": True})
    reply = await api.post("/api/v1/organization/acme/robots/ci/regenerate", headers=basic("carol+ci", secret))
    assert_error(reply, 403, "insufficient_scope")
