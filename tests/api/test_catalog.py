"""``GET /v2/_catalog`` without a registry behind it: who may see which name (the filter on
every store), the 4xx answers to bad ``n``, ``last`` and credentials, the 503 when the
registry cannot be reached, and ``/token`` never granting the catalog. The walk over a real
registry's pages is in tests/e2e/test_catalog_e2e.py, the paging rules in
tests/unit/test_catalog_paging.py."""

import base64
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.app import create_app
from gateway.catalog.callers import principal_for_subject
from gateway.catalog.endpoint import pullable
from gateway.token import keys
from gateway.token.authz import StoreRoles
from tests.api.conftest import Api, granted
from tests.conftest import ISSUER, SERVICE, make_config
from tests.postgres_server import free_port
from tokenstore import ANONYMOUS, InvalidCredentials

REALM = "http://127.0.0.1:8080/token"
CHALLENGE = f'Bearer realm="{REALM}",service="{SERVICE}",scope="registry:catalog:*"'
NAMES = ["acme/app", "acme/lib", "acme/public", "other/app", "other/public", "nobody/thing", "Not/A-Name"]


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on: the registry that cannot be reached."""
    return free_port()


@pytest.fixture
async def api(aiohttp_client, tmp_path, store, closed_port) -> Api:
    config = make_config(tmp_path, registry_url=f"http://127.0.0.1:{closed_port}")
    keys.generate(config.key_path, config.certificate_path, config.signing_alg)
    return Api(await aiohttp_client(create_app(config, store=store)))


@pytest.fixture
def repositories(store):
    for namespace in ("acme", "other"):
        store.create_namespace(namespace)
        store.create_repository(f"{namespace}/app")
        store.create_repository(f"{namespace}/public", "public")
    store.create_repository("acme/lib")


def robot(store, name: str, *grants: tuple[str, str]) -> str:
    """Create robot ``name`` with ``grants`` (target, role); return its secret."""
    issued = store.create_robot(name)
    for target, role in grants:
        store.grant(name, target, role)
    return issued.secret


def basic(name: str, secret: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{secret}".encode()).decode()}


# --------------------------------------------------------------------------- who sees what


def test_anonymous_callers_see_public_repositories_only(store, repositories):
    assert pullable(StoreRoles(store), ANONYMOUS, NAMES) == ["acme/public", "other/public"]


@pytest.mark.parametrize(("grants", "expected"), [
    ((), ["acme/public", "other/public"]),
    ((("acme/lib", "read"),), ["acme/lib", "acme/public", "other/public"]),
    ((("acme", "read"),), ["acme/app", "acme/lib", "acme/public", "other/public"]),
    # Rights count only in the robot's own namespace, as at /token; a namespace grant
    # covers repositories regauth has not heard of yet (pushed before it knew them).
    ((("acme", "admin"),), ["acme/app", "acme/lib", "acme/public", "other/public"]),
])
def test_a_robot_sees_what_it_may_pull_and_what_is_public(store, repositories, grants, expected):
    robot(store, "acme+ci", *grants)
    assert pullable(StoreRoles(store), _principal(store, "acme+ci"), NAMES) == expected


def test_a_namespace_grant_covers_names_regauth_does_not_know(store, repositories):
    robot(store, "acme+ci", ("acme", "read"))
    names = ["acme/pushed-elsewhere", "other/pushed-elsewhere"]
    assert pullable(StoreRoles(store), _principal(store, "acme+ci"), names) == ["acme/pushed-elsewhere"]


def test_a_person_sees_what_their_teams_and_admin_role_give(store, repositories):
    store.create_user("bob", "correct horse battery")
    store.set_member("acme", "bob")
    store.create_team("acme", "readers")
    store.add_team_member("acme", "readers", "bob")
    store.set_team_permission("acme", "readers", "acme/lib", "read")
    assert pullable(StoreRoles(store), _principal(store, "bob"), NAMES) == ["acme/lib", "acme/public", "other/public"]
    store.remove_team_member("acme", "readers", "bob")
    assert pullable(StoreRoles(store), _principal(store, "bob"), NAMES) == ["acme/public", "other/public"]


def test_a_disabled_or_deleted_subject_is_refused(store, repositories):
    robot(store, "acme+ci", ("acme", "read"))
    store.set_robot_disabled("acme+ci", True)
    for subject in ("acme+ci", "acme+never", "nobody-at-all"):
        with pytest.raises(InvalidCredentials):
            principal_for_subject(store, subject)


def _principal(store, name: str):
    """The robot as a bearer token's ``sub`` names it (what the catalog authorizes)."""
    return principal_for_subject(store, name)


# --------------------------------------------------------------------------- /token


@pytest.mark.parametrize("as_admin", [True, False], ids=["namespace-admin", "anonymous"])
async def test_token_never_grants_the_catalog(api, store, repositories, as_admin):
    if as_admin:
        secret = robot(store, "acme+boss", ("acme", "admin"))
        reply = await api.token("acme+boss", secret, "registry:catalog:*", "repository:acme/app:pull")
        assert granted(reply) == {"catalog": [], "acme/app": ["pull"]}
    else:
        async with api.client.get("/token", params={"service": SERVICE, "scope": "registry:catalog:*"}) as resp:
            assert resp.status == 200
            body = await resp.json()
        claims = jwt.decode(body["token"], options={"verify_signature": False})
        assert claims["access"] == [{"type": "registry", "name": "catalog", "actions": []}]
        assert body["scope"] == ""


# --------------------------------------------------------------------------- bad requests


