"""The thread pools: batched database jobs, and writes committed together."""

import asyncio
import contextvars
import os
import threading

import pytest

from gateway.offload import BatchingPool, Offload
from tests.stores import OtherWriter

REQUEST_ID = contextvars.ContextVar("request_id", default=None)


@pytest.fixture
async def offload(store):
    pools = Offload(store=store)
    yield pools
    pools.close()


async def test_database_jobs_run_off_the_loop_and_return_or_raise(offload):
    loop_thread = threading.get_ident()
    assert await offload.database(threading.get_ident) != loop_thread
    with pytest.raises(KeyError):
        await offload.database({}.__getitem__, "missing")


async def test_jobs_see_the_callers_context(offload):
    async def one(value):
        REQUEST_ID.set(value)
        return await offload.database(REQUEST_ID.get)

    assert await asyncio.gather(*(one(i) for i in range(50))) == list(range(50))


async def test_many_jobs_are_answered_in_batches():
    pool = BatchingPool(1, thread_name_prefix="test")
    release = threading.Event()
    try:
        blocker = asyncio.ensure_future(pool.run(release.wait, 5))
        await asyncio.sleep(0.05)
        waiting = [asyncio.ensure_future(pool.run(lambda i=i: i * 2)) for i in range(200)]
        release.set()
        assert await asyncio.gather(*waiting) == [i * 2 for i in range(200)]
        assert await blocker is True
    finally:
        pool.close()


async def test_a_caller_that_gives_up_does_not_disturb_the_others():
    pool = BatchingPool(1, thread_name_prefix="test")
    release = threading.Event()
    try:
        first = asyncio.ensure_future(pool.run(release.wait, 5))
        second = asyncio.ensure_future(pool.run(lambda: "done"))
        await asyncio.sleep(0.05)
        first.cancel()
        release.set()
        assert await second == "done"
    finally:
        pool.close()


def audit_rows(store) -> list[str]:
    return [row[0] for row in store.db.execute("SELECT kind FROM audit_log ORDER BY id")]


async def test_writes_are_committed_together_and_a_failing_one_alone_is_undone(offload, store):
    store.create_namespace("myorg")

    def write(kind):
        store.record_event(kind, "myorg")
        if kind == "bad":
            raise ValueError("refused")
        return kind

    results = await asyncio.gather(*(offload.write(write, kind) for kind in ("one", "bad", "two")), return_exceptions=True)
    assert results[0] == "one" and isinstance(results[1], ValueError) and results[2] == "two"
    assert audit_rows(store) == ["one", "two"]
    assert not store.db.in_transaction


async def test_a_write_waits_for_another_writer_instead_of_failing(offload, store):
    store.create_namespace("myorg")
    other = OtherWriter(store).begin()
    write = asyncio.ensure_future(offload.write(store.record_event, "late", "myorg"))
    await asyncio.sleep(0.3)
    assert not write.done()
    other.commit()
    other.close()
    assert await write is True
    assert audit_rows(store) == ["late"]


async def test_bcrypt_threads_run_at_a_lower_priority(offload):
    thread = await offload.bcrypt(threading.get_native_id)
    assert os.getpriority(os.PRIO_PROCESS, thread) > os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


async def test_write_soon_returns_once_committed(offload, store):
    store.create_namespace("myorg")
    assert await offload.write_soon(store.record_event, "quick", "myorg") is None
    assert audit_rows(store) == ["quick"]
    with pytest.raises(ValueError):
        await offload.write_soon(int, "not a number")


async def test_write_soon_stops_waiting_for_a_stalled_commit_but_the_row_lands(offload, store, monkeypatch):
    import gateway.offload

    monkeypatch.setattr(gateway.offload, "WRITE_WAIT", 0.05)
    store.create_namespace("myorg")
    other = OtherWriter(store).begin()
    try:
        began = asyncio.get_running_loop().time()
        await offload.write_soon(store.record_event, "late", "myorg")
        assert asyncio.get_running_loop().time() - began < 1
        assert audit_rows(store) == []
    finally:
        other.commit()
        other.close()
    for _ in range(100):
        if audit_rows(store):
            break
        await asyncio.sleep(0.02)
    assert audit_rows(store) == ["late"]


@pytest.mark.sqlite_only
async def test_the_checkpointer_keeps_the_wal_small(store, monkeypatch):
    import tokenstore.sqlite.housekeeping as housekeeping

    monkeypatch.setattr(housekeeping, "CHECKPOINT_PAGES", 10)
    monkeypatch.setattr(housekeeping, "CHECKPOINT_INTERVAL", 0.1)
    pools = Offload(store=store)
    wal = store.path.with_name(store.path.name + "-wal")

    async def fill():
        for _ in range(50):
            await pools.write(lambda: store.db.execute("INSERT INTO filler VALUES (randomblob(4000))"))

    try:
        # store.db inside the job: the writer thread's own connection.
        await pools.write(lambda: store.db.execute("CREATE TABLE filler (data BLOB)"))
        await fill()
        first = wal.stat().st_size
        await asyncio.sleep(1.0)  # the checkpointer copies everything back, under the writers' lock
        await fill()
        # The writer never checkpoints itself, yet the WAL started over instead of doubling.
        assert first > 50 * 4000
        assert wal.stat().st_size < first * 1.5
    finally:
        pools.close()
