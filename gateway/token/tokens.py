"""Minting the registry's bearer tokens (distribution's registry/auth/token).

Claims are spelled as the registry spells them; the per-key header is encoded once and the
output is byte for byte what ``jwt.encode`` writes. docs/architecture.md, "Minting tokens",
says why.
"""

import base64
import datetime
import functools
import json
import secrets
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from .keys import SigningKey

_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_PKCS1V15 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()
# What pyjwt writes: compact separators, keys in insertion order.
_compact_json = json.JSONEncoder(separators=(",", ":")).encode


@dataclass(frozen=True)
class Access:
    """One entry of the ``access`` claim: a resource and the actions granted on it."""

    type: str
    name: str
    actions: tuple[str, ...]

    def claim(self) -> dict:
        return {"type": self.type, "name": self.name, "actions": list(self.actions)}


@dataclass(frozen=True)
class MintedToken:
    token: str
    expires_in: int
    issued_at: str


class _Signer:
    """The per-key constant part of every token: the encoded header and the algorithm."""

    def __init__(self, key: SigningKey):
        self.key = key
        self._sign = _es256 if key.algorithm == "ES256" else _rs256
        # The same header pyjwt writes (keys sorted, compact separators), encoded once.
        header = {"alg": key.algorithm, "kid": key.kid, "typ": "JWT", "x5c": list(key.x5c)}
        self.header_segment = _b64url(json.dumps(header, separators=(",", ":"), sort_keys=True).encode())

    def sign(self, claims: dict) -> str:
        payload = _compact_json(claims).encode()
        signing_input = self.header_segment + b"." + _b64url(payload)
        signature = self._sign(self.key.private_key, signing_input)
        return (signing_input + b"." + _b64url(signature)).decode("ascii")


@functools.lru_cache(maxsize=4)
def _signer(key: SigningKey) -> _Signer:
    # A process signs with one key for its whole life; a few slots cover tests and rotation.
    return _Signer(key)


def mint(
    key: SigningKey, *, issuer: str, service: str, subject: str, access: list[Access], ttl: int,
    now: float | None = None,
) -> MintedToken:
    """Sign a token for ``subject`` granting ``access``, valid ``ttl`` seconds.

    Returns the MintedToken with ``issued_at`` in RFC 3339 UTC (``...Z``).
    """
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": issuer,
        "sub": subject,
        "aud": service,
        "exp": issued + ttl,
        "nbf": issued,
        "iat": issued,
        "jti": secrets.token_urlsafe(16),
        "access": [entry.claim() for entry in access],
    }
    return MintedToken(_signer(key).sign(claims), ttl, rfc3339(issued))


def rfc3339(timestamp: float) -> str:
    """Return ``timestamp`` as RFC 3339 in UTC with a ``Z`` suffix, to the second."""
    return _rfc3339_second(int(timestamp))


# Every token issued in the same second carries the same issued_at: format it once.
@functools.lru_cache(maxsize=2)
def _rfc3339_second(second: int) -> str:
    moment = datetime.datetime.fromtimestamp(second, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _es256(private_key, data: bytes) -> bytes:
    # JWS wants the raw r||s, each 32 bytes (RFC 7518 section 3.4), not the DER OpenSSL gives.
    r, s = decode_dss_signature(private_key.sign(data, _ECDSA_SHA256))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _rs256(private_key, data: bytes) -> bytes:
    return private_key.sign(data, _PKCS1V15, _SHA256)


def _b64url(data: bytes) -> bytes:
    """base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=")
