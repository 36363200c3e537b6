"""Metrics of a database that cannot take a write (its disk full): a token request it fails
is counted as an ``error``, and the audit row of a refused login that cannot be written as an
audit write failure."""

import asyncio
import time

import pytest

from tests.api.test_database_failures import disk, store  # noqa: F401 - the store on a small disk
from tests.api.test_metrics import delta, scrape
from tests.disks import fill

pytestmark = pytest.mark.sqlite_only


async def test_a_full_disk_counts_errors_and_audit_write_failures(api, store, disk):  # noqa: F811
    store.create_namespace("acme")
    issued = store.create_robot("acme+ci")
    store.grant("acme+ci", "acme", "read")
    before = await scrape(api)
    filler = fill(disk)
    assert (await api.token("acme+ci", issued.secret, "repository:acme/app:pull")).status == 503
    assert (await api.token("acme+ci", "wrong", "repository:acme/app:pull")).status == 401
    deadline = time.monotonic() + 5
    while True:  # the refusal's audit write may fail after the refusal was answered
        after = await scrape(api)
        if delta(before, after, "regauth_audit_write_failures_total") >= 1:
            break
        assert time.monotonic() < deadline, "the failed audit write was not counted within 5 s"
        await asyncio.sleep(0.05)
    filler.unlink()
    assert delta(before, after, "regauth_token_requests_total", outcome="error") == 1
    assert delta(before, after, "regauth_token_requests_total", outcome="refused") == 1
    assert delta(before, after, "regauth_audit_write_failures_total") == 1
