"""Management writes while another connection keeps committing, as the audit writer does
under a CI fleet's token requests.

A transaction that reads before it writes, begun the default (deferred) way, fails at once
with "database is locked" when another connection commits between its read and its first
write; the busy timeout does not help. tokenstore's transactions take the write lock when
they begin, so they wait their turn instead.
"""

import sqlite3
import threading
import time

import pytest

from tokenstore import Store, hashing
from tokenstore.sqlite.database import WriterLock
from tests.conftest import FAST_BCRYPT_COST

ROUNDS = 60


@pytest.fixture
def busy_store(tmp_path):
    """A store, and another connection to its database committing audit rows non-stop."""
    store = Store(tmp_path / "regauth.db", bcrypt_cost=FAST_BCRYPT_COST)
    store.create_namespace("acme")
    store.create_robot("acme+ci")
    other = Store(tmp_path / "regauth.db", bcrypt_cost=FAST_BCRYPT_COST)
    stop = threading.Event()

    def keep_writing():
        while not stop.is_set():
            with other.db.atomic():
                other.record_robot_login("acme+ci", success=True, scopes=["repository:acme/app:pull"], access=[])
            stop.wait(0.0005)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    yield store
    stop.set()
    writer.join()
    other.close()
    store.close()


def test_regenerate_never_fails_on_a_busy_database(busy_store):
    secrets = [busy_store.regenerate_robot_audited("acme+ci").secret for _ in range(ROUNDS)]
    assert busy_store.authenticate("acme+ci", secrets[-1]).username == "acme+ci"


def test_the_collector_never_fails_on_a_busy_database(busy_store):
    for round_ in range(ROUNDS // 4):
        busy_store.create_robot(f"acme+gone{round_}")
        busy_store.delete_robot(f"acme+gone{round_}")
        assert busy_store.collect_garbage()["robots"] == 1


def test_the_collector_takes_the_writers_turn(tmp_path):
    # The server's audit writers hold this lock around each commit; the collector waits for
    # it too rather than polling SQLite's lock with sleeps.
    store = Store(tmp_path / "regauth.db", bcrypt_cost=FAST_BCRYPT_COST)
    store.create_namespace("gone")
    store.delete_namespace("gone")
    held = WriterLock(store.path)
    done = threading.Event()
    removed = {}

    def collect():
        removed.update(store.collect_garbage())
        done.set()

    with held:
        collector = threading.Thread(target=collect)
        collector.start()
        assert not done.wait(0.3), "the collector wrote while another writer held the lock"
    assert done.wait(10)
    collector.join()
    held.close()
    assert removed == {"namespaces": 1}
    store.close()


@pytest.mark.parametrize("change", ["create", "regenerate"])
def test_no_writer_waits_while_a_new_secret_is_hashed(tmp_path, monkeypatch, change):
    # A new secret's bcrypt hash takes ~0.25 s at the default cost. It is made before the
    # change's transaction takes the write lock, so the audit writers never wait it out.
    store = Store(tmp_path / "regauth.db", bcrypt_cost=FAST_BCRYPT_COST)
    store.create_namespace("acme")
    store.create_robot("acme+ci")
    hashing_started, real_hash = threading.Event(), hashing.hash_secret

    def slow_hash(secret, cost):
        hashing_started.set()
        time.sleep(0.4)
        return real_hash(secret, cost)

    monkeypatch.setattr(hashing, "hash_secret", slow_hash)
    if change == "create":
        worker = threading.Thread(target=store.create_robot_audited, args=("acme+cd",))
    else:
        worker = threading.Thread(target=store.regenerate_robot_audited, args=("acme+ci",))
    worker.start()
    assert hashing_started.wait(5)
    other = sqlite3.connect(store.path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # fails at once ("database is locked") if the hash holds the lock
        other.execute("ROLLBACK")
    finally:
        other.close()
        worker.join()
    store.close()
