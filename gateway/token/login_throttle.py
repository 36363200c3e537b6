"""Limits on the bcrypt checks robot logins may cause: failures per address and per name,
checks pending at once, suspect checks one at a time.

Verified credentials the cache holds are never throttled. Per worker process: with N
workers, each limit is up to N times as high. docs/architecture.md, "The login throttle",
says why it is built so.
"""

import asyncio
import ipaddress
import math
import time
from collections import Counter
from dataclasses import dataclass

from limits import RateLimitItem
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from ..edge import request_id
from ..edge.errors import TokenError

# Retry-After of the 503 for a full queue: at bcrypt cost 12 (a quarter second a check) a
# worker with a core's worth of bcrypt clears a quarter of the 32 checks it may have pending
# in about two seconds; asking again then finds room.
QUEUE_FULL_RETRY_AFTER = 2
# A refused client waits this long for its answer: a guesser's connections then send a few
# requests a second each instead of as many as the server can refuse, which would take the
# CPU the other clients' secret checks need.
REFUSAL_DELAY = 0.5
# Only the start of a name is counted: it bounds what a key costs in memory, and a real
# robot name (at most 511 characters) is told apart well before that.
_MAX_KEY_TEXT = 256
# How much of a name a refusal echoes back.
_SHOWN_NAME = 80
_IPV6_PREFIX = 64


@dataclass(eq=False)
class Ticket:
    """A check admitted by ``LoginThrottle.admit_check``: the keys it is counted under, and
    whether it holds the turn of the suspect checks."""

    keys: tuple[tuple[str, str], ...]
    holds_turn: bool = False


