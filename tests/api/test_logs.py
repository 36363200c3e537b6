"""The audit log: what is written, and /api/v1/organization/{orgname}/logs, /api/v1/user/logs."""

import json
from datetime import datetime, timezone

import pytest

from tokenstore.errors import StoreBusy

from tests.api.conftest import assert_error
from tests.stores import index_columns

ORG_LOGS = "/api/v1/organization/acme/logs"


def kinds(reply) -> list[str]:
    return [entry["kind"] for entry in reply.body["logs"]]


async def test_robot_management_is_logged_in_quays_shape(api, alice, acme):
    await api.put("/api/v1/organization/acme/robots/ci", alice, json_body={"description": "d"},
                  headers={"X-Forwarded-For": "203.0.113.5"})
    await api.post("/api/v1/organization/acme/robots/ci/regenerate", alice)
    await api.delete("/api/v1/organization/acme/robots/ci", alice)
    reply = await api.get(ORG_LOGS, alice)
    assert reply.status == 200
    assert set(reply.body) == {"start_time", "end_time", "logs"}
    assert kinds(reply) == ["delete_robot", "regenerate_robot_token", "create_robot"]
    created = reply.body["logs"][-1]
    assert created == {
        "kind": "create_robot",
        "metadata": {"robot": "ci", "description": "d", "unstructured_metadata": None},
        "ip": "203.0.113.5",
        "datetime": "Fri, 15 Jan 2027 08:00:00 -0000",
        "performer": {"kind": "user", "name": "alice", "is_robot": False},
    }


async def test_token_requests_log_logins_and_the_tokens_issued(api, store, alice, acme):
    store.create_repository("acme/app")
    secret = (await api.put("/api/v1/organization/acme/robots/ci", alice)).body["token"]
    store.grant("acme+ci", "acme/app", "read")
    via_proxy = {"X-Forwarded-For": "198.51.100.20", "User-Agent": "skopeo/1.9.3"}
    assert (await api.token("acme+ci", secret, "repository:acme/app:pull,push", headers=via_proxy)).status == 200
    assert (await api.token("acme+ci", "WRONG" * 10, headers=via_proxy)).status == 401
    reply = await api.get(ORG_LOGS, alice)
    assert kinds(reply)[:3] == ["login_failure", "issue_token", "login_success"]
    failure, issued, success = reply.body["logs"][:3]
    assert failure["ip"] == issued["ip"] == success["ip"] == "198.51.100.20"
    assert failure["performer"] == {"kind": "user", "name": "acme+ci", "is_robot": True}
    assert failure["metadata"] == {
        "robot": "acme+ci", "useragent": "skopeo/1.9.3", "kind": "robot", "reason": "invalid", "count": 1,
    }
    assert issued["metadata"]["scopes"] == ["repository:acme/app:pull,push"]
    assert issued["metadata"]["access"] == [{"type": "repository", "name": "acme/app", "actions": ["pull"]}]
    assert secret not in json.dumps(reply.body)


async def test_the_old_secrets_refusal_after_a_regenerate_is_logged(api, alice, acme):
    old = (await api.put("/api/v1/organization/acme/robots/ci", alice)).body["token"]
    await api.post("/api/v1/organization/acme/robots/ci/regenerate", alice)
    assert (await api.token("acme+ci", old)).status == 401
    assert kinds(await api.get(ORG_LOGS, alice))[:2] == ["login_failure", "regenerate_robot_token"]


async def test_failed_logins_of_unknown_names_write_nothing_anywhere(api, store, alice, acme):
    await api.token("nowhere+ci", "x")
    await api.token("not-a-robot", "x")
    await api.token("acme+ghost", "x")
    events, _ = store.list_events("acme", start=0, end=1e12)
    assert [(e.kind, e.performer) for e in events] == [("login_failure", "acme+ghost")]
    assert store.db.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 1


async def test_no_token_without_its_audit_row_but_a_refusal_stays_a_refusal(api, store, alice, acme, monkeypatch):
    secret = (await api.put("/api/v1/organization/acme/robots/ci", alice)).body["token"]

    def broken(*args, **kwargs):
        raise StoreBusy("the database is busy with another writer", "database is locked")

    monkeypatch.setattr(store, "record_robot_login", broken)
    reply = await api.token("acme+ci", secret)
    assert reply.status == 503 and reply.headers["Retry-After"]
    assert "token" not in reply.body and "access_token" not in reply.body
    assert (await api.token("acme+ci", "wrong")).status == 401


