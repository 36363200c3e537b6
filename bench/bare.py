"""The ceiling: a bare aiohttp handler, served the way ``regauth serve --workers N`` serves
(fork N processes, each binding the port with SO_REUSEPORT), with no access log.

``python -m bench.bare PORT WORKERS BODY_BYTES``: answers every GET with a JSON body of about
BODY_BYTES bytes (16 for the plain ceiling; a token reply's size for the second one).
"""

import json
import os
import sys

from aiohttp import web


def main() -> None:
    port, workers, body_bytes = (int(arg) for arg in sys.argv[1:4])
    body = json.dumps({"status": "ok", "pad": "x" * max(0, body_bytes - 30)} if body_bytes > 30 else {"status": "ok"})

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="application/json")

    # Stopped as a process group (the benchmark signals the whole session).
    for _ in range(workers - 1):
        if os.fork() == 0:
            break
    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    web.run_app(app, host="127.0.0.1", port=port, reuse_port=True, access_log=None, print=None)


if __name__ == "__main__":
    main()
