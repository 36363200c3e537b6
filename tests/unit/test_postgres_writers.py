"""The writer batches of several processes on one PostgreSQL: side by side with each other,
never beside a change that takes credentials away."""

import threading
import time

import pytest

from tests.conftest import FAST_BCRYPT_COST
from tokenstore import StoreBusy
from tokenstore.postgres.connection import PostgresDatabase
from tokenstore.postgres.store import PostgresStore

WAIT = 10.0


@pytest.fixture
def connections(postgres_url):
    opened = [PostgresDatabase(postgres_url) for _ in range(3)]
    opened[0].execute("INSERT INTO namespaces (name, kind, created) VALUES ('acme', 'organization', 1)")
    yield opened
    for db in opened:
        db.close()


def held_batch(db, entered: threading.Event, release: threading.Event, results: list) -> threading.Thread:
    """A writer batch on ``db`` whose one job waits for ``release`` (holding its lock)."""

    def job():
        db.execute("SELECT 1")  # a batch takes the lock with its first statement
        entered.set()
        release.wait(WAIT)
        return "held"

    thread = threading.Thread(target=lambda: results.extend(db.run_batch([job])))
    thread.start()
    assert entered.wait(WAIT)
    return thread


def test_two_processes_batches_run_side_by_side(connections):
    first, second, _ = connections
    entered, release, results = threading.Event(), threading.Event(), []
    thread = held_batch(first, entered, release, results)
    try:
        began = time.monotonic()
        assert second.run_batch([lambda: "alongside"]) == [(True, "alongside")]
        assert time.monotonic() - began < 2  # not behind the held batch
    finally:
        release.set()
        thread.join(WAIT)
    assert results == [(True, "held")]


def test_a_change_waits_for_the_batches_under_way_and_they_for_it(connections):
    first, second, third = connections
    entered, release, results = threading.Event(), threading.Event(), []
    thread = held_batch(first, entered, release, results)
    order = []

    def change():
        with second.atomic():  # a delete, a regenerate, a grant revoked
            order.append("change")
            second.execute("UPDATE namespaces SET deleted_at = 2 WHERE name = 'acme'")

    changing = threading.Thread(target=change)
    changing.start()
    time.sleep(0.3)
    assert order == []  # waits for the batch that began before it
    # A batch that begins now waits for the change, and sees it.
    later = []
    batch = threading.Thread(target=lambda: later.extend(third.run_batch([
        lambda: third.execute("SELECT deleted_at FROM namespaces WHERE name = 'acme'").fetchone()[0],
    ])))
    time.sleep(0.1)
    batch.start()
    release.set()
    for waiting in (thread, changing, batch):
        waiting.join(WAIT)
    assert order == ["change"] and results == [(True, "held")]
    assert later == [(True, 2.0)]


def test_a_brief_write_in_a_batch_waits_only_briefly_for_a_row(postgres_url, connections):
    first, _, _ = connections
    holder = PostgresDatabase(postgres_url)
    try:
        # Another process's batch holds a row (shared lock: batches run side by side).
        entered, release, results = threading.Event(), threading.Event(), []

        def hold_row():
            holder.execute("UPDATE namespaces SET created = 5 WHERE name = 'acme'")
            entered.set()
            release.wait(WAIT)

        thread = threading.Thread(target=lambda: results.extend(holder.run_batch([hold_row])))
        thread.start()
        assert entered.wait(WAIT)

        def brief():
            with first.atomic(lock_wait=0.25):
                first.execute("UPDATE namespaces SET created = 6 WHERE name = 'acme'")

        began = time.monotonic()
        outcome = first.run_batch([brief, lambda: "next job"])
        waited = time.monotonic() - began
        release.set()
        thread.join(WAIT)
    finally:
        holder.close()
    assert isinstance(outcome[0][1], StoreBusy) and outcome[1] == (True, "next job")
    assert waited < 2


def test_refusals_counted_by_two_processes_at_once_lose_no_count(postgres_url):
    stores = [PostgresStore(postgres_url, bcrypt_cost=FAST_BCRYPT_COST) for _ in range(2)]
    try:
        stores[0].create_namespace("acme")
        rounds = 40

        def refuse(store):
            for _ in range(rounds):
                store.run_batch([lambda: store.record_refusal(
                    "login_failure", "acme", performer="acme+ci", ip="10.0.0.1", reason="invalid", metadata={},
                )])

        threads = [threading.Thread(target=refuse, args=(store,)) for store in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        events, _ = stores[0].list_events("acme", start=0, end=1e12)
        assert sum(event.metadata["count"] for event in events) == 2 * rounds
    finally:
        for store in stores:
            store.close()
