"""``Cache-Control: no-store`` on every reply that carries a token, refresh token or secret,
and on the errors of the same routes: /token (GET and POST), the keyless exchange, the API's
robot create and regenerate, and the UI's actions that show a new secret."""

import re

import pytest

from tests.conftest import SERVICE
from tests.lifecycle.conftest import basic
from tests.lifecycle.test_federation_exchange import EXCHANGE, federated, mint  # noqa: F401 - fixture

PASSWORD = "correct horse battery staple"
PUSH = "repository:acme/app:pull,push"


def assert_no_store(response) -> None:
    assert response.headers.get("Cache-Control") == "no-store", (response.url, dict(response.headers))
    assert response.headers.get("Pragma") == "no-cache"


@pytest.fixture
def alice_token(store, robot) -> str:
    """An API token of ``alice``, admin of ``acme``."""
    store.create_user("alice", PASSWORD)
    store.set_member("acme", "alice", "admin")
    return store.create_api_token("alice").token


async def test_token_replies_and_their_errors(client, robot):
    login = await client.get("/token", params={"account": "acme+ci", "client_id": "docker", "offline_token": "true",
                                               "service": SERVICE, "scope": PUSH},
                             headers=basic("acme+ci", robot.secret))
    assert login.status == 200, await login.text()
    body = await login.json()
    assert body["token"] and body["refresh_token"]
    assert_no_store(login)

    refreshed = await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"],
                                                  "client_id": "docker", "scope": PUSH, "service": SERVICE})
    assert refreshed.status == 200 and (await refreshed.json())["access_token"]
    assert_no_store(refreshed)

    password = await client.post("/token", data={"grant_type": "password", "username": "acme+ci",
                                                  "password": robot.secret, "service": SERVICE, "scope": PUSH,
                                                  "client_id": "containerd"})
    assert password.status == 200, await password.text()
    assert_no_store(password)

    for failed in (
        await client.get("/token", params={"service": SERVICE}, headers=basic("acme+ci", "wrong")),
        await client.get("/token"),
        await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": "rgrt_nothing",
                                          "service": SERVICE}),
        await client.post("/token", data={"grant_type": "nonsense"}),
    ):
        assert 400 <= failed.status < 500, await failed.text()
        assert_no_store(failed)


async def test_keyless_exchange_and_its_errors(client, federated, clock):  # noqa: F811 - fixture
    exchanged = await client.get(EXCHANGE, headers=basic("acme+ci", mint(federated, clock)))
    assert exchanged.status == 200, await exchanged.text()
    assert (await exchanged.json())["token"]
    assert_no_store(exchanged)
    refused = await client.get(EXCHANGE, headers=basic("acme+ci", "not-a-jwt"))
    assert refused.status in (400, 401)
    assert_no_store(refused)


async def test_api_robot_create_and_regenerate_and_their_errors(client, store, alice_token):
    bearer = {"Authorization": f"Bearer {alice_token}"}
    store.create_user("bob", PASSWORD)
    own = {"Authorization": f"Bearer {store.create_api_token('bob').token}"}
    replies = [
        (201, await client.put("/api/v1/organization/acme/robots/builder", headers=bearer, json={"description": "x"})),
        (200, await client.post("/api/v1/organization/acme/robots/ci/regenerate", headers=bearer)),
        (201, await client.put("/api/v1/user/robots/mine", headers=own, json={})),
        (200, await client.post("/api/v1/user/robots/mine/regenerate", headers=own)),
    ]
    for status, reply in replies:
        assert reply.status in (200, 201), await reply.text()
        assert len((await reply.json())["token"]) == 64
        assert_no_store(reply)
    for failed in (
        await client.post("/api/v1/organization/acme/robots/ci/regenerate"),  # no credentials
        await client.post("/api/v1/organization/acme/robots/ghost/regenerate", headers=bearer),
        await client.put("/api/v1/organization/acme/robots/bad name", headers=bearer, json={}),
    ):
        assert 400 <= failed.status < 500, await failed.text()
        assert_no_store(failed)


async def test_ui_actions_that_show_a_secret(client, store, alice_token):
    form = await client.get("/signin")
    signin_token = re.search(r'name="csrf_token" value="([^"]+)"', await form.text()).group(1)
    signed_in = await client.post("/signin", data={"username": "alice", "password": PASSWORD,
                                                   "csrf_token": signin_token}, allow_redirects=False)
    assert signed_in.status == 303
    page = await client.get("/organization/acme/robots/ci")
    assert page.status == 200
    assert_no_store(page)
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', await page.text()).group(1)
    headers = {"Accept": "application/json", "Content-Type": "application/json", "X-CSRF-Token": csrf}

    regenerated = await client.post("/organization/acme/robots/ci/regenerate", headers=headers, data="{}")
    created = await client.post("/organization/acme/robots", headers=headers, data='{"shortname": "second"}')
    for reply in (regenerated, created):
        assert reply.status in (200, 201), await reply.text()
        assert len((await reply.json())["token"]) == 64
        assert_no_store(reply)
    refused = await client.post("/organization/acme/robots/ci/regenerate", headers={**headers, "X-CSRF-Token": "x"},
                                data="{}")
    assert refused.status == 403
    assert_no_store(refused)


async def test_public_bytes_stay_cacheable(client):
    jwks = await client.get("/.well-known/jwks.json")
    assert jwks.status == 200
    assert "no-store" not in jwks.headers.get("Cache-Control", "")
    assert "Pragma" not in jwks.headers
