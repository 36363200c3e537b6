"""Fixtures for the management API tests: people with API tokens, an organization, and a
small client that sends the bearer token and returns status, JSON body and headers.

The cast, in organization ``acme``: ``alice`` its admin, ``bob`` a plain member, ``mallory``
an outsider, ``root`` a superuser (member of nothing).
"""

import base64
import json
from dataclasses import dataclass, field

import jwt
import pytest

from tests.conftest import SERVICE

PASSWORD = "correct horse battery staple"
QUAY_ERROR_KEYS = {"detail", "error_message", "error_type", "title", "type", "status"}
QUAY_ROBOT_KEYS = {"name", "created", "last_accessed", "description", "token"}


@dataclass(frozen=True)
class Account:
    """A user and their API token."""

    name: str
    token: str = field(repr=False)


@dataclass(frozen=True)
class Reply:
    status: int
    body: object
    headers: dict

    def __repr__(self) -> str:
        return f"<Reply {self.status} {json.dumps(self.body)[:500] if self.body is not None else ''}>"


class Api:
    """Calls the app's API as one of the accounts (or anonymously)."""

    def __init__(self, client):
        self.client = client

    async def call(self, method: str, path: str, as_: Account | None = None, *, json_body=None, data=None,
                   headers: dict | None = None) -> Reply:
        headers = dict(headers or {})
        if as_ is not None:
            headers["Authorization"] = f"Bearer {as_.token}"
        if json_body is not None:
            data = json.dumps(json_body)
            headers.setdefault("Content-Type", "application/json")
        async with self.client.request(method, path, data=data, headers=headers) as resp:
            raw = await resp.read()
            body = json.loads(raw) if raw else None
            return Reply(resp.status, body, dict(resp.headers))

    async def get(self, path, as_=None, **kw):
        return await self.call("GET", path, as_, **kw)

    async def put(self, path, as_=None, **kw):
        return await self.call("PUT", path, as_, **kw)

    async def post(self, path, as_=None, **kw):
        return await self.call("POST", path, as_, **kw)

    async def delete(self, path, as_=None, **kw):
        return await self.call("DELETE", path, as_, **kw)

    async def token(self, username: str, secret: str, *scopes: str, headers: dict | None = None) -> Reply:
        """Ask the token endpoint for ``scopes`` as robot ``username``."""
        basic = base64.b64encode(f"{username}:{secret}".encode()).decode()
        params = [("service", SERVICE)] + [("scope", scope) for scope in scopes]
        async with self.client.get("/token", params=params,
                                   headers={"Authorization": f"Basic {basic}", **(headers or {})}) as resp:
            return Reply(resp.status, await resp.json(content_type=None), dict(resp.headers))


def granted(reply: Reply) -> dict[str, list[str]]:
    """Return {resource name: actions} from a token reply's JWT (signature not checked here)."""
    claims = jwt.decode(reply.body["token"], options={"verify_signature": False})
    return {entry["name"]: entry["actions"] for entry in claims["access"]}


def assert_error(reply: Reply, status: int, error_type: str) -> None:
    """Assert a Quay-shaped error body with this status and type."""
    assert reply.status == status, reply
    assert set(reply.body) == QUAY_ERROR_KEYS, reply
    assert reply.body["status"] == status
    assert reply.body["error_type"] == error_type
    assert reply.body["title"] == error_type
    assert reply.body["type"].endswith(f"/api/v1/error/{error_type}")
    assert reply.body["detail"] == reply.body["error_message"] and reply.body["detail"]


@pytest.fixture
def api(client) -> Api:
    return Api(client)


@pytest.fixture
def make_user(store):
    """``make_user(name, superuser=False) -> Account``: a user with a fresh API token."""

    def make(name: str, *, superuser: bool = False) -> Account:
        store.create_user(name, PASSWORD, superuser=superuser)
        return Account(name, store.create_api_token(name).token)

    return make


@pytest.fixture
def alice(make_user) -> Account:
    return make_user("alice")


@pytest.fixture
def bob(make_user) -> Account:
    return make_user("bob")


@pytest.fixture
def mallory(make_user) -> Account:
    return make_user("mallory")


@pytest.fixture
def root(make_user) -> Account:
    return make_user("root", superuser=True)


@pytest.fixture
def acme(store, alice, bob) -> str:
    """Organization ``acme``: alice admin, bob member."""
    store.create_organization("acme", admin="alice")
    store.set_member("acme", "bob", "member")
    return "acme"
