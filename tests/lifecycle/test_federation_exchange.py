"""GET /oauth2/federation/robot/token: verifying a CI job's OIDC token, and what the exchanged
credential does at /token. The issuer is a real HTTP server on 127.0.0.1 with real keys."""

import asyncio
import base64
import hashlib
import hmac
import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from gateway.appkeys import OIDC
from gateway.federation.oidc import KEYS_TTL, REFETCH_INTERVAL
from tests.conftest import SERVICE
from tests.lifecycle.conftest import basic
from tests.lifecycle.oidc_issuer import SigningKey

EXCHANGE = "/oauth2/federation/robot/token"
MAIN = "repo:octo-org/app:ref:refs/heads/main"


@pytest.fixture
def federated(store, robot, issuer):
    """acme+ci trusts the test issuer for MAIN with audience "regauth"."""
    store.set_federations("acme+ci", [{"issuer": issuer.url, "subject": MAIN, "audience": "regauth"}])
    return issuer


def mint(issuer, clock, **kwargs):
    kwargs.setdefault("subject", MAIN)
    return issuer.mint(now=clock.now, **kwargs)


async def exchange(client, token, robot="acme+ci"):
    return await client.get(EXCHANGE, headers=basic(robot, token))


async def refused(response, status=401, fragment=""):
    assert response.status == status, await response.text()
    body = await response.json()
    assert body["errors"][0]["code"] in ("UNAUTHORIZED", "INVALID_REQUEST")
    assert fragment.lower() in body["details"].lower(), body
    return body


async def test_exchange_and_login(client, federated, clock):
    response = await exchange(client, mint(federated, clock))
    assert response.status == 200, await response.text()
    body = await response.json()
    assert set(body) == {"token", "expires_in"}
    assert body["expires_in"] == 3600 and type(body["expires_in"]) is int

    login = await client.get("/token", params={"service": SERVICE, "account": "acme+ci",
                                               "scope": "repository:acme/app:pull,push"},
                             headers=basic("acme+ci", body["token"]))
    assert login.status == 200, await login.text()
    claims = jwt.decode((await login.json())["token"], options={"verify_signature": False})
    assert claims["sub"] == "acme+ci"
    assert claims["access"] == [{"type": "repository", "name": "acme/app", "actions": ["pull", "push"]}]


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
async def test_both_algorithms(client, federated, clock, alg):
    key = next(k for k in federated.keys if k.alg == alg)
    response = await exchange(client, mint(federated, clock, key=key))
    assert response.status == 200, await response.text()


async def test_credential_ends_after_an_hour(client, federated, clock):
    credential = (await (await exchange(client, mint(federated, clock))).json())["token"]
    clock.advance(3600)
    login = await client.get("/token", params={"service": SERVICE}, headers=basic("acme+ci", credential))
    body = await refused(login, 401, "expired")
    assert "exchange a new OIDC token" in body["details"]


async def test_removing_the_setting_refuses_the_login(client, store, federated, clock):
    credential = (await (await exchange(client, mint(federated, clock))).json())["token"]
    params = {"service": SERVICE}
    assert (await client.get("/token", params=params, headers=basic("acme+ci", credential))).status == 200
    store.delete_federations("acme+ci")
    await refused(await client.get("/token", params=params, headers=basic("acme+ci", credential)), 401,
                  "invalid username or secret")
    # And no new exchange either.
    await refused(await exchange(client, mint(federated, clock)), 401, "no federation setting")


async def test_deleting_the_robot_refuses_the_login(client, store, federated, clock):
    credential = (await (await exchange(client, mint(federated, clock))).json())["token"]
    store.delete_robot("acme+ci")
    await refused(await client.get("/token", params={"service": SERVICE}, headers=basic("acme+ci", credential)))


async def test_keyless_login_gets_no_refresh_token(client, federated, clock):
    credential = (await (await exchange(client, mint(federated, clock))).json())["token"]
    login = await client.get("/token", params={"service": SERVICE, "offline_token": "true", "client_id": "docker"},
                             headers=basic("acme+ci", credential))
    assert login.status == 200
    assert "refresh_token" not in await login.json()


# -- the forged and the wrong ------------------------------------------------------------