async def test_time_range_in_quays_format(api, store, clock, alice, acme):
    store.create_robot("acme+old")
    store.record_event("create_robot", "acme", metadata={"robot": "old"})
    clock.advance(10 * 86400)
    store.record_event("create_robot", "acme", metadata={"robot": "new"})
    assert [e["metadata"]["robot"] for e in (await api.get(ORG_LOGS, alice)).body["logs"]] == ["new"]
    then = datetime.fromtimestamp(clock() - 10 * 86400, timezone.utc)
    day = then.strftime("%m/%d/%Y")
    reply = await api.get(f"{ORG_LOGS}?starttime={day}&endtime={day}", alice)
    assert [e["metadata"]["robot"] for e in reply.body["logs"]] == ["old"]
    assert reply.body["start_time"].endswith("00:00:00 -0000")
    iso = then.strftime("%Y-%m-%d")
    reply = await api.get(f"{ORG_LOGS}?starttime={iso}", alice)
    assert [e["metadata"]["robot"] for e in reply.body["logs"]] == ["new", "old"]


@pytest.mark.parametrize("query", [
    "starttime=yesterday", "endtime=13/45/2024", "starttime=01/03/2030&endtime=01/01/2030",
    "kind=Bad-Kind", "kind=" + ",".join(["a"] * 21), "next_page=%%%", "next_page=bm90anNvbg",
    "next_page=WzEsMl0x", "next_page=WyJ4IiwgMV0", "next_page=WzEsIDFlMzAwXQ", "next_page=WzEsIHRydWVd",
    "performer=" + "x" * 700,
])
async def test_bad_log_parameters_are_400(api, alice, acme, query):
    assert_error(await api.get(f"{ORG_LOGS}?{query}", alice), 400, "invalid_request")


async def test_kind_and_performer_filters(api, store, alice, acme):
    store.create_user("carol", "correct horse battery")
    store.set_member("acme", "carol", "admin")
    for kind, who in (("create_robot", "alice"), ("delete_robot", "carol"), ("create_repo", "alice")):
        store.record_event(kind, "acme", performer=who, performer_kind="user")
    assert kinds(await api.get(f"{ORG_LOGS}?kind=create_robot,create_repo", alice)) == ["create_repo", "create_robot"]
    assert kinds(await api.get(f"{ORG_LOGS}?kind=create_robot&kind=delete_robot", alice)) == [
        "delete_robot", "create_robot"]
    assert kinds(await api.get(f"{ORG_LOGS}?performer=carol", alice)) == ["delete_robot"]


async def test_pagination(api, store, clock, alice, acme):
    for number in range(45):
        store.record_event("create_robot", "acme", metadata={"n": number})
        if number % 3 == 0:
            clock.advance(1)
    seen, page, pages = [], "", 0
    while True:
        reply = await api.get(f"{ORG_LOGS}?next_page={page}" if page else ORG_LOGS, alice)
        seen += [entry["metadata"]["n"] for entry in reply.body["logs"]]
        pages += 1
        page = reply.body.get("next_page")
        if not page:
            break
    assert pages == 3
    assert seen == list(reversed(range(45)))


async def test_user_logs_show_the_callers_namespace(api, store, alice, bob, acme):
    secret = (await api.put("/api/v1/user/robots/ci", alice)).body["token"]
    await api.token("alice+ci", secret)
    reply = await api.get("/api/v1/user/logs", alice)
    assert kinds(reply) == ["issue_token", "login_success", "create_robot"]
    assert kinds(await api.get("/api/v1/user/logs", bob)) == []


@pytest.mark.parametrize("who", ["bob", "mallory"])
async def test_only_admins_read_an_organizations_log(api, request, acme, who):
    assert_error(await api.get(ORG_LOGS, request.getfixturevalue(who)), 403, "insufficient_scope")


async def test_superusers_read_any_log(api, root, acme):
    assert (await api.get(ORG_LOGS, root)).status == 200
    assert_error(await api.get("/api/v1/organization/nowhere/logs", root), 404, "not_found")


def test_audit_rows_never_hold_secret_keys(store, acme):
    store.record_event("create_robot", "acme", metadata={
        "robot": "ci", "token": "S3CRET", "nested": {"Password": "S3CRET", "ok": 1}, "list": [{"secret": "S3CRET"}],
    })
    (event,), _ = store.list_events("acme", start=0, end=1e12)
    assert "S3CRET" not in json.dumps(event.metadata)
    assert event.metadata == {"robot": "ci", "nested": {"ok": 1}, "list": [{}]}


def test_long_client_text_is_cut(store, acme):
    store.record_robot_login("acme+ci", success=False, user_agent="u" * 5000, ip="x" * 5000)
    (event,), _ = store.list_events("acme", start=0, end=1e12)
    assert len(event.metadata["useragent"]) < 600 and len(event.ip) < 600


def test_the_audit_index_exists(store):
    assert index_columns(store, "audit_log", "audit_log_namespace_created") == ["namespace_id", "created"]