@pytest.mark.parametrize(("query", "code"), [
    ("n=-1", "PAGINATION_NUMBER_INVALID"),
    ("n=ten", "PAGINATION_NUMBER_INVALID"),
    ("n=1.5", "PAGINATION_NUMBER_INVALID"),
    ("n=1001", "PAGINATION_NUMBER_INVALID"),
    ("n=99999999999999999999", "PAGINATION_NUMBER_INVALID"),
    ("n=%D9%A3", "PAGINATION_NUMBER_INVALID"),  # an Arabic-Indic digit: isdigit() alone would take it
    ("last=Acme/App", "NAME_INVALID"),
    ("last=acme//app", "NAME_INVALID"),
    ("last=" + "a" * 256, "NAME_INVALID"),
])
async def test_bad_n_or_last_is_a_400_naming_the_parameter(api, query, code):
    reply = await api.get(f"/v2/_catalog?{query}")
    assert reply.status == 400, reply
    assert reply.body["errors"][0]["code"] == code
    assert ("n " if code.startswith("PAGINATION") else "last") in reply.body["errors"][0]["message"]


async def test_an_unknown_authorization_scheme_is_a_400(api):
    reply = await api.get("/v2/_catalog", headers={"Authorization": "Digest username=x"})
    assert reply.status == 400, reply
    assert "Bearer" in reply.body["errors"][0]["message"]


async def test_malformed_basic_credentials_are_a_400(api):
    reply = await api.get("/v2/_catalog", headers={"Authorization": "Basic !!!"})
    assert reply.status == 400, reply
    assert reply.body["errors"][0]["code"] == "INVALID_REQUEST"


# --------------------------------------------------------------------------- refused credentials


async def test_a_wrong_secret_is_a_401_with_the_registrys_challenge(api, store, repositories):
    robot(store, "acme+ci", ("acme", "read"))
    reply = await api.get("/v2/_catalog", headers=basic("acme+ci", "W" * 64))
    assert reply.status == 401, reply
    assert reply.headers["WWW-Authenticate"] == CHALLENGE + ',error="invalid_token"'
    assert reply.body["errors"][0]["code"] == "UNAUTHORIZED"
    assert "W" * 64 not in str(reply.body)
    failures, _ = store.list_events("acme", start=0, end=store.clock() + 60, kinds=["login_failure"])
    assert len(failures) == 1


def _token(private_key, *, kid: str, alg: str = "ES256", **claims) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": SERVICE, "sub": "acme+ci", "iat": now, "nbf": now, "exp": now + 300, "access": []}
    body.update(claims)
    return jwt.encode(body, private_key, algorithm=alg, headers={"kid": kid})


def _signing_key(tmp_path):
    """The key the app signs with (the ``api`` fixture made it in ``tmp_path``)."""
    config = make_config(tmp_path)
    return keys.load(config.key_path, config.certificate_path)


@pytest.mark.parametrize("change", ["other key", "wrong audience", "wrong issuer", "expired", "no subject", "garbage",
                                    "internal subject"])
async def test_a_bearer_token_regauth_would_not_sign_is_a_401(api, store, repositories, tmp_path, change):
    robot(store, "acme+ci", ("acme", "read"))
    ours = _signing_key(tmp_path)
    key, kid, claims = ours.private_key, ours.kid, {}
    if change == "other key":
        key = ec.generate_private_key(ec.SECP256R1())
    elif change == "wrong audience":
        claims = {"aud": "another-registry"}
    elif change == "wrong issuer":
        claims = {"iss": "someone-else"}
    elif change == "expired":
        claims = {"exp": int(time.time()) - 3600}
    elif change == "internal subject":
        claims = {"sub": "regauth:catalog"}
    token = "not.a.token" if change == "garbage" else _token(key, kid=kid, **claims)
    if change == "no subject":
        now = int(time.time())
        token = jwt.encode({"iss": ISSUER, "aud": SERVICE, "exp": now + 300}, key, algorithm="ES256",
                           headers={"kid": kid})
    reply = await api.get("/v2/_catalog", headers={"Authorization": f"Bearer {token}"})
    assert reply.status == 401, reply
    assert reply.headers["WWW-Authenticate"] == CHALLENGE + ',error="invalid_token"'


# --------------------------------------------------------------------------- the registry unreachable


async def test_an_unreachable_registry_is_a_503_naming_it(api, closed_port):
    reply = await api.get("/v2/_catalog")
    assert reply.status == 503, reply
    assert f"127.0.0.1:{closed_port}" in reply.body["errors"][0]["message"]
    assert reply.headers["Retry-After"]


async def test_credentials_are_checked_before_the_registry_is_asked(api, store, repositories):
    """A valid token of a live robot gets as far as the registry (503 here); once the robot
    is deleted, the same token is refused at the next request."""
    secret = robot(store, "acme+ci", ("acme", "read"))
    token = (await api.token("acme+ci", secret, "registry:catalog:*")).body["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await api.get("/v2/_catalog", headers=bearer)).status == 503
    assert (await api.get("/v2/_catalog", headers=basic("acme+ci", secret))).status == 503
    store.delete_robot("acme+ci")
    reply = await api.get("/v2/_catalog", headers=bearer)
    assert reply.status == 401, reply
    assert (await api.get("/v2/_catalog", headers=basic("acme+ci", secret))).status == 401


async def test_an_anonymous_token_is_an_anonymous_caller(api):
    async with api.client.get("/token", params={"service": SERVICE, "scope": "registry:catalog:*"}) as resp:
        token = (await resp.json())["token"]
    reply = await api.get("/v2/_catalog", headers={"Authorization": f"Bearer {token}"})
    assert reply.status == 503, reply  # past the caller check, to the (unreachable) registry
