"""The start-up warning when X-Forwarded-For arrives from a peer that is not a trusted proxy.

The server listens on 127.0.0.1; the client connects from this machine's own non-loopback
address (a real socket bound to it), which is how an untrusted proxy looks to regauth.
"""

import logging
import socket

import aiohttp
import pytest

from gateway.app import create_app
from tests.conftest import make_config

FORGED = "203.0.113.77"


def non_loopback_address() -> str | None:
    """Return an address of this machine that is not loopback (None when it has none)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # UDP: picks the source address, sends nothing
        address = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") else address


LOCAL = non_loopback_address()
needs_address = pytest.mark.skipif(LOCAL is None, reason="this machine has no non-loopback IPv4 address to connect from")


async def send(server, source: str, times: int, *, forwarded: bool = True) -> None:
    headers = {"X-Forwarded-For": FORGED} if forwarded else {}
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(times):
            async with session.get(server.make_url("/healthz"), headers=headers) as resp:
                assert resp.status == 200


def warnings_of(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "gateway.edge.forwarded" and r.levelno == logging.WARNING]


async def start(aiohttp_server, config, store):
    return await aiohttp_server(create_app(config, store=store), host="127.0.0.1")


@needs_address
async def test_one_warning_for_forwarded_requests_from_an_untrusted_peer(aiohttp_server, config, store, caplog):
    server = await start(aiohttp_server, config, store)
    caplog.set_level(logging.WARNING, logger="gateway.edge.forwarded")
    await send(server, LOCAL, 3, forwarded=False)
    assert warnings_of(caplog) == []
    await send(server, LOCAL, 4)
    (warning,) = warnings_of(caplog)
    message = warning.getMessage()
    assert "REGAUTH_TRUSTED_PROXIES" in message and LOCAL in message
    assert FORGED not in message


async def test_no_warning_from_loopback(aiohttp_server, config, store, caplog):
    server = await start(aiohttp_server, make_config(config.data_dir, trusted_proxies="192.0.2.250/32"), store)
    caplog.set_level(logging.WARNING, logger="gateway.edge.forwarded")
    await send(server, "127.0.0.1", 3)
    assert warnings_of(caplog) == []


@needs_address
async def test_no_warning_from_a_trusted_proxy(aiohttp_server, config, store, caplog):
    server = await start(aiohttp_server, make_config(config.data_dir, trusted_proxies=f"{LOCAL}/32"), store)
    caplog.set_level(logging.WARNING, logger="gateway.edge.forwarded")
    await send(server, LOCAL, 3)
    assert warnings_of(caplog) == []