class LoginThrottle:
    """Counts failed logins and refuses the secret checks of addresses and names over their
    limits (429), and checks beyond ``max_pending`` (503).

    A check still running counts as a failure until it ends. An address over its limit is
    refused only the names it may be guessing; suspect checks (an address or a name with
    failures, a name already being checked) take turns, one at a time.
    """

    def __init__(self, per_address: RateLimitItem, per_robot: RateLimitItem, max_pending: int):
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._per_address = per_address
        self._per_robot = per_robot
        self._max_pending = max_pending
        # Checks admitted and not yet done, per key; a key leaves when its count is 0.
        self._checking: Counter[tuple[str, str]] = Counter()
        self._suspect_turn = asyncio.Semaphore(1)
        self._waiting_turn = 0

    async def admit_check(self, address: str | None, username: str, pending: int) -> Ticket:
        """Allow a bcrypt check of ``username``'s secret for a client at ``address`` while
        ``pending`` checks are queued or running; returns its Ticket, for ``take_turn`` and
        then ``check_done`` (always, once it ends or fails).

        Raises a 429 TokenError (with Retry-After) when the address or the name is at its
        limit of failures (checks running included), a 503 TokenError (with Retry-After)
        when the checks pending and waiting for their turn have reached the bound; either
        after REFUSAL_DELAY seconds.
        """
        try:
            return self._admit_check(address, username, pending)
        except TokenError as exc:
            request_id.note(robot=username, outcome="throttled" if exc.status == 429 else "unavailable")
            await asyncio.sleep(REFUSAL_DELAY)
            raise

    def _admit_check(self, address: str | None, username: str, pending: int) -> Ticket:
        address_key = ("address", _address_key(address))
        robot_key = ("robot", username[:_MAX_KEY_TEXT])
        self._admit(self._per_robot, robot_key, f"for {_shown(robot_key[1])}",
                    "with its current secret; a regenerated secret replaces the old one")
        # Over its limit, an address is refused only the names it may be guessing (failed or
        # being checked): another robot's first login from there is checked, in its turn
        # with the other suspect checks, so a guesser sharing an address with a CI does not
        # lock the CI's other robots out.
        if self._checking[robot_key] or self._has_failures(self._per_robot, robot_key):
            self._admit(self._per_address, address_key, f"from {address or 'your address'}",
                        "with a robot's full name (namespace+shortname) and its current secret")
        if pending + self._waiting_turn >= self._max_pending:
            raise TokenError(
                503, "UNAVAILABLE", "too many logins waiting for their secret check",
                f"too many logins are waiting for their secret check: try again in {QUEUE_FULL_RETRY_AFTER} seconds",
                retry_after=QUEUE_FULL_RETRY_AFTER,
            )
        self._checking.update((address_key, robot_key))
        return Ticket((address_key, robot_key))

    async def take_turn(self, ticket: Ticket) -> None:
        """Return at once for a check nothing is suspect about; else once it is the suspect
        checks' turn (one at a time), which ``check_done`` hands on."""
        address_key, robot_key = ticket.keys
        suspect = (
            self._checking[robot_key] > 1
            or self._has_failures(self._per_address, address_key)
            or self._has_failures(self._per_robot, robot_key)
        )
        if not suspect:
            return
        self._waiting_turn += 1
        try:
            await self._suspect_turn.acquire()
        finally:
            self._waiting_turn -= 1
        ticket.holds_turn = True

    def check_done(self, ticket: Ticket) -> None:
        """Stop counting the check of ``ticket`` and hand on its turn; count its failure
        with ``failed`` first."""
        if ticket.holds_turn:
            ticket.holds_turn = False
            self._suspect_turn.release()
        self._checking.subtract(ticket.keys)
        for key in ticket.keys:
            if self._checking[key] <= 0:
                del self._checking[key]

    async def admit_address(self, address: str | None) -> None:
        """Allow a check that costs no bcrypt (a keyless credential) for a client at
        ``address``; returns None, raises a 429 TokenError (with Retry-After) after
        REFUSAL_DELAY seconds when the address is at its limit of failures."""
        try:
            self._admit_address(address)
        except TokenError:
            request_id.note(outcome="throttled")
            await asyncio.sleep(REFUSAL_DELAY)
            raise

    def _admit_address(self, address: str | None) -> None:
        self._admit(self._per_address, ("address", _address_key(address)), f"from {address or 'your address'}",
                    "with a robot's full name (namespace+shortname) and its current secret")

    def failed(self, address: str | None, username: str | None) -> None:
        """Count a refused credential from ``address``, and against ``username`` unless it
        is None (a refused keyless credential counts against its address only)."""
        self._limiter.hit(self._per_address, "address", _address_key(address))
        if username is not None:
            self._limiter.hit(self._per_robot, "robot", username[:_MAX_KEY_TEXT])

    def _has_failures(self, rate: RateLimitItem, key: tuple[str, str]) -> bool:
        return self._limiter.get_window_stats(rate, *key).remaining < rate.amount

    def _admit(self, rate: RateLimitItem, key: tuple[str, str], whose: str, how: str) -> None:
        """Raise a 429 TokenError when the failures counted under ``key`` and its checks
        still running reach ``rate``."""
        if self._limiter.test(rate, *key, cost=self._checking[key] + 1):
            return
        reset, remaining = self._limiter.get_window_stats(rate, *key)
        # At the limit with failures alone: until the oldest leaves the window. Else checks
        # still running fill it: they end within a second or so.
        wait = max(1, math.ceil(reset - time.time())) if remaining <= 0 else 1
        raise TokenError(
            429, "TOOMANYREQUESTS", "too many failed logins",
            f"too many failed logins {whose} ({_rate(rate)}): try again in {wait} seconds {how}",
            retry_after=wait,
        )


def _shown(name: str) -> str:
    return name if len(name) <= _SHOWN_NAME else name[:_SHOWN_NAME] + "..."


def _rate(rate: RateLimitItem) -> str:
    """Return ``rate`` in words: "10 in 1 minute"."""
    return f"{rate.amount} in {rate.multiples} {rate.GRANULARITY.name}{'s' if rate.multiples != 1 else ''}"


def _address_key(address: str | None) -> str:
    """Return what failures from ``address`` are counted under: the address, or for IPv6 its
    /64 (one machine commonly holds a whole /64)."""
    if address is None:
        return "unknown"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address[:_MAX_KEY_TEXT]
    if parsed.version == 4:
        return str(parsed)
    if parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(ipaddress.ip_network(f"{parsed}/{_IPV6_PREFIX}", strict=False))
