"""API bearer tokens, Quay's error body, and the 4xx answers to malformed requests."""

import re

import pytest

from tokenstore.errors import StoreBusy
from gateway.app import create_app
from gateway.token import keys
from tests.api.conftest import Account, Api, assert_error
from tests.conftest import make_config
from tests.stores import OtherWriter, shorten_lock_waits

# Every route, with a body that would be accepted, for the "no credentials" sweep.
ROUTES = [
    ("GET", "/api/v1/user/", None),
    ("POST", "/api/v1/organization/", {"name": "neworg"}),
    ("GET", "/api/v1/organization/acme", None),
    ("DELETE", "/api/v1/organization/acme", None),
    ("GET", "/api/v1/organization/acme/members", None),
    ("GET", "/api/v1/organization/acme/members/bob", None),
    ("PUT", "/api/v1/organization/acme/members/bob", {"role": "admin"}),
    ("DELETE", "/api/v1/organization/acme/members/bob", None),
    ("GET", "/api/v1/organization/acme/robots", None),
    ("GET", "/api/v1/organization/acme/robots/ci", None),
    ("PUT", "/api/v1/organization/acme/robots/ci", {}),
    ("DELETE", "/api/v1/organization/acme/robots/ci", None),
    ("POST", "/api/v1/organization/acme/robots/ci/regenerate", None),
    ("GET", "/api/v1/organization/acme/robots/ci/permissions", None),
    ("GET", "/api/v1/user/robots", None),
    ("GET", "/api/v1/user/robots/ci", None),
    ("PUT", "/api/v1/user/robots/ci", {}),
    ("DELETE", "/api/v1/user/robots/ci", None),
    ("POST", "/api/v1/user/robots/ci/regenerate", None),
    ("GET", "/api/v1/user/robots/ci/permissions", None),
    ("GET", "/api/v1/organization/acme/logs", None),
    ("GET", "/api/v1/user/logs", None),
    ("GET", "/api/v1/repository?namespace=acme", None),
    ("POST", "/api/v1/repository", {"namespace": "acme", "repository": "app", "visibility": "private"}),
    ("GET", "/api/v1/repository/acme/app", None),
    ("DELETE", "/api/v1/repository/acme/app", None),
    ("POST", "/api/v1/repository/acme/app/changevisibility", {"visibility": "public"}),
    ("GET", "/api/v1/repository/acme/app/permissions/user/", None),
    ("GET", "/api/v1/repository/acme/app/permissions/user/acme+ci", None),
    ("PUT", "/api/v1/repository/acme/app/permissions/user/acme+ci", {"role": "read"}),
    ("DELETE", "/api/v1/repository/acme/app/permissions/user/acme+ci", None),
    ("GET", "/api/v1/namespace/acme/permissions/user/", None),
    ("GET", "/api/v1/namespace/acme/permissions/user/acme+ci", None),
    ("PUT", "/api/v1/namespace/acme/permissions/user/acme+ci", {"role": "read"}),
    ("DELETE", "/api/v1/namespace/acme/permissions/user/acme+ci", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
async def test_every_route_needs_an_api_token(api, acme, method, path, body):
    reply = await api.call(method, path, json_body=body)
    assert_error(reply, 401, "invalid_token")
    assert reply.headers["WWW-Authenticate"] == 'Bearer realm="regauth"'


@pytest.mark.parametrize("header", [
    "Bearer rgapi_notarealtokenatall0000000000000000000000000",
    "Bearer " + "x" * 1_000,
    "Bearer garbage",
    "Bearer rgapi_",
])
async def test_an_unknown_token_is_401_with_an_error_challenge(api, acme, header):
    reply = await api.get("/api/v1/user/", headers={"Authorization": header})
    assert_error(reply, 401, "invalid_token")
    assert reply.headers["WWW-Authenticate"] == 'Bearer realm="regauth", error="invalid_token"'


@pytest.mark.parametrize("header", ["Basic YWxpY2U6cGFzc3dvcmQ=", "Bearer", "Bearer    ", "token abc"])
async def test_another_scheme_or_an_empty_bearer_is_401(api, header):
    assert_error(await api.get("/api/v1/user/", headers={"Authorization": header}), 401, "invalid_token")


async def test_a_valid_token_authenticates_its_user(api, alice, acme):
    reply = await api.get("/api/v1/user/", alice)
    assert reply.status == 200
    assert reply.body == {
        "anonymous": False, "username": "alice", "super_user": False,
        "organizations": [{"name": "acme", "is_org_admin": True}],
    }


async def test_a_superuser_is_shown_as_one(api, root):
    reply = await api.get("/api/v1/user/", root)
    assert reply.body["super_user"] is True and reply.body["organizations"] == []


async def test_a_revoked_token_stops_working_at_once(api, store, alice):
    assert (await api.get("/api/v1/user/", alice)).status == 200
    store.revoke_api_token(alice.token[:20])
    assert_error(await api.get("/api/v1/user/", alice), 401, "invalid_token")


async def test_an_expired_token_is_refused_with_a_reason(api, store, clock, alice):
    expiring = Account("alice", store.create_api_token("alice", expires_at=clock() + 3600).token)
    assert (await api.get("/api/v1/user/", expiring)).status == 200
    clock.advance(3601)
    reply = await api.get("/api/v1/user/", expiring)
    assert_error(reply, 401, "invalid_token")
    assert "expired" in reply.body["detail"]


async def test_a_deleted_users_tokens_stop_working(api, store, mallory):
    store.delete_user("mallory")
    assert_error(await api.get("/api/v1/user/", mallory), 401, "invalid_token")


async def test_unknown_api_paths_are_quay_shaped_404s(api, alice):
    assert_error(await api.get("/api/v1/no/such/thing", alice), 404, "not_found")


async def test_a_wrong_method_is_a_quay_shaped_405_with_allow(api, alice, acme):
    reply = await api.call("PATCH", "/api/v1/organization/acme/robots/ci", alice)
    assert_error(reply, 405, "invalid_request")
    assert "PUT" in reply.headers["Allow"]


async def test_an_oversized_body_is_a_quay_shaped_413(api, alice, acme):
    body = {"description": "x", "unstructured_metadata": {"blob": "y" * 70_000}}
    assert_error(await api.put("/api/v1/organization/acme/robots/ci", alice, json_body=body), 413, "invalid_request")


async def test_an_oversized_chunked_body_is_a_413(api, alice, acme):
    async def chunks():
        for _ in range(100):
            yield b"x" * 1024

    reply = await api.call("PUT", "/api/v1/organization/acme/robots/ci", alice, data=chunks())
    assert_error(reply, 413, "invalid_request")


@pytest.mark.parametrize("raw", [
    b"{", b"[1, 2", b"\xff\xfe", b'{"description": NaN}', b"[" * 30_000 + b"]" * 30_000, b"nul",
])
async def test_malformed_json_is_a_400(api, alice, acme, raw):
    reply = await api.call("PUT", "/api/v1/organization/acme/robots/ci", alice, data=raw)
    assert_error(reply, 400, "invalid_request")


async def test_error_type_url_uses_the_forwarded_scheme_of_a_trusted_proxy(api, alice):
    reply = await api.get("/api/v1/nope", alice, headers={"X-Forwarded-Proto": "https"})
    assert reply.body["type"].startswith("https://")


async def test_internal_errors_are_quay_shaped_and_reveal_nothing(api, store, alice, acme, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(store, "list_robots", broken)
    reply = await api.get("/api/v1/organization/acme/robots", alice)
    assert reply.status == 500
    assert reply.body["error_type"] == "internal_error"
    assert "secret internals" not in str(reply.body)


async def test_a_database_locked_elsewhere_is_a_503_to_try_again(api, store, alice, acme, monkeypatch):
    issued = store.create_robot("acme+ci")
    # The server's connections give up on a lock after 0.2 s instead of 10 s.
    shorten_lock_waits(monkeypatch, store)
    with OtherWriter(store):  # another process in the middle of a long write
        reply = await api.post("/api/v1/organization/acme/robots/ci/regenerate", alice)
    assert_error(reply, 503, "service_unavailable")
    assert reply.headers["Retry-After"] == "1"
    assert "try again" in reply.body["detail"]
    # Nothing was changed, and the same request now goes through.
    assert store.authenticate("acme+ci", issued.secret).username == "acme+ci"
    assert (await api.post("/api/v1/organization/acme/robots/ci/regenerate", alice)).status == 200


async def test_a_busy_database_is_a_503_on_the_token_endpoint_too(api, store, acme, monkeypatch):
    issued = store.create_robot("acme+ci")

    def locked(*args, **kwargs):
        raise StoreBusy("the database is busy with another writer", "database is locked")

    monkeypatch.setattr(store, "authenticate", locked)
    reply = await api.token("acme+ci", issued.secret, "repository:acme/app:pull")
    assert reply.status == 503 and reply.headers["Retry-After"] == "1"
    assert "try again" in reply.body["details"] and reply.body["errors"][0]["code"] == "UNAVAILABLE"


async def test_a_busy_database_is_a_503_page_in_the_web_ui(api, store, alice, monkeypatch):
    def locked(*args, **kwargs):
        raise StoreBusy("the database is busy with another writer", "database is locked")

    async with api.client.get("/signin") as resp:
        csrf_token = re.search(r'name="csrf_token" value="([^"]+)"', await resp.text()).group(1)
    monkeypatch.setattr(store, "signin_wait", locked)
    async with api.client.post(
        "/signin", data={"username": "alice", "password": "x", "csrf_token": csrf_token},
    ) as resp:
        page = await resp.text()
    assert resp.status == 503
    assert "Nothing was changed" in page and "try again" in page and "Traceback" not in page


async def test_token_endpoint_errors_keep_the_registry_shape(api):
    async with api.client.get("/token") as resp:
        body = await resp.json()
    assert resp.status == 400 and "errors" in body


async def test_forwarded_for_is_ignored_from_an_untrusted_peer(aiohttp_client, tmp_path, store, alice, acme):
    config = make_config(tmp_path, trusted_proxies="10.9.9.9/32")
    keys.generate(config.key_path, config.certificate_path, config.signing_alg)
    untrusted = Api(await aiohttp_client(create_app(config, store=store)))
    await untrusted.put("/api/v1/organization/acme/robots/ci", alice, headers={"X-Forwarded-For": "203.0.113.9"})
    events, _ = store.list_events("acme", start=0, end=1e12, kinds=["create_robot"])
    assert events[0].ip == "127.0.0.1"


async def test_forwarded_for_is_believed_from_a_trusted_proxy(api, store, alice, acme):
    # The test client connects from 127.0.0.1, which is trusted by default.
    await api.put("/api/v1/organization/acme/robots/ci", alice,
                  headers={"X-Forwarded-For": "198.51.100.7, 203.0.113.9, 127.0.0.1"})
    events, _ = store.list_events("acme", start=0, end=1e12, kinds=["create_robot"])
    assert events[0].ip == "203.0.113.9"
