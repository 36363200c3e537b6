"""The benchmark's own load client, run as a separate process (``python -m bench.client``).

``wrk`` serves every measurement where the same request can be sent again and again. A cold
check needs a credential the server has never verified, so every request of a cold run uses
a different robot; this client sends them, at most ``--concurrency`` at a time, each robot
once, and stops starting new ones at ``--deadline`` seconds.

Credentials come on stdin as JSON ``{"names": [...], "secret": "..."}`` (never on the command
line, where ``ps`` would show them). The result goes to stdout as one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import time
from collections import Counter

import aiohttp

REQUEST_TIMEOUT = 120.0


def basic(name: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{secret}".encode()).decode()


async def cold(url: str, names: list[str], secret: str, concurrency: int, deadline: float) -> dict:
    latencies: list[float] = []
    statuses: Counter = Counter()
    queue: asyncio.Queue = asyncio.Queue()
    for name in names:
        queue.put_nowait(name)
    started = time.perf_counter()
    stop_at = started + deadline
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=False) as session:

        async def worker() -> None:
            while time.perf_counter() < stop_at:
                try:
                    name = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                began = time.perf_counter()
                try:
                    async with session.get(url, headers={"Authorization": basic(name, secret)}) as reply:
                        await reply.read()
                        statuses[str(reply.status)] += 1
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    statuses[exc.__class__.__name__] += 1
                    continue
                latencies.append((time.perf_counter() - began) * 1000)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {
        "latencies_ms": latencies,
        "statuses": dict(statuses),
        "wall_s": time.perf_counter() - started,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.client")
    parser.add_argument("mode", choices=["cold"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--deadline", type=float, required=True)
    args = parser.parse_args(argv)
    credentials = json.load(sys.stdin)
    result = asyncio.run(cold(args.url, credentials["names"], credentials["secret"], args.concurrency, args.deadline))
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
