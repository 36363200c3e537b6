"""``regauth serve --workers 2``: a login whose bcrypt check is running in one worker while
the robot is deleted, disabled or its secret regenerated through the other never gets a
token issued after that change.

Each trial sends a cold login and the change at the same moment, for a robot of its own
whose secret is hashed at cost 10 (a check of ~60 ms: long enough for the change to
commit while it runs). Whatever the interleaving, a 200 must come from an issuance that
committed before the change (its ``issue_token`` row precedes the change's row), and no
token may arrive after the change's 2xx.
"""

import asyncio
import base64
import sqlite3
import time

import aiohttp
import pytest

from tests.conftest import SERVICE
from tests.serve.serving import init_data_dir
from tests.serve.test_workers import free_port, serving
from tokenstore import Store

TRIALS = 20
SLOW_COST = 10
CHANGES = {
    "delete": ("DELETE", "", 204, "delete_robot"),
    "regenerate": ("POST", "/regenerate", 200, "regenerate_robot_token"),
    "disable": ("POST", "/disable", 200, "disable_robot"),
}


@pytest.fixture
def server(tmp_path):
    """``ns`` with its admin's API token and TRIALS robots per change, served by ``--workers 2``."""
    data = tmp_path / "data"
    settings, env = init_data_dir(data)
    store = Store(data / "regauth.db", bcrypt_cost=SLOW_COST)
    try:
        store.create_user("admin", "correct horse battery")
        api_token = store.create_api_token("admin").token
        store.create_organization("ns", admin="admin")
        secrets = {}
        for change in CHANGES:
            for index in range(TRIALS):
                name = f"ns+{change}{index}"
                secrets[name] = store.create_robot(name).secret
                store.grant(name, "ns", "write")
    finally:
        store.close()
    port = free_port()
    with serving(tmp_path, settings, env, port):
        yield port, data / "regauth.db", api_token, secrets


def audit_ids(database, change_kind: str, robot: str, shortname: str) -> tuple[list[int], list[int]]:
    """Return the ids of the robot's ``issue_token`` rows and of the change's row about it."""
    conn = sqlite3.connect(database)
    try:
        issued = [row[0] for row in conn.execute(
            "SELECT id FROM audit_log WHERE kind = 'issue_token' AND performer = ?", [robot])]
        changed = [row[0] for row in conn.execute(
            "SELECT id FROM audit_log WHERE kind = ? AND json_extract(metadata, '$.robot') = ?",
            [change_kind, shortname])]
    finally:
        conn.close()
    return issued, changed


@pytest.mark.parametrize("change", sorted(CHANGES))
async def test_no_token_issued_after_the_change(server, change):
    port, database, api_token, secrets = server
    method, suffix, expected, audit_kind = CHANGES[change]
    base = f"http://127.0.0.1:{port}"
    in_flight = late_tokens = 0
    async with aiohttp.ClientSession(trust_env=False, connector=aiohttp.TCPConnector(force_close=True)) as session:

        async def login(name: str):
            basic = base64.b64encode(f"{name}:{secrets[name]}".encode()).decode()
            async with session.get(f"{base}/token", params={"service": SERVICE, "scope": "repository:ns/app:pull,push"},
                                   headers={"Authorization": f"Basic {basic}"},
                                   timeout=aiohttp.ClientTimeout(total=30)) as reply:
                await reply.read()
                return reply.status, time.monotonic()

        async def take_away(shortname: str):
            async with session.request(method, f"{base}/api/v1/organization/ns/robots/{shortname}{suffix}",
                                       headers={"Authorization": f"Bearer {api_token}"},
                                       timeout=aiohttp.ClientTimeout(total=30)) as reply:
                await reply.read()
                return reply.status, time.monotonic()

        for index in range(TRIALS):
            shortname = f"{change}{index}"
            name = f"ns+{shortname}"
            (status, answered), (change_status, changed) = await asyncio.gather(login(name), take_away(shortname))
            assert change_status == expected
            issued, change_rows = audit_ids(database, audit_kind, name, shortname)
            assert len(change_rows) == 1
            if answered > changed:
                in_flight += 1
                late_tokens += status == 200
            if status == 200:
                # Issued, then: before the change, in the order of the database's writes.
                assert issued and max(issued) < change_rows[0], (index, issued, change_rows)
            else:
                assert status == 401 and not issued
    assert late_tokens == 0
    # The trials did put logins in flight across the change (else they prove nothing).
    assert in_flight >= TRIALS // 4, in_flight
