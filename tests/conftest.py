"""Fixtures shared by every test: a store with a controllable clock, configs, an app client,
unique names."""

import itertools
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.app import create_app
from gateway.config import Config
from gateway.token import keys
from tokenstore import Store, hashing
from tests.postgres_server import postgres_server, postgres_url  # noqa: F401 - fixtures

FAST_BCRYPT_COST = 4
SERVICE = "regauth-test"
ISSUER = "regauth-test-issuer"


class FakeClock:
    """A clock the tests move by hand: ``clock.advance(seconds)``."""

    def __init__(self, start: float = 1_800_000_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# The stores every test of the fast suite runs on; REGAUTH_TEST_STORES=sqlite (or
# postgresql) runs one only.
STORES = tuple(os.environ.get("REGAUTH_TEST_STORES", "sqlite,postgresql").split(","))
# The folders whose tests run on every store; elsewhere (a served stack, the browser) the
# ``store`` fixture is SQLite's.
EVERY_STORE_FOLDERS = ("unit", "api", "lifecycle")
_TESTS = Path(__file__).parent


@pytest.fixture(params=STORES)
def store(request, tmp_path, clock):
    """A store with the test clock, empty: SQLite in tmp_path, or PostgreSQL (an emptied
    database on the session's server)."""
    if request.param == "postgresql":
        from tokenstore.postgres.store import PostgresStore

        store = PostgresStore(request.getfixturevalue("postgres_url"), bcrypt_cost=FAST_BCRYPT_COST, clock=clock)
    else:
        store = Store(tmp_path / "regauth.db", bcrypt_cost=FAST_BCRYPT_COST, clock=clock)
    yield store
    store.close()


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "sqlite_only(reason): the test is about SQLite itself (its file, WAL, locks); it runs on the "
        "SQLite store only",
    )


def pytest_collection_modifyitems(config, items):
    """Run each test on PostgreSQL only where it means something: in the fast suite's
    folders, and not when it is about SQLite itself (``sqlite_only``)."""
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("store") == "postgresql"
        folder = Path(str(item.fspath)).relative_to(_TESTS).parts[0]
        if on_postgres and (folder not in EVERY_STORE_FOLDERS or item.get_closest_marker("sqlite_only")):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def make_config(data_dir, **overrides) -> Config:
    """Return a Config for tests, with fast bcrypt and the test service names."""
    flags = {
        "data_dir": str(data_dir), "service": SERVICE, "issuer": ISSUER,
        "realm": "http://127.0.0.1:8080/token", "bcrypt_cost": str(FAST_BCRYPT_COST),
    }
    flags.update({key: str(value) for key, value in overrides.items()})
    return Config.load(flags, environ={})


@pytest.fixture
def config(tmp_path) -> Config:
    config = make_config(tmp_path)
    keys.generate(config.key_path, config.certificate_path, config.signing_alg)
    return config


@pytest.fixture
async def client(aiohttp_client, config, store):
    """An aiohttp test client for the app, on the ``store`` fixture."""
    return await aiohttp_client(create_app(config, store=store))


_unique_numbers = itertools.count(1)


@pytest.fixture
def unique(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """``unique("org") -> "org-<test name>-<n>"``: a fresh valid name, readable in the logs,
    never repeated within the session (tests share long-running servers)."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-").removeprefix("test-")[:30].strip("-")

    def make(prefix: str) -> str:
        return f"{prefix}-{slug}-{next(_unique_numbers)}"

    return make


@pytest.fixture
def bcrypt_runs(monkeypatch) -> list:
    """The bcrypt checks run so far, counted where tokenstore calls ``bcrypt.checkpw`` (a
    list, so the count is read live)."""
    runs = []
    real = hashing.bcrypt.checkpw

    def counting(password, hashed):
        runs.append(1)
        return real(password, hashed)

    monkeypatch.setattr(hashing.bcrypt, "checkpw", counting)
    return runs
