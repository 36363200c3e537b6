"""Checking robot credentials without paying bcrypt on every token request.

A CI fleet asks for a token on every push and pull, with the same secret each time. After one
successful bcrypt check the result is remembered under an HMAC of (username, secret) keyed
with a random per-process key, so the secret itself is never held. Every hit is still
confirmed with one indexed query (``Store.confirm``), so a regenerated, expired or deleted
secret is refused at once, in every process. Identical cold checks running at the same time
share one bcrypt run. Failures are never cached.
"""

import asyncio
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict

from tokenstore import Principal, Store

from .offload import Offload

DEFAULT_MAX_ENTRIES = 50_000
# Bounds how long a verification is reused; the per-hit confirmation makes revocation
# immediate regardless, this only bounds memory held for idle robots.
DEFAULT_TTL = 3600.0


class CredentialChecker:
    """Authenticates robots through a bounded cache of verified credentials."""

    def __init__(self, store: Store, offload: Offload, *, max_entries: int = DEFAULT_MAX_ENTRIES, ttl: float = DEFAULT_TTL):
        self._store = store
        self._offload = offload
        self._key = secrets.token_bytes(32)
        self._max_entries = max_entries
        self._ttl = ttl
        self._verified: OrderedDict[bytes, tuple[Principal, float]] = OrderedDict()
        self._in_flight: dict[bytes, asyncio.Future] = {}

    def __len__(self) -> int:
        return len(self._verified)

    async def authenticate(self, username: str, secret: str) -> Principal:
        """Return the robot's Principal; raises tokenstore.InvalidCredentials like Store.authenticate."""
        digest = hmac.new(self._key, f"{username}\0{secret}".encode("utf-8", "surrogateescape"), hashlib.sha256).digest()
        principal = await self._cached(digest)
        if principal is not None:
            return principal
        pending = self._in_flight.get(digest)
        if pending is not None:
            return await asyncio.shield(pending)
        future = asyncio.get_running_loop().create_future()
        self._in_flight[digest] = future
        try:
            principal = await self._offload.bcrypt(self._store.authenticate, username, secret)
        except BaseException as exc:
            future.set_exception(exc)
            # Mark the exception retrieved when nobody else waited for it.
            future.exception()
            raise
        else:
            future.set_result(principal)
            self._remember(digest, principal)
            return principal
        finally:
            del self._in_flight[digest]

    async def _cached(self, digest: bytes) -> Principal | None:
        entry = self._verified.get(digest)
        if entry is None:
            return None
        principal, stored_at = entry
        if time.monotonic() - stored_at > self._ttl or not await self._offload.database(self._store.confirm, principal):
            self._verified.pop(digest, None)
            return None
        self._verified.move_to_end(digest)
        return principal

    def _remember(self, digest: bytes, principal: Principal) -> None:
        self._verified[digest] = (principal, time.monotonic())
        self._verified.move_to_end(digest)
        while len(self._verified) > self._max_entries:
            self._verified.popitem(last=False)
