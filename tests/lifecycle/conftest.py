"""Fixtures for the credential lifecycle tests: an OIDC issuer on 127.0.0.1, a robot."""

import base64

import pytest

from gateway.config import Config
from gateway.token import keys
from tests.conftest import make_config
from tests.lifecycle.oidc_issuer import OIDCIssuer


def basic(user: str, password: str) -> dict:
    """Return an Authorization header for Basic ``user:password``."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def config(tmp_path) -> Config:
    """The shared test config, with private issuers allowed: the test issuer is plain http
    on 127.0.0.1, which regauth refuses without the operator's setting."""
    config = make_config(tmp_path, allow_private_issuers="true")
    keys.generate(config.key_path, config.certificate_path, config.signing_alg)
    return config


@pytest.fixture
async def issuer(aiohttp_server, clock) -> OIDCIssuer:
    """A running OIDC issuer (discovery + JWKS) whose tokens are timed by the test clock."""
    oidc = OIDCIssuer()
    server = await aiohttp_server(oidc.app())
    oidc.url = f"http://127.0.0.1:{server.port}"
    return oidc


@pytest.fixture
def robot(store):
    """``acme+ci`` with write on ``acme/app``; returns its IssuedSecret."""
    store.create_namespace("acme")
    store.create_repository("acme/app")
    issued = store.create_robot("acme+ci")
    store.grant("acme+ci", "acme/app", "write")
    return issued
