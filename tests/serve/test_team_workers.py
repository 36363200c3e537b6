"""``regauth serve --workers 2``: a robot's team rights end at its next token request in
every worker, though each worker holds its verified credential in its cache.

The robot holds no grant of its own, only its team's write role on ``ns/app``. Token requests
on fresh connections (spread over both workers by the kernel) warm both caches; then the
robot is taken out of the team through the API (answered by one worker), and every later
request, whichever worker answers it, grants nothing.
"""

import asyncio
import base64

import aiohttp
import jwt
import pytest

from tests.conftest import FAST_BCRYPT_COST, SERVICE
from tests.serve.serving import init_data_dir
from tests.serve.test_workers import bytes_written, children, free_port, serving
from tokenstore import Store

REQUESTS = 40


@pytest.fixture
def server(tmp_path):
    data = tmp_path / "data"
    settings, env = init_data_dir(data)
    store = Store(data / "regauth.db", bcrypt_cost=FAST_BCRYPT_COST)
    try:
        store.create_user("admin", "correct horse battery")
        api_token = store.create_api_token("admin").token
        store.create_organization("ns", admin="admin")
        store.create_repository("ns/app")
        secret = store.create_robot("ns+ci").secret
        store.create_team("ns", "devs")
        store.add_team_member("ns", "devs", "ns+ci")
        store.set_team_permission("ns", "devs", "ns/app", "write")
    finally:
        store.close()
    port = free_port()
    with serving(tmp_path, settings, env, port) as process:
        yield process, port, api_token, secret


async def granted_actions(port: int, secret: str) -> list[tuple[str, ...]]:
    """Send REQUESTS token requests for ``ns/app:pull,push`` as ``ns+ci``, each on a new
    connection, two at a time; return the actions each token grants."""
    basic = base64.b64encode(f"ns+ci:{secret}".encode()).decode()
    semaphore = asyncio.Semaphore(2)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True), trust_env=False) as session:

        async def one() -> tuple[str, ...]:
            async with semaphore, session.get(
                f"http://127.0.0.1:{port}/token", params={"service": SERVICE, "scope": "repository:ns/app:pull,push"},
                headers={"Authorization": f"Basic {basic}"}, timeout=aiohttp.ClientTimeout(total=30),
            ) as reply:
                assert reply.status == 200
                claims = jwt.decode((await reply.json())["token"], options={"verify_signature": False})
                return tuple(claims["access"][0]["actions"])

        return await asyncio.gather(*(one() for _ in range(REQUESTS)))


async def test_leaving_the_team_counts_at_the_next_request_in_every_worker(server):
    process, port, api_token, secret = server
    workers = children(process.pid)
    before = {pid: bytes_written(pid) for pid in workers}
    assert set(await granted_actions(port, secret)) == {("pull", "push")}
    # Both workers answered some of them, so both hold the credential in their caches.
    assert all(bytes_written(pid) > before[pid] for pid in workers)

    async with aiohttp.ClientSession(trust_env=False) as session, session.delete(
        f"http://127.0.0.1:{port}/api/v1/organization/ns/team/devs/members/ns+ci",
        headers={"Authorization": f"Bearer {api_token}"}, timeout=aiohttp.ClientTimeout(total=30),
    ) as reply:
        assert reply.status == 204

    before = {pid: bytes_written(pid) for pid in workers}
    assert set(await granted_actions(port, secret)) == {()}
    assert all(bytes_written(pid) > before[pid] for pid in workers)