def b64(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def test_wrong_signature(client, federated, clock):
    impostor = SigningKey.generate("RS256", kid=federated.keys[0].kid)  # same kid, other key
    await refused(await exchange(client, mint(federated, clock, key=impostor)), 401, "signature does not verify")


async def test_tampered_payload(client, federated, clock):
    header, _, signature = mint(federated, clock).split(".")
    payload = b64(federated.claims(subject=MAIN, now=clock.now, repository="evil/app"))
    await refused(await exchange(client, f"{header}.{payload}.{signature}"), 401, "signature")


async def test_alg_none(client, federated, clock):
    token = f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': federated.keys[0].kid})}.{b64(federated.claims(subject=MAIN, now=clock.now))}."
    await refused(await exchange(client, token), 401, "algorithm 'none' is not accepted")


async def test_hs256_signed_with_the_public_key(client, federated, clock):
    key = federated.keys[0]
    public_pem = key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = b64({"alg": "HS256", "typ": "JWT", "kid": key.kid})
    payload = b64(federated.claims(subject=MAIN, now=clock.now))
    signature = b64(hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    await refused(await exchange(client, f"{header}.{payload}.{signature}"), 401, "algorithm 'HS256' is not accepted")


@pytest.mark.parametrize("alg", ["RS384", "PS256", "ES384", "EdDSA"])
async def test_other_algorithms_refused(client, federated, clock, alg):
    header = b64({"alg": alg, "kid": federated.keys[0].kid})
    await refused(await exchange(client, f"{header}.{b64(federated.claims(now=clock.now))}.AAAA"), 401, "not accepted")


async def test_rs256_header_on_an_ec_key_id(client, federated, clock):
    rsa_key, ec_key = federated.keys
    forged = SigningKey("x", "RS256", rsa_key.private_key)
    token = jwt.encode(federated.claims(subject=MAIN, now=clock.now), forged.private_key, algorithm="RS256",
                       headers={"kid": ec_key.kid})
    await refused(await exchange(client, token), 401, "no RS256 key")


async def test_expired(client, federated, clock):
    token = mint(federated, clock, lifetime=300)
    clock.advance(300 + 60)
    assert (await exchange(client, token)).status == 200  # within the 60 s leeway
    clock.advance(1)
    await refused(await exchange(client, token), 401, "expired")


async def test_issued_in_the_future(client, federated, clock):
    await refused(await exchange(client, federated.mint(subject=MAIN, now=clock.now + 120)), 401, "future")
    assert (await exchange(client, federated.mint(subject=MAIN, now=clock.now + 50))).status == 200


async def test_not_yet_valid(client, federated, clock):
    token = mint(federated, clock, nbf=int(clock.now) + 120)
    await refused(await exchange(client, token), 401, "not valid yet")


@pytest.mark.parametrize("claim", ["exp", "iat", "sub"])
async def test_required_claims(client, federated, clock, claim):
    claims = federated.claims(subject=MAIN, now=clock.now)
    del claims[claim]
    key = federated.keys[0]
    token = jwt.encode(claims, key.private_key, algorithm=key.alg, headers={"kid": key.kid})
    await refused(await exchange(client, token), 401, claim)


async def test_wrong_issuer(client, federated, clock):
    await refused(await exchange(client, mint(federated, clock, iss="https://token.actions.githubusercontent.com")),
                  401, "no federation setting for issuer")


async def test_issuer_must_match_exactly(client, federated, clock):
    await refused(await exchange(client, mint(federated, clock, iss=federated.url + "/")), 401, "no federation setting")


async def test_discovery_naming_another_issuer(client, federated, clock, caplog):
    federated.discovery_issuer = "http://127.0.0.1:1"
    body = await refused(await exchange(client, mint(federated, clock)), 401, "could not fetch the keys")
    # What the issuer answered is the operator's to read, not the caller's.
    assert "names another issuer" not in body["details"]
    assert "names another issuer" in caplog.text


async def test_wrong_subject(client, federated, clock):
    body = await refused(await exchange(client, mint(federated, clock, subject="repo:octo-org/app:ref:refs/heads/evil")),
                         401, "subject")
    assert "refs/heads/evil" in body["details"] and MAIN not in body["details"]


async def test_wrong_audience(client, federated, clock):
    await refused(await exchange(client, mint(federated, clock, audience="https://github.com/other")), 401, "audience")
    await refused(await exchange(client, mint(federated, clock, audience=None)), 401, "audience")
    assert (await exchange(client, mint(federated, clock, audience=["x", "regauth"]))).status == 200


async def test_audience_not_checked_when_not_configured(client, store, robot, issuer, clock):
    store.set_federations("acme+ci", [{"issuer": issuer.url, "subject": MAIN}])
    for audience in ("anything", ["a", "b"], None):
        assert (await exchange(client, mint(issuer, clock, audience=audience))).status == 200


async def test_unknown_kid(client, federated, clock):
    stranger = SigningKey.generate("RS256")
    await refused(await exchange(client, mint(federated, clock, key=stranger)), 401, "not among the issuer's published keys")


async def test_unknown_robot_and_no_setting_look_alike(client, store, federated, clock):
    store.create_robot("acme+bare")
    token = mint(federated, clock)
    first = await refused(await exchange(client, token, "acme+ghost"), 401, "no federation setting")
    second = await refused(await exchange(client, token, "acme+bare"), 401, "no federation setting")
    assert first["details"].replace("ghost", "X") == second["details"].replace("bare", "X")


@pytest.mark.parametrize("password", ["", "not a jwt", "a.b.c", "AAAA" * 16, "x.y", "eyJhbGciOiJSUzI1NiJ9.W10.c2ln"])
async def test_password_not_a_jwt(client, federated, password):
    await refused(await exchange(client, password), 401, "not a JWT")


async def test_token_without_issuer(client, federated, clock):
    claims = federated.claims(subject=MAIN, now=clock.now)
    del claims["iss"]
    key = federated.keys[0]
    await refused(await exchange(client, jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid})),
                  401, "no iss")


