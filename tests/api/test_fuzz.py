"""Property: no request body, JSON type or path name makes the API answer a 5xx.

Every write endpoint gets arbitrary JSON (with the fields it reads holding values of any
type) and every name in a path gets arbitrary text; each reply must be below 500, and a 4xx
must carry Quay's error body.
"""

import asyncio
import json
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway import keys
from gateway.app import create_app
from tests.api.conftest import PASSWORD, QUAY_ERROR_KEYS
from tests.conftest import FAST_BCRYPT_COST, make_config
from tokenstore import Store

FIELDS = ("name", "email", "description", "unstructured_metadata", "role", "visibility", "repository", "namespace",
          "repo_kind", "expiration")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=300),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=20), inner, max_size=5),
    max_leaves=20,
)
bodies = st.one_of(
    json_values,
    st.fixed_dictionaries({}, optional={field: json_values for field in FIELDS}),
)
WRITES = [
    ("PUT", "/api/v1/organization/acme/robots/fz"),
    ("PUT", "/api/v1/user/robots/fz"),
    ("POST", "/api/v1/organization/acme/robots/ci/regenerate"),
    ("POST", "/api/v1/organization/"),
    ("PUT", "/api/v1/organization/acme/members/bob"),
    ("POST", "/api/v1/repository"),
    ("POST", "/api/v1/repository/acme/app/changevisibility"),
    ("PUT", "/api/v1/repository/acme/app/permissions/user/acme+ci"),
    ("PUT", "/api/v1/namespace/acme/permissions/user/acme+ci"),
]
PATHS = [
    ("GET", "/api/v1/organization/{}/robots"),
    ("PUT", "/api/v1/organization/acme/robots/{}"),
    ("GET", "/api/v1/organization/{}"),
    ("PUT", "/api/v1/organization/acme/members/{}"),
    ("GET", "/api/v1/repository/acme/{}"),
    ("GET", "/api/v1/repository/{}/app"),
    ("PUT", "/api/v1/repository/acme/app/permissions/user/{}"),
    ("GET", "/api/v1/namespace/{}/permissions/user/"),
    ("GET", "/api/v1/organization/acme/logs?next_page={}"),
    ("GET", "/api/v1/organization/acme/logs?starttime={}"),
    ("GET", "/api/v1/organization/acme/robots?limit={}"),
]


class World:
    """One application and store shared by every example (building them per example is slow)."""

    def __init__(self, tmp_path):
        self.config = make_config(tmp_path)
        keys.generate(self.config.key_path, self.config.certificate_path, self.config.signing_alg)
        self.store = Store(tmp_path / "fuzz.db", bcrypt_cost=FAST_BCRYPT_COST)
        self.store.create_user("alice", PASSWORD)
        self.store.create_user("bob", PASSWORD)
        self.token = self.store.create_api_token("alice").token
        self.store.create_organization("acme", admin="alice")
        self.store.create_repository("acme/app")
        self.store.create_robot("acme+ci")

    async def call(self, method: str, path: str, data: bytes | None) -> tuple[int, object]:
        client = TestClient(TestServer(create_app(self.config, store=self.store)))
        await client.start_server()
        try:
            async with client.request(method, path, data=data,
                                      headers={"Authorization": f"Bearer {self.token}"}) as resp:
                raw = await resp.read()
                return resp.status, json.loads(raw) if raw else None
        finally:
            await client.close()

    def check(self, method: str, path: str, data: bytes | None) -> None:
        status, body = asyncio.run(self.call(method, path, data))
        assert status < 500, (method, path, data, body)
        if status >= 400:
            assert set(body) == QUAY_ERROR_KEYS, body


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    world = World(tmp_path_factory.mktemp("fuzz"))
    yield world
    world.store.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(route=st.sampled_from(WRITES), body=bodies)
def test_no_body_makes_a_server_error(world, route, body):
    world.check(*route, json.dumps(body).encode())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(route=st.sampled_from(PATHS), name=st.text(min_size=1, max_size=300))
def test_no_name_in_a_path_makes_a_server_error(world, route, name):
    method, template = route
    world.check(method, template.format(quote(name, safe="")), None)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(route=st.sampled_from(WRITES), raw=st.binary(max_size=500))
def test_no_raw_bytes_make_a_server_error(world, route, raw):
    world.check(*route, raw)
