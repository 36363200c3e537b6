"""Checking robot credentials without paying bcrypt on every token request.

A verified credential is remembered under an HMAC of (name, secret), never the secret, and
every hit is confirmed with one indexed query, so a secret taken away is refused at once.
Failures are never remembered. docs/architecture.md, "The verified-credential cache", says why.
"""

import asyncio
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from tokenstore import AccessReads, InvalidCredentials, Principal, hashing
from tokenstore.interface import TokenStore

from .. import metrics
from ..offload import Offload

DEFAULT_MAX_ENTRIES = 20_000  # about 9 MiB when full (~470 bytes an entry)
# Bounds how long a verification is reused; the per-hit confirmation makes revocation
# immediate regardless, this only bounds memory held for idle robots.
DEFAULT_TTL = 3600.0

T = TypeVar("T")
# What a confirmation answers when the remembered verification no longer holds.
_STALE = object()


class CredentialChecker:
    """Authenticates robots through a bounded cache of verified credentials."""

    def __init__(
        self, store: TokenStore, offload: Offload, *, max_entries: int = DEFAULT_MAX_ENTRIES, ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._store = store
        self._offload = offload
        # Keyed once: a copy of the keyed state is a third of what hmac.digest costs per call
        # (OpenSSL 3 looks the algorithm up again on every one-shot MAC).
        self._keyed_mac = hmac.new(secrets.token_bytes(32), digestmod="sha256")
        self._max_entries = max_entries
        self._ttl = ttl
        self._clock = clock
        self._verified: OrderedDict[bytes, tuple[Principal, float]] = OrderedDict()
        self._in_flight: dict[bytes, asyncio.Task] = {}

    def __len__(self) -> int:
        return len(self._verified)

    async def authenticate(self, username: str, secret: str) -> Principal:
        """Return the robot's Principal; raises tokenstore.InvalidCredentials like Store.authenticate."""
        principal, _ = await self.authenticate_then(username, secret, None)
        return principal

    async def authenticate_then(
        self, username: str, secret: str, then: Callable[[Principal], T] | None, *,
        before_cold: Callable[[int], Awaitable[None]] | None = None,
    ) -> tuple[Principal, T | None]:
        """Authenticate like ``authenticate``, then confirm the principal once more and run
        ``then(principal)`` in one job on the writer thread (``Offload.write``, one
        transaction); returns the Principal and what ``then`` returned (None without
        ``then``, and then no writer job).

        A warm token request makes one trip to the writer; a cold one a bcrypt check, then
        that trip. Before a new bcrypt check starts, ``before_cold`` is awaited with the number
        of checks already pending (queued or running); what it raises refuses the request
        without the check. Raises tokenstore.InvalidCredentials (also when the credential was
        taken away while its bcrypt check ran), or what ``then`` or ``before_cold`` raised.
        """
        digest = self._digest(username, secret)
        entry = self._verified.get(digest)
        if entry is not None:
            principal, verified_at = entry
            if self._clock() - verified_at <= self._ttl:
                outcome = await self._confirmed(principal, then)
                if outcome is not _STALE:
                    if digest in self._verified:
                        self._verified.move_to_end(digest)
                    metrics.credential_cache_hit()
                    return principal, outcome
            if self._verified.get(digest) is entry:
                del self._verified[digest]
        metrics.credential_cache_miss()
        check = self._in_flight.get(digest)
        if check is None and before_cold is not None:
            await before_cold(len(self._in_flight))
            check = self._in_flight.get(digest)  # the same check may have begun meanwhile
        if check is None:
            # A task of its own: a caller that goes away does not cancel the check for the others.
            check = asyncio.ensure_future(self._check(digest, username, secret))
            check.add_done_callback(_retrieve)
            self._in_flight[digest] = check
        principal = await asyncio.shield(check)
        # The bcrypt thread wrote nothing: the use (and a missing selector) is recorded here.
        outcome = await self._confirmed(principal, then, hashing.selector(secret))
        if outcome is _STALE:
            # Taken away between the check and now: forget it too.
            self._verified.pop(digest, None)
            raise InvalidCredentials()
        return principal, outcome

    def _digest(self, username: str, secret: str) -> bytes:
        """Return the cache key of a credential: HMAC-SHA256 of (username, secret)."""
        mac = self._keyed_mac.copy()
        mac.update(f"{username}\0{secret}".encode("utf-8", "surrogateescape"))
        return mac.digest()

    def _confirmed(self, principal: Principal, then: Callable[[Principal], T] | None, selector: int | None = None):
        """Return the awaitable of ``_confirm_then``: on the writer with ``then``, else on a
        database thread."""
        if then is None:
            return self._offload.database(self._confirm_then, principal, None, selector)
        # Not isinstance(then, ReadsAhead): a runtime protocol check costs 2 % of a warm request.
        reads_of = getattr(then, "reads", None)
        reads = reads_of(principal) if reads_of is not None else AccessReads(principal)
        return self._offload.write_reading(reads, self._confirm_then, principal, then, selector)

    def _confirm_then(self, principal: Principal, then: Callable[[Principal], T] | None, selector: int | None):
        """``then(principal)`` if the verification still holds, else _STALE."""
        if not self._store.confirm(principal, selector=selector):
            return _STALE
        return then(principal) if then is not None else None

    async def _check(self, digest: bytes, username: str, secret: str) -> Principal:
        try:
            # Nothing written on the (low-priority) bcrypt thread; see Store.authenticate.
            principal = await metrics.bcrypt_check(
                self._offload.bcrypt(self._store.authenticate, username, secret, record_use=False),
            )
        finally:
            del self._in_flight[digest]
        self._verified[digest] = (principal, self._clock())
        self._verified.move_to_end(digest)
        while len(self._verified) > self._max_entries:
            self._verified.popitem(last=False)
        return principal


class ReadsAhead(Protocol):
    """A ``then`` that says what it will read (a token issuance: its roles)."""

    def reads(self, principal: Principal) -> AccessReads:
        """Return what confirming ``principal`` and running this will read."""
        ...


def _retrieve(task: asyncio.Task) -> None:
    # Mark a failure as seen even when every caller went away before it finished.
    if not task.cancelled():
        task.exception()
