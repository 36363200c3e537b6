"""Minting the registry's bearer tokens (distribution's registry/auth/token).

Claims are spelled as the registry spells them. ``aud`` is a string (registry 2.8 refuses an
array) and the time claims are integers (a float breaks Go's decoder).
"""

import datetime
import secrets
import time
from dataclasses import dataclass

import jwt

from .keys import SigningKey


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
    headers = {"kid": key.kid, "x5c": list(key.x5c)}
    token = jwt.encode(claims, key.private_key, algorithm=key.algorithm, headers=headers)
    return MintedToken(token, ttl, rfc3339(issued))


def rfc3339(timestamp: float) -> str:
    """Return ``timestamp`` as RFC 3339 in UTC with a ``Z`` suffix, to the second."""
    moment = datetime.datetime.fromtimestamp(int(timestamp), datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
