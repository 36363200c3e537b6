"""App-specific tokens under /api/v1/user/apptoken: Quay's shapes, status codes and errors."""

import re

import pytest

from tests.api.conftest import assert_error
from tests.api.test_cli import cli  # noqa: F401 - the fixture
from tokenstore import Store

RFC2822 = re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} -0000")
TOKEN_CODE = re.compile(r"[A-Z0-9]{120}")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
TOKEN_KEYS = {"uuid", "title", "last_accessed", "created", "expiration"}
BASE = "/api/v1/user/apptoken"


async def create(api, account, title="laptop", **extra):
    reply = await api.post(BASE, account, json_body={"title": title, **extra})
    assert reply.status == 200, reply
    return reply.body["token"]


async def test_create_answers_quays_token_object_with_the_code_once(api, alice, store):
    reply = await api.post(BASE, alice, json_body={"title": "laptop"})
    assert reply.status == 200
    assert set(reply.body) == {"token"}
    token = reply.body["token"]
    assert set(token) == TOKEN_KEYS | {"token_code"}
    assert TOKEN_CODE.fullmatch(token["token_code"])
    assert UUID.fullmatch(token["uuid"])
    assert token["title"] == "laptop"
    assert RFC2822.fullmatch(token["created"])
    assert token["last_accessed"] is None and token["expiration"] is None
    # Only a digest is stored: the code is in no column.
    rows = store.db.execute("SELECT * FROM app_tokens").fetchall()
    assert len(rows) == 1 and all(token["token_code"] not in str(value) for value in rows[0])

    again = await api.get(f"{BASE}/{token['uuid']}", alice)
    assert again.status == 200
    assert again.body == {"token": {key: token[key] for key in TOKEN_KEYS}}


async def test_list_shows_the_callers_tokens_without_codes(api, alice, bob):
    first = await create(api, alice, "one")
    second = await create(api, alice, "two")
    await create(api, bob, "bobs")
    reply = await api.get(BASE, alice)
    assert reply.status == 200
    assert reply.body["only_expiring"] is None
    assert [t["uuid"] for t in reply.body["tokens"]] == [first["uuid"], second["uuid"]]
    assert all(set(t) == TOKEN_KEYS for t in reply.body["tokens"])


async def test_expiration_is_shown_and_expiring_lists_only_the_soon_expiring(api, alice, clock):
    soon = await create(api, alice, "soon", expiration=clock() + 3600)
    await create(api, alice, "later", expiration=clock() + 30 * 86400)
    await create(api, alice, "never")
    assert RFC2822.fullmatch(soon["expiration"])
    reply = await api.get(BASE + "?expiring=true", alice)
    assert reply.status == 200 and reply.body["only_expiring"] is True
    assert [t["title"] for t in reply.body["tokens"]] == ["soon"]
    reply = await api.get(BASE + "?expiring=false", alice)
    assert reply.body["only_expiring"] is False and len(reply.body["tokens"]) == 3


async def test_an_expired_token_is_listed_but_not_found_by_uuid(api, alice, clock):
    token = await create(api, alice, "short", expiration=clock() + 60)
    clock.advance(61)
    assert (await api.get(BASE, alice)).body["tokens"][0]["uuid"] == token["uuid"]
    assert_error(await api.get(f"{BASE}/{token['uuid']}", alice), 404, "not_found")


async def test_revoke_is_204_then_the_token_is_gone(api, alice, store):
    token = await create(api, alice)
    reply = await api.delete(f"{BASE}/{token['uuid']}", alice)
    assert reply.status == 204 and reply.body is None
    assert (await api.get(BASE, alice)).body["tokens"] == []
    assert_error(await api.get(f"{BASE}/{token['uuid']}", alice), 404, "not_found")
    assert_error(await api.delete(f"{BASE}/{token['uuid']}", alice), 404, "not_found")


async def test_create_and_revoke_write_quays_audit_rows(api, alice, store):
    token = await create(api, alice, "ci box")
    await api.delete(f"{BASE}/{token['uuid']}", alice)
    events, _ = store.list_events("alice", start=0, end=1e12)
    assert [e.kind for e in events] == ["revoke_app_specific_token", "create_app_specific_token"]
    for event in events:
        assert event.performer == "alice" and event.performer_kind == "user"
        assert event.metadata == {"app_specific_token_title": "ci box", "app_specific_token": token["uuid"]}
        assert token["token_code"] not in str(event)


