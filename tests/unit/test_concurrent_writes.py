"""Management writes while another connection keeps committing, as the audit writer does
under a CI fleet's token requests.

A transaction that reads before it writes, begun the default (deferred) way, fails at once
with "database is locked" when another connection commits between its read and its first
write; the busy timeout does not help. tokenstore's transactions take the write lock when
they begin, so they wait their turn instead.
"""

import threading

import pytest

from tokenstore import Store
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
