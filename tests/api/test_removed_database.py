"""A database file removed or replaced while the server runs: noticed on its own within a
second or so, logged as an ERROR, /healthz 503 naming it, and writes refused with a 503
instead of being acknowledged into a file that is gone."""

import pytest
import asyncio
import logging
import os

from tests.api.conftest import assert_error

# About SQLite itself: its file on disk, its query planner.
pytestmark = pytest.mark.sqlite_only

REPLACED = "the database file was removed or replaced while the server ran"


async def test_a_removed_database_file_is_noticed_unhealthy_and_refuses_writes(api, store, alice, acme, caplog):
    assert (await api.get("/healthz")).status == 200
    os.unlink(store.path)
    # The server's own check notices without any request (bounded wait).
    for _ in range(100):
        if any(r.levelno == logging.ERROR and str(store.path) in r.getMessage() for r in caplog.records):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the removed database file was not noticed within 5 s")
    health = await api.get("/healthz")
    assert health.status == 503 and (health.body["status"], health.body["reason"]) == ("unavailable", REPLACED)
    assert health.body["checks"]["store_read"] == REPLACED
    reply = await api.put("/api/v1/organization/acme/robots/ci", alice, json_body={})
    assert_error(reply, 503, "service_unavailable")
    assert reply.body["detail"] == f"{REPLACED}: nothing was changed"
    assert not store.path.exists()


async def test_a_replaced_database_file_refuses_the_next_write_at_once(api, store, alice, acme):
    """A write checks the file itself just before it begins: no check needs to have run."""
    os.rename(store.path, store.path.with_name("old.db"))
    store.path.write_bytes(b"")  # something else now lives at the path
    reply = await api.put("/api/v1/organization/acme/robots/ci", alice, json_body={})
    assert_error(reply, 503, "service_unavailable")
    assert REPLACED in reply.body["detail"]
    assert (await api.get("/healthz")).status == 503
