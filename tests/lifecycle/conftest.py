"""Fixtures for the credential lifecycle tests: an OIDC issuer on 127.0.0.1, a robot."""

import base64

import pytest

from tests.lifecycle.oidc_issuer import OIDCIssuer


def basic(user: str, password: str) -> dict:
    """Return an Authorization header for Basic ``user:password``."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


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
