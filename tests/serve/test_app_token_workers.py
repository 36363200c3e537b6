"""``regauth serve --workers 2``: an app token revoked through one worker is refused by every
worker at the very next request (the token is looked up in each issuing transaction; no
worker holds it in a cache)."""

import base64

import aiohttp

from tests.conftest import SERVICE
from tests.serve.serving import init_data_dir
from tests.serve.test_workers import free_port, serving
from tokenstore import Store

# Enough requests on fresh connections that both workers answer some, before and after.
REQUESTS = 16


async def test_a_revoked_app_token_is_refused_by_every_worker_at_once(tmp_path):
    data = tmp_path / "data"
    settings, env = init_data_dir(data)
    store = Store(data / "regauth.db", bcrypt_cost=4)
    try:
        store.create_user("dev", "correct horse battery")
        api_token = store.create_api_token("dev").token
        app_token = store.create_app_token("dev", "laptop").token
    finally:
        store.close()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    basic = base64.b64encode(f"$app:{app_token}".encode()).decode()
    with serving(tmp_path, settings, env, port):
        async with aiohttp.ClientSession(trust_env=False, connector=aiohttp.TCPConnector(force_close=True)) as session:

            async def statuses() -> list[int]:
                found = []
                for _ in range(REQUESTS):
                    async with session.get(f"{base}/token", params={"service": SERVICE, "scope": "repository:dev/app:pull"},
                                           headers={"Authorization": f"Basic {basic}"},
                                           timeout=aiohttp.ClientTimeout(total=30)) as reply:
                        found.append(reply.status)
                return found

            assert await statuses() == [200] * REQUESTS
            bearer = {"Authorization": f"Bearer {api_token}"}
            async with session.get(f"{base}/api/v1/user/apptoken", headers=bearer) as reply:
                (token,) = (await reply.json())["tokens"]
            async with session.delete(f"{base}/api/v1/user/apptoken/{token['uuid']}", headers=bearer) as reply:
                assert reply.status == 204
            assert await statuses() == [401] * REQUESTS
