"""Verifying an external OIDC ID token (a CI job's), for keyless robots.

Keys come from the issuer's discovery document and key set, cached per issuer; only RS256
and ES256; ``iss``, ``exp``, ``iat`` and ``nbf`` checked with LEEWAY seconds of skew. Every
refusal is an ``ExternalTokenError`` whose message is safe to show the caller (never the
token, never how a fetch failed). Issuers are fetched only from where
``gateway.federation.issuer_policy`` allows. docs/architecture.md, "Verifying OIDC tokens",
says why.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
import jwt

from tokenstore.federation import Federation, is_loopback_host

from ..edge.text_input import has_bad_text
from .issuer_policy import IssuerRefused, check_issuer_url

log = logging.getLogger(__name__)

ALLOWED_ALGORITHMS = ("RS256", "ES256")
LEEWAY = 60
KEYS_TTL = 900.0
REFETCH_INTERVAL = 30.0
# After a failed fetch, answer from the failure for this long instead of asking again.
FAILURE_BACKOFF = 5.0
FETCH_TIMEOUT = aiohttp.ClientTimeout(total=10, connect=5)
MAX_DOCUMENT_BYTES = 256 * 1024
MAX_ISSUERS = 256
MIN_RSA_BITS = 2048
_SHOWN = 200


class ExternalTokenError(Exception):
    """Base of the refusals of an external token; the message is safe to show the caller."""


class TokenRejected(ExternalTokenError):
    """Raised when the external token is malformed, not signed by the issuer, outside its
    validity, or its claims do not match."""


class KeysUnavailable(ExternalTokenError):
    """Raised when the issuer's discovery document or key set cannot be fetched or used."""


