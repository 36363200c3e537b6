"""``regauth keys activate`` under ``regauth serve --workers 2``: both workers sign with the
new key within about two seconds, with no restart and no failed token request."""

import asyncio
import base64
import subprocess
import sys
import time

import aiohttp
import jwt

from tests.conftest import SERVICE
from tests.serve.test_workers import ENV, bytes_written, children, server  # noqa: F401 - fixture

ROUND = 16  # token requests per round, each on its own connection
SWITCH_SECONDS = 2.0


async def token_kids(port: int, secrets: dict[str, str], count: int) -> list[str]:
    """Ask for ``count`` tokens on new connections; returns each token's kid (fails on a refusal)."""
    names = list(secrets)
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:

        async def one(index: int) -> str:
            name = names[index % len(names)]
            basic = base64.b64encode(f"{name}:{secrets[name]}".encode()).decode()
            async with session.get(f"http://127.0.0.1:{port}/token", params={"service": SERVICE},
                                   headers={"Authorization": f"Basic {basic}"},
                                   timeout=aiohttp.ClientTimeout(total=10)) as reply:
                assert reply.status == 200, await reply.text()
                return jwt.get_unverified_header((await reply.json())["token"])["kid"]

        return await asyncio.gather(*(one(index) for index in range(count)))


def keys_command(data, *argv) -> str:
    result = subprocess.run([sys.executable, "-m", "gateway", "keys", *argv, "--data-dir", str(data)],
                            capture_output=True, text=True, env=ENV, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_activate_switches_every_workers_signing_key_within_two_seconds(server):  # noqa: F811
    process, port, database, secrets = server
    data = database.parent
    first = set(await token_kids(port, secrets, ROUND))
    assert len(first) == 1
    keys_command(data, "add")
    await asyncio.sleep(1.2)  # a staged key is trusted, never used to sign
    assert set(await token_kids(port, secrets, ROUND)) == first

    keys_command(data, "activate")
    activated = time.monotonic()
    workers = children(process.pid)
    # Requests keep coming while the workers take the change: none fails (token_kids checks).
    seen = set()
    while time.monotonic() - activated < SWITCH_SECONDS:
        seen |= set(await token_kids(port, secrets, ROUND))
    # From then on every worker signs with the new key: ten rounds, both workers answering.
    before = {pid: bytes_written(pid) for pid in workers}
    kids = set()
    for _ in range(10):
        kids |= set(await token_kids(port, secrets, ROUND))
    assert len(kids) == 1 and kids.isdisjoint(first)
    assert kids <= seen  # it was already signing before the deadline
    assert all(bytes_written(pid) > before[pid] for pid in workers)
    assert children(process.pid) == workers  # no worker was restarted
