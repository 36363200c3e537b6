"""The ceilings: bare aiohttp handlers, served the way ``regauth serve --workers N`` serves
(fork N processes, each binding the port with SO_REUSEPORT), with no access log.

``python -m bench.bare PORT WORKERS BODY_BYTES``: answers every GET with a JSON body of about
BODY_BYTES bytes (16 for the plain ceiling; a token reply's size for the second one).

``python -m bench.bare PORT WORKERS signed DATA_DIR``: answers every GET with a freshly signed
token, minted and written out by the gateway's own code with the key in DATA_DIR (the server
being measured), and nothing else: no credentials, no database, no audit row, no log. It is
the ceiling of any token service that signs a token per request, as the registry needs.
"""

import json
import os
import sys
from pathlib import Path

from aiohttp import web


def plain_handler(body_bytes: int):
    """Return a handler answering a fixed JSON body of about ``body_bytes`` bytes."""
    body = json.dumps({"status": "ok", "pad": "x" * max(0, body_bytes - 30)} if body_bytes > 30 else {"status": "ok"})

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="application/json")

    return handler


def signing_handler(data_dir: Path):
    """Return a handler answering a token signed per request with the key in ``data_dir``."""
    # Imported here: the plain ceilings stay free of the gateway's imports.
    from bench.run import ISSUER, SCOPE, SERVICE
    from gateway.token import keys
    from gateway.token.scopes import parse_scope
    from gateway.token.response import token_body
    from gateway.token.tokens import Access, mint

    key = keys.load(data_dir / "signing-key.pem", data_dir / "signing-cert.pem")
    # The grant the warm token requests get: the whole scope they ask for.
    scope = parse_scope(SCOPE)
    access = [Access(scope.resource.type, scope.resource.name, scope.actions)]

    async def handler(request: web.Request) -> web.Response:
        # The benchmarked server's issuer and service: tokens the size of its own.
        minted = mint(key, issuer=ISSUER, service=SERVICE, subject="ns+warm00", access=access, ttl=300)
        return web.Response(body=token_body(minted, SCOPE, None), content_type="application/json")

    return handler


def main() -> None:
    port, workers = int(sys.argv[1]), int(sys.argv[2])
    handler = signing_handler(Path(sys.argv[4])) if sys.argv[3] == "signed" else plain_handler(int(sys.argv[3]))
    # Stopped as a process group (the benchmark signals the whole session).
    for _ in range(workers - 1):
        if os.fork() == 0:
            break
    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    web.run_app(app, host="127.0.0.1", port=port, reuse_port=True, access_log=None, print=None)


if __name__ == "__main__":
    main()
