"""Federation issuers cannot be used to probe regauth's network: plain http and private or
loopback issuers are refused unless the operator allows them, when a setting is saved and
again when keys are fetched; and a failed fetch looks the same whatever the port did."""

import pytest
from aiohttp import web

from gateway.app import create_app
from gateway.federation.issuer_policy import IssuerRefused, check_issuer_url, is_public_address
from gateway.token import keys
from tests.conftest import make_config
from tests.lifecycle.conftest import basic

MAIN = "repo:octo-org/app:ref:refs/heads/main"
FEDERATION = "/api/v1/organization/acme/robots/ci/federation"
EXCHANGE = "/oauth2/federation/robot/token"


@pytest.mark.parametrize(("address", "public"), [
    ("8.8.8.8", True), ("2606:4700:4700::1111", True),
    ("127.0.0.1", False), ("::1", False), ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False),
    ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False), ("::ffff:127.0.0.1", False),
    ("fe80::1", False), ("fd00::1", False), ("224.0.0.1", False), ("not an address", False),
])
def test_public_addresses(address, public):
    assert is_public_address(address) is public


@pytest.mark.parametrize(("url", "reason"), [
    ("http://issuer.example.com", "https"),
    ("http://127.0.0.1:8000", "https"),
    ("https://127.0.0.1:8000", "private, loopback"),
    ("https://[::1]", "private, loopback"),
    ("https://10.0.0.5", "private, loopback"),
    ("https://169.254.169.254/latest", "private, loopback"),
    ("https://localhost:8443", "private, loopback"),
])
async def test_refused_without_the_setting(url, reason):
    with pytest.raises(IssuerRefused, match=reason):
        await check_issuer_url(url, allow_private=False)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "https://10.0.0.5", "https://localhost:8443"])
async def test_allowed_with_the_setting(url):
    await check_issuer_url(url, allow_private=True)


async def test_a_public_address_is_allowed():
    await check_issuer_url("https://8.8.8.8/", allow_private=False)


# -- through the API and the exchange --------------------------------------------------------


@pytest.fixture
def strict_config(tmp_path):
    """The default config: private issuers not allowed."""
    config = make_config(tmp_path / "strict")
    config.data_dir.mkdir()
    keys.generate(config.key_path, config.certificate_path, config.signing_alg)
    assert config.allow_private_issuers is False
    return config


@pytest.fixture
def admin(store):
    store.create_user("alice", "correct horse battery staple")
    store.create_organization("acme", admin="alice")
    store.create_robot("acme+ci")
    return {"Authorization": f"Bearer {store.create_api_token('alice').token}"}


@pytest.mark.parametrize("issuer_url", ["http://127.0.0.1:{port}", "https://127.0.0.1:{port}", "https://10.0.0.5"])
async def test_saving_a_private_issuer_is_a_400_without_the_setting(
        aiohttp_client, strict_config, store, admin, issuer, issuer_url):
    client = await aiohttp_client(create_app(strict_config, store=store))
    url = issuer_url.format(port=issuer.url.rsplit(":", 1)[1])
    response = await client.post(FEDERATION, json=[{"issuer": url, "subject": MAIN}], headers=admin)
    assert response.status == 400, await response.text()
    assert "entry 0: issuer" in (await response.json())["detail"]
    assert store.list_federations("acme+ci") == []
    assert issuer.discovery_requests == 0


async def test_saving_a_loopback_issuer_works_with_the_setting(client, store, admin, issuer):
    response = await client.post(FEDERATION, json=[{"issuer": issuer.url, "subject": MAIN}], headers=admin)
    assert response.status == 200, await response.text()
    assert [f.issuer for f in store.list_federations("acme+ci")] == [issuer.url]


async def test_a_stored_private_issuer_is_not_fetched_without_the_setting(
        aiohttp_client, strict_config, store, admin, issuer, clock):
    # Saved before the rule (or by hand): the fetch checks again.
    store.set_federations("acme+ci", [{"issuer": issuer.url, "subject": MAIN}])
    client = await aiohttp_client(create_app(strict_config, store=store))
    response = await client.get(EXCHANGE, headers=basic("acme+ci", issuer.mint(now=clock.now, subject=MAIN)))
    assert response.status == 401
    assert "could not fetch the keys" in (await response.json())["details"]
    assert issuer.discovery_requests == 0


async def test_a_fetch_error_says_nothing_about_the_port(client, store, admin, issuer, clock, aiohttp_server, caplog):
    async def not_found(request):
        return web.Response(status=404, text="nginx says hello")

    app = web.Application()
    app.router.add_get("/{tail:.*}", not_found)
    answering = f"http://127.0.0.1:{(await aiohttp_server(app)).port}"
    closed = "http://127.0.0.1:1"
    details = {}
    for url in (answering, closed):
        store.set_federations("acme+ci", [{"issuer": url, "subject": MAIN}])
        token = issuer.mint(now=clock.now, subject=MAIN, iss=url)
        response = await client.get(EXCHANGE, headers=basic("acme+ci", token))
        assert response.status == 401
        details[url] = (await response.json())["details"].replace(url, "ISSUER")
    assert details[answering] == details[closed]
    assert "404" not in details[answering] and "hello" not in details[answering]
    # The operator still learns what happened.
    assert "answered HTTP 404" in caplog.text and "ClientConnectorError" in caplog.text
