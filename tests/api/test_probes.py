"""``/livez`` and ``/readyz`` on both stores: live while the process answers, ready while the
store answers a read, and ready again by itself once the store is back.

The store is made unable to answer the way each backend fails in service: the SQLite file
removed under the running app (for good, until a restart); the PostgreSQL database closed to
new connections with its sessions ended, as a server going away would, then opened again.
"""

import contextlib
from collections.abc import Callable, Iterator

import pytest

from gateway.app import create_app
from tests.api.conftest import Api
from tests.conftest import FAST_BCRYPT_COST
from tokenstore import Store
from tokenstore.postgres.store import PostgresStore

PG_DATABASE = "regauth_probes"


class Outage:
    """A store of the test's own, and ``cut()`` to take its data away from it."""

    def __init__(self, store, cut):
        self.store = store
        self.cut = cut


@contextlib.contextmanager
def sqlite_outage(tmp_path, clock) -> Iterator[Outage]:
    """The SQLite store, cut off by removing its file (for good, until a restart: SQLite
    would go on writing to the removed file)."""
    store = Store(tmp_path / "regauth.db", bcrypt_cost=FAST_BCRYPT_COST, clock=clock)
    try:
        yield Outage(store, cut=store.path.unlink)
    finally:
        store.close()


@contextlib.contextmanager
def postgres_outage(server, clock) -> Iterator[tuple[Outage, Callable[[], None]]]:
    """The PostgreSQL store on a database of its own, and the means to open it again."""
    server.drop_database(PG_DATABASE)
    store = PostgresStore(server.create_database(PG_DATABASE), bcrypt_cost=FAST_BCRYPT_COST, clock=clock)

    def allow_connections(allowed: bool) -> None:
        server.admin_execute(f'ALTER DATABASE "{PG_DATABASE}" WITH ALLOW_CONNECTIONS {str(allowed).lower()}')

    def cut() -> None:
        allow_connections(False)
        server.admin_execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                             [PG_DATABASE])

    try:
        yield Outage(store, cut=cut), lambda: allow_connections(True)
    finally:
        store.close()
        allow_connections(True)
        server.drop_database(PG_DATABASE)


@pytest.fixture(params=["sqlite", "postgresql"])
def outage(request, tmp_path, clock) -> Iterator[Outage]:
    if request.param == "sqlite":
        with sqlite_outage(tmp_path, clock) as made:
            yield made
    else:
        with postgres_outage(request.getfixturevalue("postgres_server"), clock) as (made, _):
            yield made


@pytest.fixture
async def probed(aiohttp_client, config, outage) -> Api:
    return Api(await aiohttp_client(create_app(config, store=outage.store)))


CHECKS = {"store_read": "ok", "store_write": "ok", "signing_key": "ok", "workers": "ok"}


async def test_live_and_ready_while_the_store_answers(probed):
    live = await probed.get("/livez")
    assert (live.status, live.body) == (200, {"status": "ok"})
    for path in ("/readyz", "/healthz"):
        reply = await probed.get(path)
        assert (reply.status, reply.body) == (200, {"status": "ok", "checks": CHECKS}), path
        assert "Retry-After" not in reply.headers


async def test_not_ready_while_the_store_cannot_answer_yet_live(probed, outage):
    assert (await probed.get("/readyz")).status == 200
    outage.cut()
    ready = await probed.get("/readyz")
    assert ready.status == 503
    assert ready.body["status"] == "unavailable"
    # The cause in words, never a driver's message with a host, user or path in it.
    expected = {
        "sqlite": "the database file was removed or replaced while the server ran",
        "postgresql": "PostgreSQL cannot be reached",
    }[outage.store.backend]
    assert ready.body["reason"] == expected
    assert ready.body["checks"] == {**CHECKS, "store_read": expected, "store_write": "not tried: no read"}
    assert int(ready.headers["Retry-After"]) > 0
    live = await probed.get("/livez")
    assert (live.status, live.body) == (200, {"status": "ok"})
    # /healthz is the same probe under its former name.
    health = await probed.get("/healthz")
    assert health.status == 503 and health.body["reason"] == expected and "Retry-After" in health.headers


async def test_ready_again_by_itself_once_postgresql_is_back(aiohttp_client, config, postgres_server, clock):
    with postgres_outage(postgres_server, clock) as (outage, mend):
        probed = Api(await aiohttp_client(create_app(config, store=outage.store)))
        outage.cut()
        assert (await probed.get("/readyz")).status == 503
        mend()
        # The next read connects anew: no restart.
        reply = await probed.get("/readyz")
        assert (reply.status, reply.body["status"]) == (200, "ok")