async def test_another_users_token_is_not_found(api, alice, bob):
    token = await create(api, alice)
    assert_error(await api.get(f"{BASE}/{token['uuid']}", bob), 404, "not_found")
    assert_error(await api.delete(f"{BASE}/{token['uuid']}", bob), 404, "not_found")
    assert (await api.get(f"{BASE}/{token['uuid']}", alice)).status == 200


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_anonymous_callers_get_401(api, method):
    reply = await api.call(method, BASE, json_body={"title": "x"} if method == "POST" else None)
    assert_error(reply, 401, "invalid_token")


async def test_anonymous_get_and_delete_of_one_token_get_401(api):
    assert_error(await api.get(f"{BASE}/some-uuid"), 401, "invalid_token")
    assert_error(await api.delete(f"{BASE}/some-uuid"), 401, "invalid_token")


@pytest.mark.parametrize("body", [
    {}, {"title": None}, {"title": 7}, {"title": ""}, {"title": "   "}, {"title": "x" * 256},
    {"title": "t", "expiration": "tomorrow"}, {"title": "t", "expiration": True}, {"title": "t", "expiration": -5},
    {"title": "t", "expiration": [1]}, [], "title",
])
async def test_malformed_bodies_are_400(api, alice, body):
    assert_error(await api.post(BASE, alice, json_body=body), 400, "invalid_request")


async def test_no_body_and_bad_json_are_400(api, alice):
    assert_error(await api.post(BASE, alice), 400, "invalid_request")
    assert_error(await api.post(BASE, alice, data=b"{not json"), 400, "invalid_request")


async def test_an_expiration_in_the_past_is_400(api, alice, clock):
    assert_error(await api.post(BASE, alice, json_body={"title": "t", "expiration": clock() - 1}), 400, "invalid_request")


async def test_a_title_of_255_characters_is_accepted(api, alice):
    assert (await create(api, alice, "é" * 255))["title"] == "é" * 255


async def test_an_overlong_or_odd_uuid_is_404(api, alice):
    assert_error(await api.get(f"{BASE}/{'a' * 5000}", alice), 404, "not_found")
    assert_error(await api.delete(f"{BASE}/not-a-uuid", alice), 404, "not_found")
    assert_error(await api.delete(f"{BASE}/%00", alice), 400, "invalid_request")


async def test_a_deleted_users_tokens_are_collected(api, alice, store):
    await create(api, alice)
    store.delete_user("alice")
    removed = store.collect_garbage()
    assert removed.get("app_tokens") == 1


async def test_revoked_tokens_are_collected_after_the_retention(api, alice, store, clock):
    token = await create(api, alice)
    await api.delete(f"{BASE}/{token['uuid']}", alice)
    assert "app_tokens" not in store.collect_garbage()
    clock.advance(100 * 86400)
    assert store.collect_garbage().get("app_tokens") == 1


# -- the command line ---------------------------------------------------------------------


def test_cli_creates_lists_and_revokes_app_tokens(cli):  # noqa: F811 - the fixture imported above
    assert cli("user", "create", "alice", stdin="correct horse battery\n")[0] == 0
    status, created, _ = cli("apptoken", "create", "alice", "--title", "build box", "--expires", "30d")
    assert status == 0
    assert TOKEN_CODE.fullmatch(created["token_code"]) and created["title"] == "build box"
    assert RFC2822.fullmatch(created["expiration"]) and created["user"] == "alice"
    status, listed, _ = cli("apptoken", "list", "alice")
    assert listed == {"tokens": [{key: value for key, value in created.items() if key != "token_code"}]}
    status, revoked, _ = cli("apptoken", "revoke", created["uuid"])
    assert status == 0 and revoked["revoked"]["uuid"] == created["uuid"]
    assert cli("apptoken", "list", "alice")[1] == {"tokens": []}
    store = Store(cli.store_path, bcrypt_cost=4)
    try:
        events, _ = store.list_events("alice", start=0, end=1e12)
        assert [(e.kind, e.metadata.get("via")) for e in events] == [
            ("revoke_app_specific_token", "cli"), ("create_app_specific_token", "cli"),
        ]
    finally:
        store.close()


@pytest.mark.parametrize("args, message", [
    (("apptoken", "create", "ghost", "--title", "t"), "does not exist"),
    (("apptoken", "create", "alice", "--title", ""), "title"),
    (("apptoken", "create", "alice", "--title", "t", "--expires", "soonish"), "duration"),
    (("apptoken", "revoke", "no-such-uuid"), "no app token"),
    (("apptoken", "list", "ghost"), "does not exist"),
])
def test_cli_errors_are_one_line_and_status_1(cli, args, message):  # noqa: F811
    assert cli("user", "create", "alice", stdin="correct horse battery\n")[0] == 0
    status, body, err = cli(*args)
    assert status == 1 and body is None
    assert message in err and err.count("\n") == 1
