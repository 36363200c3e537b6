"""The benchmark's own load client, run as a separate process (``python -m bench.client``).

``wrk`` serves every measurement where the same request can be sent again and again. A cold
check needs a credential the server has never verified, so every request of a cold run uses
a different robot; this client sends them, at most ``--concurrency`` at a time, each robot
once, and stops starting new ones at ``--deadline`` seconds. Given ``--url`` more than once,
its connections go to each in turn (servers standing for several hosts).

``flood`` is a guesser: random wrong secrets, ``--concurrency`` at a time for ``--deadline``
seconds, for one robot from one address (``--addresses 1``), or for random names of a
namespace from that many addresses in turn. The address goes in X-Forwarded-For, which the
benchmark's server believes of 127.0.0.1 (its default trusted proxy).

Credentials come on stdin as JSON ``{"names": [...], "secret": "..."}`` (never on the command
line, where ``ps`` would show them). The result goes to stdout as one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import secrets
import sys
import time
from collections import Counter

import aiohttp

REQUEST_TIMEOUT = 120.0


def basic(name: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{secret}".encode()).decode()


async def cold(urls: list[str], names: list[str], secret: str, concurrency: int, deadline: float) -> dict:
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

        async def worker(url: str) -> None:
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

        await asyncio.gather(*(worker(urls[i % len(urls)]) for i in range(concurrency)))
    return {
        "latencies_ms": latencies,
        "statuses": dict(statuses),
        "wall_s": time.perf_counter() - started,
    }


# The one guessing address, and the network the many come from (documentation addresses).
FLOOD_ADDRESS = "203.0.113.66"


def flood_addresses(count: int) -> list[str]:
    """Return ``count`` distinct client addresses: the one guesser, or 10.x.y.z ones."""
    if count == 1:
        return [FLOOD_ADDRESS]
    return [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in range(1, count + 1)]


async def flood(url: str, name: str, concurrency: int, seconds: float, addresses: int) -> dict:
    """Send wrong secrets until ``seconds`` have passed: for ``name`` from one address, or for
    random names of ``name``'s namespace from ``addresses`` addresses in turn."""
    statuses: Counter = Counter()
    latencies: list[float] = []
    pool = flood_addresses(addresses)
    namespace = name.partition("+")[0]
    sent = 0
    started = time.perf_counter()
    stop_at = started + seconds
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=False) as session:

        async def worker() -> None:
            nonlocal sent
            while time.perf_counter() < stop_at:
                sent += 1
                guessed = name if addresses == 1 else f"{namespace}+guess{secrets.randbelow(10**9)}"
                headers = {"Authorization": basic(guessed, secrets.token_hex(32).upper()),
                           "X-Forwarded-For": pool[sent % len(pool)]}
                began = time.perf_counter()
                try:
                    async with session.get(url, headers=headers) as reply:
                        await reply.read()
                        statuses[str(reply.status)] += 1
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    statuses[exc.__class__.__name__] += 1
                    continue
                latencies.append((time.perf_counter() - began) * 1000)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {"latencies_ms": latencies, "statuses": dict(statuses), "wall_s": time.perf_counter() - started}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.client")
    parser.add_argument("mode", choices=["cold", "flood"])
    parser.add_argument("--url", required=True, action="append", help="more than once: spread over them")
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--deadline", type=float, required=True)
    parser.add_argument("--addresses", type=int, default=1, help="flood: how many client addresses")
    args = parser.parse_args(argv)
    credentials = json.load(sys.stdin)
    names, secret = credentials["names"], credentials["secret"]
    if args.mode == "flood":
        result = asyncio.run(flood(args.url[0], names[0], args.concurrency, args.deadline, args.addresses))
    else:
        result = asyncio.run(cold(args.url, names, secret, args.concurrency, args.deadline))
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
