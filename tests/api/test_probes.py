"""``/livez`` and ``/readyz`` on both stores: live while the process answers, ready while the
store answers a read and commits a write and the signing certificate is valid, and ready again
by itself once the store is back.

The store is made unable to answer the way each backend fails in service: the SQLite file
removed under the running app (for good, until a restart); the PostgreSQL database closed to
new connections with its sessions ended, as a server going away would, then opened again.
"""

import asyncio
import contextlib
import datetime
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from gateway.app import create_app
from gateway.server import health
from tests.api.conftest import Api, Reply
from tests.conftest import FAST_BCRYPT_COST
from tests.disks import fill, read_only_view, small_disk
from tokenstore import Store
from tokenstore.postgres.schema import WRITE_LOCK_KEY
from tokenstore.postgres.store import PostgresStore
from tokenstore.sqlite.database import WriterLock

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


@pytest.fixture
def no_write_interval(monkeypatch):
    """Set the write check's interval (seconds); returns the setter."""
    return lambda seconds: monkeypatch.setattr(health, "WRITE_CHECK_INTERVAL", seconds)


def probe_row(store) -> list[tuple]:
    return [tuple(row) for row in store.db.execute("SELECT id, written FROM readiness_probe").fetchall()]


async def test_readyz_commits_a_write_at_most_once_an_interval(probed, outage, clock, no_write_interval):
    no_write_interval(3600)
    assert (await probed.get("/readyz")).status == 200
    first = clock()
    assert probe_row(outage.store) == [(1, first)]
    clock.advance(10)
    assert (await probed.get("/readyz")).status == 200
    assert probe_row(outage.store) == [(1, first)]  # within the interval: no second write
    no_write_interval(0)
    assert (await probed.get("/readyz")).status == 200
    assert probe_row(outage.store) == [(1, clock())]


async def test_on_postgresql_the_write_check_shares_the_write_lock(aiohttp_client, config, postgres_server, clock):
    """Another replica's writer holding the write lock shared (its batch of logins) does not
    hold up the probe's write; an exclusive lock would wait LOCK_TIMEOUT (10 s) and fail."""
    with postgres_outage(postgres_server, clock) as (outage, _):
        probed = Api(await aiohttp_client(create_app(config, store=outage.store)))
        with psycopg.connect(outage.store.url, autocommit=True) as other:
            other.execute("SELECT pg_advisory_lock_shared(%s)", [WRITE_LOCK_KEY])
            started = time.monotonic()
            reply = await probed.get("/readyz")
            assert (reply.status, reply.body["checks"]["store_write"]) == (200, "ok")
            assert time.monotonic() - started < 5
            assert probe_row(outage.store) == [(1, clock())]


def write_expired_certificate(config) -> datetime.datetime:
    """Replace the signing certificate with one for the same key that expired an hour ago;
    returns when it expired."""
    key = serialization.load_pem_private_key(config.key_path.read_bytes(), password=None)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "regauth")])
    expired = now - datetime.timedelta(hours=1)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=2)).not_valid_after(expired)
        .sign(key, hashes.SHA256())
    )
    config.certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return expired


async def test_an_expired_signing_certificate_is_not_ready(aiohttp_client, config, tmp_path, clock):
    expired = write_expired_certificate(config)
    with sqlite_outage(tmp_path, clock) as outage:
        probed = Api(await aiohttp_client(create_app(config, store=outage.store)))
        reply = await probed.get("/readyz")
        assert reply.status == 503 and reply.headers["Retry-After"].isdigit()
        message = f"the signing certificate expired at {expired.isoformat()}"
        assert reply.body == {
            "status": "unavailable", "reason": message, "checks": {**CHECKS, "signing_key": message},
        }
        assert (await probed.get("/livez")).status == 200


async def ready_status(probed: Api, wanted: int) -> Reply:
    """Ask /readyz until it answers ``wanted`` (the write check's outcome stands for up to
    WRITE_CHECK_INTERVAL); returns that reply. Raises AssertionError after 5 s."""
    deadline = time.monotonic() + 5
    while True:
        reply = await probed.get("/readyz")
        if reply.status == wanted or time.monotonic() > deadline:
            assert reply.status == wanted, reply
            return reply
        await asyncio.sleep(0.2)


@pytest.fixture
def disk_store(tmp_path, clock):
    with small_disk(tmp_path / "disk") as disk:
        store = Store(disk / "regauth.db", bcrypt_cost=FAST_BCRYPT_COST, clock=clock)
        yield store
        store.close()


async def test_a_full_disk_makes_readyz_503_naming_the_write(aiohttp_client, config, disk_store):
    probed = Api(await aiohttp_client(create_app(config, store=disk_store)))
    assert (await probed.get("/readyz")).status == 200
    filler = fill(disk_store.path.parent)
    reply = await ready_status(probed, 503)
    assert reply.body["checks"] == {**CHECKS, "store_write": "the database's disk is full"}
    filler.unlink()
    await ready_status(probed, 200)


async def test_a_read_only_database_makes_readyz_503_naming_the_write(aiohttp_client, config, tmp_path, disk_store):
    # What the server made when it started, before the disk went read-only: the writers' lock
    # file, and the WAL files an open connection keeps.
    WriterLock(disk_store.path).close()
    disk_store.check()
    with read_only_view(disk_store.path.parent, tmp_path / "read-only") as view:
        served = Store(view / disk_store.path.name, bcrypt_cost=FAST_BCRYPT_COST)
        try:
            probed = Api(await aiohttp_client(create_app(config, store=served)))
            reply = await probed.get("/readyz")
            assert reply.status == 503
            assert reply.body["checks"] == {**CHECKS, "store_write": "the database is read-only"}
            await probed.client.close()
        finally:
            served.close()
