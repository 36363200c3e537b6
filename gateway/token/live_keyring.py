"""The keyring as a running worker holds it: loaded at startup, re-read when ``keyring.json``
changes (checked about once a second by a background task, never on a token request), so
``regauth keys activate`` makes every worker of every ``serve`` on the data dir sign with
the new key without a restart.

``signing_key(app)`` is the key that signs now; ``trusted_keys(app)`` every trusted key with
its state (for the JWKS, metrics and readiness).
"""

import asyncio
import logging

from aiohttp import web

from ..appkeys import CONFIG
from . import keyring
from .keyring import KeyEntry, Keyring
from .keys import KeyError_, SigningKey

log = logging.getLogger(__name__)

# How often a worker looks at keyring.json: an activation is taken within about this long.
CHECK_SECONDS = 1.0


class LiveKeyring:
    """The keyring of one worker; ``current`` is replaced whole, never left empty."""

    def __init__(self, config):
        self._config = config
        self._path = keyring.state_path(config.data_dir)
        self._seen = self._signature()
        self.current: Keyring = keyring.load(config)

    def _signature(self) -> tuple | None:
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            return None
        return (stat.st_ino, stat.st_size, stat.st_mtime_ns)

    def refresh(self) -> bool:
        """Re-read the keyring when ``keyring.json`` changed since the last read. Returns True
        when a new keyring was taken. A keyring that cannot be read is logged and the one
        held is kept (it is retried at the next check)."""
        seen = self._signature()
        if seen == self._seen:
            return False
        known = {entry.kid: entry.key for entry in self.current.entries}
        try:
            ring = keyring.load(self._config, known=known)
        except (KeyError_, OSError) as exc:
            log.error("keyring not reloaded, still signing with %s: %s", self.current.signing.kid, exc)
            return False
        self._seen = seen
        if ring.signing.kid != self.current.signing.kid:
            log.info("signing key changed from %s to %s", self.current.signing.kid, ring.signing.kid)
        self.current = ring
        return True


KEYRING = web.AppKey("keyring", LiveKeyring)


def signing_key(app: web.Application) -> SigningKey:
    """Return the key that signs tokens now in this worker."""
    return app[KEYRING].current.signing


def trusted_keys(app: web.Application) -> tuple[KeyEntry, ...]:
    """Return every trusted key with its state (``active``, ``next``, ``previous``), its
    SigningKey (``.key``: kid, algorithm, certificate_expires) and times, active first."""
    return app[KEYRING].current.entries


async def keyring_watch(app: web.Application):
    """cleanup_ctx: load the keyring (raising KeyError_ when it cannot be read), then check
    ``keyring.json`` every CHECK_SECONDS until cleanup."""
    app[KEYRING] = LiveKeyring(app[CONFIG])
    task = asyncio.create_task(_watch(app[KEYRING]))
    yield
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


async def _watch(live: LiveKeyring) -> None:
    while True:
        await asyncio.sleep(CHECK_SECONDS)
        try:
            live.refresh()
        except Exception:  # a failed check must never end the watch; the next one retries
            log.exception("keyring check failed")

