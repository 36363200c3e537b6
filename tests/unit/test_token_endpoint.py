"""GET /token over HTTP: parameters, replies, refusals."""

import base64
import datetime
import json

import jwt
import pytest

from gateway.token.response import token_body
from gateway.token.tokens import MintedToken
from tests.conftest import SERVICE

SECRET_FREE = "the secret must never be echoed"


def basic(user: str, secret: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


@pytest.fixture
def robot(store):
    store.create_namespace("myorg")
    store.create_namespace("other")
    store.create_repository("myorg/app")
    store.create_repository("myorg/pub", "public")
    issued = store.create_robot("myorg+ci")
    store.grant("myorg+ci", "myorg/app", "write")
    return issued


async def token_claims(response):
    body = await response.json()
    return body, jwt.decode(body["token"], options={"verify_signature": False})


async def test_login_without_scope(client, robot):
    response = await client.get("/token", params={"service": SERVICE, "account": "myorg+ci"}, headers=basic("myorg+ci", robot.secret))
    assert response.status == 200
    body, claims = await token_claims(response)
    assert body["token"] == body["access_token"]
    assert type(body["expires_in"]) is int and body["expires_in"] == 300
    assert body["issued_at"].endswith("Z")
    datetime.datetime.strptime(body["issued_at"], "%Y-%m-%dT%H:%M:%SZ")
    assert claims["access"] == [] and claims["sub"] == "myorg+ci" and claims["aud"] == SERVICE


async def test_grant_is_intersection(client, robot):
    response = await client.get(
        "/token",
        params=[("service", SERVICE), ("scope", "repository:myorg/app:pull,push,delete"), ("scope", "repository:other/x:pull registry:catalog:*")],
        headers=basic("myorg+ci", robot.secret),
    )
    assert response.status == 200
    _, claims = await token_claims(response)
    assert claims["access"] == [
        {"type": "repository", "name": "myorg/app", "actions": ["pull", "push"]},
        {"type": "repository", "name": "other/x", "actions": []},
        {"type": "registry", "name": "catalog", "actions": []},
    ]


async def test_anonymous_login_is_401_with_basic_challenge(client, robot):
    response = await client.get("/token", params={"service": SERVICE})
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
    body = await response.json()
    assert body["errors"][0]["code"] == "UNAUTHORIZED"
    assert "log in" in body["details"]


async def test_anonymous_pull_public_only(client, robot):
    response = await client.get(
        "/token", params=[("service", SERVICE), ("scope", "repository:myorg/pub:pull,push"), ("scope", "repository:myorg/app:pull")]
    )
    assert response.status == 200
    _, claims = await token_claims(response)
    assert claims["access"][0]["actions"] == ["pull"]
    assert claims["access"][1]["actions"] == []
    assert claims["sub"] == ""


@pytest.mark.parametrize("user,secret", [("myorg+ci", "WRONG"), ("myorg+ghost", "X"), ("nonsense", "Y")])
async def test_wrong_credentials_clear_401(client, robot, user, secret):
    response = await client.get("/token", params={"service": SERVICE, "scope": "repository:myorg/app:pull"}, headers=basic(user, secret))
    assert response.status == 401
    assert 'Basic realm="http://127.0.0.1:8080/token"' == response.headers["WWW-Authenticate"]
    body = await response.json()
    assert body["errors"][0]["code"] == "UNAUTHORIZED"
    assert body["errors"][0]["message"] == "invalid username or secret"
    assert "namespace+shortname" in body["details"]
    assert robot.secret not in await response.text()


async def test_deleted_robot_refused_at_once(client, robot, store):
    headers = basic("myorg+ci", robot.secret)
    assert (await client.get("/token", params={"service": SERVICE}, headers=headers)).status == 200
    store.delete_robot("myorg+ci")
    assert (await client.get("/token", params={"service": SERVICE}, headers=headers)).status == 401


async def test_regenerated_secret_refused_at_once_even_when_cached(client, robot, store):
    headers = basic("myorg+ci", robot.secret)
    for _ in range(2):
        assert (await client.get("/token", params={"service": SERVICE}, headers=headers)).status == 200
    new = store.regenerate_secret("myorg+ci")
    assert (await client.get("/token", params={"service": SERVICE}, headers=headers)).status == 401
    assert (await client.get("/token", params={"service": SERVICE}, headers=basic("myorg+ci", new.secret))).status == 200


async def test_expired_secret_message(client, robot, store, clock):
    issued = store.regenerate_secret("myorg+ci", expires_at=clock() + 10)
    clock.advance(11)
    response = await client.get("/token", params={"service": SERVICE}, headers=basic("myorg+ci", issued.secret))
    assert response.status == 401
    assert "expired" in (await response.json())["details"]


@pytest.mark.parametrize(
    "params,headers,fragment",
    [
        ({}, None, "missing service"),
        ({"service": "elsewhere"}, None, "unknown service"),
        ({"service": SERVICE, "scope": "repository:myorg/app"}, None, "malformed scope"),
        ({"service": SERVICE, "scope": "junk"}, None, "malformed scope"),
        ({"service": SERVICE, "account": "myorg+other"}, "auth", "account parameter does not match"),
        ({"service": SERVICE}, {"Authorization": "Bearer abc"}, "unsupported Authorization scheme"),
        ({"service": SERVICE}, {"Authorization": "Basic !!!notbase64"}, "malformed Basic"),
        ({"service": SERVICE}, {"Authorization": "Basic " + base64.b64encode(b"nocolon").decode()}, "no ':'"),
        ({"service": SERVICE}, {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:x").decode()}, "malformed Basic"),
    ],
)
async def test_bad_requests_are_400(client, robot, params, headers, fragment):
    if headers == "auth":
        headers = basic("myorg+ci", robot.secret)
    response = await client.get("/token", params=params, headers=headers)
    assert response.status == 400
    body = await response.json()
    assert fragment in body["errors"][0]["message"]
    assert body["details"]


async def test_ten_thousand_scopes_refused_quickly(client, robot):
    scope = " ".join(f"repository:myorg/r{i}:pull" for i in range(10_000))
    response = await client.post("/token", data={"scope": scope})  # too big for a URL; the GET below is the real check
    assert response.status in (400, 404, 405, 413)
    response = await client.get("/token", params={"service": SERVICE, "scope": " ".join(scope.split()[:200])})
    assert response.status == 400
    assert "too many scopes" in (await response.json())["errors"][0]["message"]


async def test_huge_header_refused(client, robot):
    response = await client.get("/token", params={"service": SERVICE}, headers={"Authorization": "Basic " + "A" * 1_000_000})
    assert 400 <= response.status < 500


async def test_healthz_and_jwks(client):
    response = await client.get("/healthz")
    assert response.status == 200 and (await response.json())["status"] == "ok"
    jwks = await (await client.get("/.well-known/jwks.json")).json()
    assert jwks["keys"][0]["kty"] == "EC" and "d" not in jwks["keys"][0]


async def test_unexpected_error_is_plain_500(client, robot, store, monkeypatch):
    def explode(*args):
        raise RuntimeError("internal detail that must not leak")

    monkeypatch.setattr(store, "authorize", explode)
    response = await client.get("/token", params={"service": SERVICE, "scope": "repository:myorg/app:pull"},
                                headers=basic("myorg+ci", robot.secret))
    assert response.status == 500
    assert "internal detail" not in await response.text()


@pytest.mark.parametrize("refresh_token", [None, 'rt_"quoted"\\and\u00e9'])
def test_token_body_is_the_json_of_its_fields(refresh_token):
    minted = MintedToken("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJucytib3QifQ.c2ln-_", 300, "2026-11-28T06:00:00Z")
    scope = 'repository:ns/app:pull,push repository:odd"name\\:pull'
    body = json.loads(token_body(minted, scope, refresh_token))
    expected = {
        "token": minted.token, "access_token": minted.token, "expires_in": 300,
        "issued_at": "2026-11-28T06:00:00Z", "scope": scope,
    }
    if refresh_token is not None:
        expected["refresh_token"] = refresh_token
    assert body == expected
    assert list(body) == list(expected)