async def test_no_credentials(client, federated):
    response = await client.get(EXCHANGE)
    await refused(response, 401, "OIDC ID token as password")
    assert response.headers["WWW-Authenticate"].startswith("Basic")


@pytest.mark.parametrize("header", ["Bearer abc", "Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode()])
async def test_malformed_authorization(client, federated, header):
    await refused(await client.get(EXCHANGE, headers={"Authorization": header}), 400)


async def test_unreachable_issuer(client, store, robot, clock, issuer):
    dead = "http://127.0.0.1:1"
    store.set_federations("acme+ci", [{"issuer": dead, "subject": MAIN}])
    token = issuer.mint(now=clock.now, subject=MAIN, iss=dead)
    await refused(await exchange(client, token), 401, "could not fetch")


async def test_a_credential_is_no_longer_an_exchange_token(client, federated, clock):
    credential = (await (await exchange(client, mint(federated, clock))).json())["token"]
    await refused(await exchange(client, credential), 401, "not a JWT")


async def test_the_token_is_never_echoed(client, federated, clock):
    token = mint(federated, clock, subject="repo:other")
    response = await exchange(client, token)
    assert token not in await response.text()
    assert token.split(".")[2] not in await response.text()


# -- the key cache ----------------------------------------------------------------------


async def test_keys_are_cached(client, federated, clock):
    for _ in range(3):
        assert (await exchange(client, mint(federated, clock))).status == 200
    assert (federated.discovery_requests, federated.jwks_requests) == (1, 1)
    clock.advance(KEYS_TTL)
    assert (await exchange(client, mint(federated, clock))).status == 200
    assert (federated.discovery_requests, federated.jwks_requests) == (2, 2)


async def test_rotated_key_is_picked_up_at_once(client, federated, clock):
    assert (await exchange(client, mint(federated, clock))).status == 200
    rotated = SigningKey.generate("ES256")
    federated.keys.append(rotated)
    # A new kid makes one refetch, even within the cache's lifetime...
    clock.advance(REFETCH_INTERVAL)
    assert (await exchange(client, mint(federated, clock, key=rotated))).status == 200
    assert federated.jwks_requests == 2


async def test_unknown_kids_refetch_at_most_once_per_interval(client, federated, clock):
    assert (await exchange(client, mint(federated, clock))).status == 200
    clock.advance(REFETCH_INTERVAL)
    for _ in range(5):
        await refused(await exchange(client, mint(federated, clock, key=SigningKey.generate("ES256"))))
    assert federated.jwks_requests == 2
    # A key published meanwhile is found only once the interval has passed.
    late = SigningKey.generate("ES256")
    federated.keys.append(late)
    await refused(await exchange(client, mint(federated, clock, key=late)), 401, "not among")
    clock.advance(REFETCH_INTERVAL)
    assert (await exchange(client, mint(federated, clock, key=late))).status == 200
    assert federated.jwks_requests == 3


async def test_concurrent_exchanges_share_one_fetch(client, federated, clock):
    responses = await asyncio.gather(*(exchange(client, mint(federated, clock)) for _ in range(8)))
    assert [r.status for r in responses] == [200] * 8
    assert federated.jwks_requests == 1


async def test_oversized_key_set_is_refused(client, federated, clock, caplog):
    federated.jwks_padding = 300 * 1024
    body = await refused(await exchange(client, mint(federated, clock)), 401, "could not fetch the keys")
    assert "more than" not in body["details"] and "more than" in caplog.text


async def test_the_verifier_is_on_the_app(client):
    assert client.app[OIDC].keys.fetches == 0


# -- the audit log ----------------------------------------------------------------------


def exchanges_logged(store):
    events, _ = store.list_events("acme", start=0, end=float("inf"), kinds=["federated_robot_token_exchange"])
    return events


async def test_exchanges_are_audited_without_the_token(client, store, federated, clock):
    good = mint(federated, clock)
    bad = mint(federated, clock, subject="repo:octo-org/app:ref:refs/heads/evil")
    credential = (await (await exchange(client, good)).json())["token"]
    await refused(await exchange(client, bad))
    refusal, success = exchanges_logged(store)
    assert success.metadata == {"robot": "acme+ci", "issuer": federated.url, "subject": MAIN, "success": True}
    assert success.performer == "acme+ci" and success.ip == "127.0.0.1"
    assert refusal.metadata["success"] is False
    assert refusal.metadata["subject"] == "repo:octo-org/app:ref:refs/heads/evil"
    assert "subject" in refusal.metadata["reason"]
    rows = " ".join(str(row) for row in store.db.execute("SELECT * FROM audit_log"))
    for secret in (good, bad, good.split(".")[2], credential):
        assert secret not in rows


async def test_not_a_jwt_is_audited(client, store, federated):
    await refused(await exchange(client, "hunter2"))
    (event,) = exchanges_logged(store)
    assert event.metadata["issuer"] is None and event.metadata["success"] is False
    assert "hunter2" not in str(event)