def shown(value: object) -> str:
    """Return ``value`` as text short enough to echo in a message."""
    text = str(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


def unverified_claims(token: str) -> dict:
    """Return the payload of ``token`` without checking anything, to learn its issuer.

    Raises TokenRejected when it is not a JWT (three base64url parts, a JSON object payload).
    """
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise TokenRejected(
            "the password is not a JWT: send the CI job's OIDC ID token as the password"
        ) from None
    if not isinstance(claims.get("iss"), str) or not claims["iss"]:
        raise TokenRejected("the token has no iss (issuer) claim")
    if has_bad_text(claims["iss"]):
        raise TokenRejected("the token's iss (issuer) claim holds a NUL or a lone surrogate: it is not an issuer URL")
    return claims


@dataclass
class _IssuerKeys:
    keys: dict[str | None, list[dict]] = field(default_factory=dict)
    fetched_at: float | None = None
    failed_at: float | None = None
    failure: str = ""
    generation: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class KeyCache:
    """Each issuer's public keys, fetched through discovery and cached for a bounded time."""

    def __init__(
        self, session: aiohttp.ClientSession, *, clock: Callable[[], float] = time.time,
        ttl: float = KEYS_TTL, refetch_interval: float = REFETCH_INTERVAL, failure_backoff: float = FAILURE_BACKOFF,
        allow_private: bool = False,
    ):
        self._session = session
        self._allow_private = allow_private
        self._clock = clock
        self._ttl = ttl
        self._refetch_interval = refetch_interval
        self._failure_backoff = failure_backoff
        self._issuers: OrderedDict[str, _IssuerKeys] = OrderedDict()
        #: How many discovery + key set fetches were attempted (for tests and the log).
        self.fetches = 0

    async def key_for(self, issuer: str, kid: str | None, alg: str) -> jwt.PyJWK:
        """Return the issuer's key for ``kid`` usable with ``alg``.

        Raises KeysUnavailable when the keys cannot be fetched, TokenRejected when no
        published key matches.
        """
        entry = self._entry(issuer)
        now = self._clock()
        stale = entry.fetched_at is None or now - entry.fetched_at >= self._ttl
        candidates = None if stale else entry.keys.get(kid)
        if candidates is None:
            may_refetch = stale or now - entry.fetched_at >= self._refetch_interval
            if may_refetch:
                await self._refresh(issuer, entry, stale)
            if entry.fetched_at is None:
                raise KeysUnavailable(entry.failure or _could_not_fetch(issuer))
            candidates = entry.keys.get(kid)
        if not candidates:
            if kid is None:
                raise TokenRejected("the token has no kid header and the issuer publishes no single key for it")
            raise TokenRejected(f"the token's key id (kid {shown(kid)!r}) is not among the issuer's published keys")
        return _usable_key(candidates, alg)

    def _entry(self, issuer: str) -> _IssuerKeys:
        entry = self._issuers.get(issuer)
        if entry is None:
            entry = self._issuers[issuer] = _IssuerKeys()
            while len(self._issuers) > MAX_ISSUERS:
                self._issuers.popitem(last=False)
        self._issuers.move_to_end(issuer)
        return entry

    async def _refresh(self, issuer: str, entry: _IssuerKeys, stale: bool) -> None:
        """Fetch the issuer's keys once for everybody waiting; keep usable old keys on failure.

        Raises KeysUnavailable when the keys were stale and could not be fetched.
        """
        generation = entry.generation
        async with entry.lock:
            if entry.generation != generation:
                return  # a fetch finished while this request waited: use its result
            if entry.failed_at is not None and self._clock() - entry.failed_at < self._failure_backoff:
                if stale:
                    raise KeysUnavailable(entry.failure)
                return
            self.fetches += 1
            try:
                keys = await self._fetch_keys(issuer)
            except KeysUnavailable as exc:
                log.warning("fetching the keys of issuer %s failed: %s", shown(issuer), exc)
                entry.failed_at, entry.failure = self._clock(), _could_not_fetch(issuer)
                if stale:
                    entry.keys, entry.fetched_at = {}, None
                    raise KeysUnavailable(entry.failure) from None
            else:
                entry.keys, entry.fetched_at, entry.failed_at = keys, self._clock(), None
            finally:
                entry.generation += 1

    async def _fetch_keys(self, issuer: str) -> dict[str | None, list[dict]]:
        discovery_url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        document = await self._fetch_json(discovery_url, issuer)
        if document.get("issuer") != issuer:
            raise KeysUnavailable(
                f"the discovery document of {shown(issuer)} names another issuer (OIDC Discovery requires an exact match)"
            )
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not _fetchable(jwks_uri, issuer):
            raise KeysUnavailable(f"the discovery document of {shown(issuer)} has no usable https jwks_uri")
        key_set = await self._fetch_json(jwks_uri, issuer)
        keys = key_set.get("keys")
        if not isinstance(keys, list):
            raise KeysUnavailable(f"the key set of {shown(issuer)} has no keys list")
        by_kid: dict[str | None, list[dict]] = {}
        for jwk in keys:
            if not isinstance(jwk, dict) or jwk.get("kty") not in ("RSA", "EC") or jwk.get("use", "sig") != "sig":
                continue
            kid = jwk.get("kid")
            by_kid.setdefault(kid if isinstance(kid, str) else None, []).append(jwk)
        # A token without kid may use the only key there is.
        if None not in by_kid and len(keys) == 1 and by_kid:
            by_kid[None] = next(iter(by_kid.values()))
        return by_kid

    async def _fetch_json(self, url: str, issuer: str) -> dict:
        """GET ``url`` with a timeout, no redirects and a size cap; return its JSON object.

        Raises KeysUnavailable (its message for the log only) when the URL is not allowed,
        the fetch fails or the answer is not a JSON object.
        """
        try:
            await check_issuer_url(url, allow_private=self._allow_private)
        except IssuerRefused as exc:
            raise KeysUnavailable(f"{shown(url)} is not fetched: {exc}") from None
        try:
            async with self._session.get(
                url, timeout=FETCH_TIMEOUT, allow_redirects=False, headers={"Accept": "application/json"}
            ) as response:
                if response.status != 200:
                    raise KeysUnavailable(f"{shown(url)} answered HTTP {response.status}")
                if (response.content_length or 0) > MAX_DOCUMENT_BYTES:
                    raise KeysUnavailable(f"{shown(url)} answered more than {MAX_DOCUMENT_BYTES} bytes")
                body = bytearray()
                async for chunk in response.content.iter_chunked(16 * 1024):
                    body += chunk
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise KeysUnavailable(f"{shown(url)} answered more than {MAX_DOCUMENT_BYTES} bytes")
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise KeysUnavailable(f"could not fetch {shown(url)} ({exc.__class__.__name__})") from None
        try:
            document = json.loads(bytes(body))
        except (ValueError, UnicodeDecodeError):
            raise KeysUnavailable(f"{shown(url)} did not answer JSON") from None
        if not isinstance(document, dict):
            raise KeysUnavailable(f"{shown(url)} did not answer a JSON object")
        return document


def _could_not_fetch(issuer: str) -> str:
    """Return the one refusal a caller sees for any failed fetch of an issuer's keys."""
    return f"could not fetch the keys of issuer {shown(issuer)} (the server log has the reason)"


def _fetchable(url: str, issuer: str) -> bool:
    """A key set is fetched over https; over http only from a loopback host, for a loopback issuer."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    if parts.scheme == "https" and host:
        return True
    return parts.scheme == "http" and is_loopback_host(host) and is_loopback_host(urlsplit(issuer).hostname)


def _usable_key(candidates: list[dict], alg: str) -> jwt.PyJWK:
    """Return the first published key of the right type for ``alg``; raises TokenRejected."""
    for jwk in candidates:
        if jwk.get("alg") not in (None, alg):
            continue
        if alg == "RS256" and jwk.get("kty") != "RSA":
            continue
        if alg == "ES256" and (jwk.get("kty") != "EC" or jwk.get("crv") != "P-256"):
            continue
        try:
            key = jwt.PyJWK(jwk, algorithm=alg)
        except jwt.PyJWTError:
            continue
        if alg == "RS256" and key.key.key_size < MIN_RSA_BITS:
            continue
        return key
    raise TokenRejected(f"the issuer publishes no {alg} key with the token's key id")


class OIDCVerifier:
    """Checks external ID tokens against their issuer's published keys."""

    def __init__(self, keys: KeyCache, *, clock: Callable[[], float] = time.time, leeway: int = LEEWAY):
        self.keys = keys
        self._clock = clock
        self._leeway = leeway

    async def verify(self, token: str, issuer: str) -> dict:
        """Return the claims of ``token`` once its signature, ``iss`` and times check out.

        Raises TokenRejected or KeysUnavailable.
        """
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRejected("the password is not a JWT: send the CI job's OIDC ID token as the password") from None
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise TokenRejected(f"token algorithm {shown(alg)!r} is not accepted: only {' and '.join(ALLOWED_ALGORITHMS)}")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise TokenRejected("the token's kid header is not a string")
        key = await self.keys.key_for(issuer, kid, alg)
        try:
            claims = jwt.decode(
                token, key.key, algorithms=[alg], issuer=issuer,
                options={
                    "require": ["iss", "sub", "exp", "iat"],
                    # Times are checked below against the injectable clock.
                    "verify_exp": False, "verify_nbf": False, "verify_iat": False,
                    # The audience is matched per federation setting by match_federation.
                    "verify_aud": False,
                },
            )
        except jwt.InvalidSignatureError:
            raise TokenRejected("the token's signature does not verify with the issuer's key") from None
        except jwt.InvalidIssuerError:
            raise TokenRejected(f"the token's issuer is not {shown(issuer)}") from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenRejected(f"the token lacks the {exc.claim} claim") from None
        except jwt.PyJWTError as exc:
            raise TokenRejected(f"the token is invalid ({exc.__class__.__name__})") from None
        self._check_times(claims)
        if not isinstance(claims.get("sub"), str):
            raise TokenRejected("the token's sub claim is not a string")
        return claims

    def _check_times(self, claims: dict) -> None:
        now = self._clock()
        for name in ("exp", "iat", "nbf"):
            value = claims.get(name)
            if name == "nbf" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TokenRejected(f"the token's {name} claim is not a number")
        if now > claims["exp"] + self._leeway:
            raise TokenRejected("the token has expired: request a fresh one from the CI job")
        if claims["iat"] > now + self._leeway:
            raise TokenRejected("the token was issued in the future (iat): check the clocks")
        if "nbf" in claims and claims["nbf"] > now + self._leeway:
            raise TokenRejected("the token is not valid yet (nbf)")


def match_federation(claims: dict, federations: Sequence[Federation]) -> Federation:
    """Return the setting whose subject equals the token's ``sub`` and whose audience, when
    set, is among the token's ``aud``.

    Raises TokenRejected naming what did not match (the token's values, never the
    configured ones).
    """
    subject = claims.get("sub")
    by_subject = [f for f in federations if f.subject == subject]
    if not by_subject:
        raise TokenRejected(f"the token's subject {shown(subject)!r} is not allowed for this robot and issuer")
    audiences = claims.get("aud")
    if isinstance(audiences, str):
        audiences = [audiences]
    elif not isinstance(audiences, list):
        audiences = []
    for federation in by_subject:
        if federation.audience is None or federation.audience in audiences:
            return federation
    raise TokenRejected(f"the token's audience {shown(claims.get('aud'))!r} is not the one configured for this robot")
