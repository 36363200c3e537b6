"""``GET /metrics``: every metric in Prometheus' text format.

The counts of every worker (``multiprocess``), then what is read at scrape time: seconds
until each signing certificate expires, and the age of each namespace's oldest live robot
secret. Unauthenticated: it is for regauth's own port only, and nginx.conf refuses it from
outside.
"""

import logging
import time
from collections.abc import Iterator

from aiohttp import web

from ..appkeys import OFFLOAD, STORE
from ..token.keys import SigningKey
from ..token.live_keyring import trusted_keys
from . import multiprocess
from .hooks import instruments

log = logging.getLogger(__name__)

PATH = "/metrics"
# The text format generate_latest writes, as every Prometheus 2.x reads it.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def add_route(app: web.Application) -> None:
    """Add ``GET /metrics`` to ``app``."""
    app.router.add_get(PATH, metrics)


def signing_keys(app: web.Application) -> list[SigningKey]:
    """Return every key the application trusts, the signing one first (each with its
    certificate's expiry): a staged key's certificate expiring matters as much."""
    return [entry.key for entry in trusted_keys(app)]


async def metrics(request: web.Request) -> web.Response:
    """Return the exposition of every metric; a store that cannot answer leaves out the
    secrets' ages only (and is logged)."""
    from prometheus_client import CollectorRegistry, generate_latest

    instruments()  # every series exists from the first scrape, at 0
    app = request.app
    store = app[STORE]
    try:
        oldest = await app[OFFLOAD].database(store.oldest_live_secrets)
    except Exception as exc:  # noqa: BLE001 - the other metrics are still worth answering
        log.warning("metrics: the ages of live secrets could not be read: %s", exc.__class__.__name__)
        oldest = None
    scraped = CollectorRegistry(auto_describe=False)
    scraped.register(ScrapeTimeCollector(signing_keys(app), oldest, store.clock()))
    body = generate_latest(_counted()) + generate_latest(scraped)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def _counted():
    """Return the registry to expose what this server's processes counted: every worker's
    files added up under ``regauth serve``, else this process's own."""
    from prometheus_client import REGISTRY, CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    shared = multiprocess.directory()
    if shared is None:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=shared)
    return registry


class ScrapeTimeCollector:
    """The gauges computed when scraped, from values read just before."""

    def __init__(self, keys: list[SigningKey], oldest: dict[str, float] | None, now: float):
        self._keys = keys
        self._oldest = oldest
        self._now = now

    def collect(self) -> Iterator:
        from prometheus_client.core import GaugeMetricFamily

        expiry = GaugeMetricFamily(
            "regauth_signing_certificate_expiry_seconds",
            "Seconds until each trusted signing key's certificate expires (negative once expired).", labels=["kid"],
        )
        wall_clock = time.time()
        for key in self._keys:
            expiry.add_metric([key.kid], key.certificate_expires.timestamp() - wall_clock)
        yield expiry
        if self._oldest is None:
            return
        ages = GaugeMetricFamily(
            "regauth_oldest_live_secret_age_seconds",
            "Age of the oldest robot secret that still works (current or in grace), per namespace.",
            labels=["namespace"],
        )
        for namespace, created in sorted(self._oldest.items()):
            ages.add_metric([namespace], max(0.0, self._now - created))
        yield ages
